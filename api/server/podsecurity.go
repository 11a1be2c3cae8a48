package server

import (
	"context"
	"fmt"
	"net/http"

	"orch.io/orch/api/server/podsecurity"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
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
type podSecurityStore struct{ backend Backend }

// Namespace implements podsecurity.Store.
func (p podSecurityStore) Namespace(ctx context.Context, name string) (*v1.Namespace, error) {
	rec, err := p.backend.Store().Get("namespaces", "", name)
	if v1.IsNotFound(err) {
		if _, err := p.backend.ReadBarrier(ctx); err != nil {
			return nil, err
		}
		rec, err = p.backend.Store().Get("namespaces", "", name)
	}
	if err != nil {
		return nil, err
	}
	ns, ok := rec.Object().(*v1.Namespace)
	if !ok {
		return nil, fmt.Errorf("namespace %s: stored as %T", name, rec.Object())
	}
	return ns, nil
}

// Pods implements podsecurity.Store.
func (p podSecurityStore) Pods(ctx context.Context, namespace string) ([]*v1.Pod, error) {
	res, err := p.backend.Store().List("pods", fsm.ListOptions{Namespace: namespace})
	if err != nil {
		return nil, err
	}
	pods := make([]*v1.Pod, 0, len(res.Items))
	for _, rec := range res.Items {
		if pod, ok := rec.Object().(*v1.Pod); ok {
			pods = append(pods, pod)
		}
	}
	return pods, nil
}
