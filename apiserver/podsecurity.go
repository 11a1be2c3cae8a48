package apiserver

import (
	"context"
	"net/http"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/apiserver/podsecurity"
)

// admitPodSecurity runs Pod Security admission (package podsecurity) on a
// create or update that has been defaulted and validated, as Kubernetes
// runs it among its validating admission plugins: a refusal is returned,
// warnings go to the response's Warning headers. old is nil for a create.
func (s *Server) admitPodSecurity(ctx context.Context, req *request, obj, old v1.Object) error {
	op := podsecurity.Create
	if old != nil {
		op = podsecurity.Update
	}
	m := obj.GetObjectMeta()
	admit := func() ([]string, error) {
		return s.podSecurity.Admit(ctx, podsecurity.Request{
			Operation: op, Resource: req.resource.Name, Subresource: req.sub,
			Namespace: m.Namespace, Name: m.Name, Object: obj, OldObject: old,
		})
	}
	warnings, err := admit()
	if v1.CodeOf(err) == http.StatusForbidden {
		// The namespace read here has no read barrier, and its labels may
		// have been relaxed a moment ago through another master: a refusal
		// is decided again on the labels as committed, so a client that
		// labels a namespace and then creates a pod is never refused by
		// the old labels. Admitted writes, the common case, pay nothing.
		if _, berr := s.backend.ReadBarrier(ctx); berr != nil {
			return berr
		}
		warnings, err = admit()
	}
	if err != nil {
		return err
	}
	addWarnings(ctx, warnings...)
	return nil
}

// podSecurityStore is the admission's view of this master's store. Like
// the LimitRange admission (and Kubernetes' admission, which reads informer
// caches) it reads without a read barrier, except that a namespace missing
// here is looked for again after one: it may have just been created
// through another master.
type podSecurityStore struct {
	podsecurity.Store // the local store, read as it is
	backend           Backend
}

func newPodSecurityStore(b Backend) podSecurityStore {
	return podSecurityStore{Store: podsecurity.StoreOf(b.Store), backend: b}
}

// Namespace implements podsecurity.Store.
func (p podSecurityStore) Namespace(ctx context.Context, name string) (*v1.Namespace, error) {
	ns, err := p.Store.Namespace(ctx, name)
	if err == nil || !v1.IsNotFound(err) {
		return ns, err
	}
	if _, err := p.backend.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	return p.Store.Namespace(ctx, name)
}
