package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/apiserver/serviceaccount"
	nodeauth "orch.io/orch/auth/node"
)

// subToken is the TokenRequest subresource of service accounts.
const subToken = "token"

// ServiceAccountConfig enables service accounts: the ServiceAccount
// admission of pods and the TokenRequest subresource. The token
// authenticator goes into Config.Authenticators.
type ServiceAccountConfig struct {
	// Signer signs tokens; every master must sign with the same key.
	Signer *serviceaccount.Signer
	// Audiences are the API's: the audiences of a request that names none.
	Audiences []string
	// MaxExpiration caps the lifetime of tokens (Kubernetes'
	// --service-account-max-token-expiration); 0 is no cap.
	MaxExpiration time.Duration
}

// serveToken answers POST .../serviceaccounts/{name}/token with a signed
// token, as Kubernetes' TokenREST: nothing is stored, and the token is
// signed here, never in the FSM.
func (s *Server) serveToken(w http.ResponseWriter, r *http.Request, req *request) {
	sac := s.cfg.ServiceAccounts
	if sac == nil {
		writeError(w, v1.NewNotFound("serviceaccounts/token", req.name))
		return
	}
	if req.verb != "create" {
		writeError(w, v1.NewMethodNotAllowed("token supports POST only"))
		return
	}
	body, err := s.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var tr v1.TokenRequest
	if err := decodeStrict(body, &tr); err != nil {
		writeError(w, err)
		return
	}
	if (tr.Kind != "" && tr.Kind != "TokenRequest") || (tr.APIVersion != "" && tr.APIVersion != v1.AuthenticationAPIVersion) {
		writeError(w, v1.NewBadRequest(fmt.Sprintf("the body must be a TokenRequest of %s, not %s %s", v1.AuthenticationAPIVersion, tr.APIVersion, tr.Kind)))
		return
	}
	if tr.Name != "" && tr.Name != req.name {
		writeError(w, v1.NewBadRequest(fmt.Sprintf("the name of the object (%s) does not match the name in the path (%s)", tr.Name, req.name)))
		return
	}
	if tr.Namespace != "" && tr.Namespace != req.namespace {
		writeError(w, v1.NewBadRequest(fmt.Sprintf("the namespace of the object (%s) does not match the namespace in the path (%s)", tr.Namespace, req.namespace)))
		return
	}
	if len(tr.Spec.Audiences) == 0 {
		tr.Spec.Audiences = append([]string(nil), sac.Audiences...)
	}
	if tr.Spec.ExpirationSeconds == nil {
		e := v1.DefaultTokenExpirationSeconds
		tr.Spec.ExpirationSeconds = &e
	}
	tr.Name = req.name
	if err := v1.ValidateTokenRequest(&tr); err != nil {
		writeError(w, err)
		return
	}
	b, err := s.tokenBinding(r, req, &tr)
	if err != nil {
		writeError(w, err)
		return
	}
	if err := nodeTokenRequest(UserFrom(r.Context()), req, b); err != nil {
		writeError(w, err)
		return
	}
	lifetime := time.Duration(*tr.Spec.ExpirationSeconds) * time.Second
	if sac.MaxExpiration > 0 && lifetime > sac.MaxExpiration {
		lifetime = sac.MaxExpiration
		e := int64(lifetime / time.Second)
		tr.Spec.ExpirationSeconds = &e
	}
	now := time.Now()
	tok := ""
	if !isDryRun(r.Context()) { // a dry run issues no credential
		if tok, err = sac.Signer.Issue(b, tr.Spec.Audiences, now, lifetime); err != nil {
			writeError(w, v1.NewInternalError(err))
			return
		}
	}
	tr.TypeMeta = v1.TypeMeta{Kind: "TokenRequest", APIVersion: v1.AuthenticationAPIVersion}
	tr.Namespace = req.namespace
	tr.CreationTimestamp = v1.NewTime(now)
	tr.Status = v1.TokenRequestStatus{Token: tok, ExpirationTimestamp: v1.NewTime(now.Add(lifetime))}
	writeJSON(w, http.StatusCreated, &tr)
}

// tokenBinding reads (linearizably) the account and the object the token
// is bound to, with Kubernetes' refusals.
func (s *Server) tokenBinding(r *http.Request, req *request, tr *v1.TokenRequest) (serviceaccount.Binding, error) {
	store, err := s.read(r)
	if err != nil {
		return serviceaccount.Binding{}, err
	}
	rec, err := store.Get("serviceaccounts", req.namespace, req.name)
	if err != nil {
		return serviceaccount.Binding{}, err
	}
	b := serviceaccount.Binding{ServiceAccount: rec.Object().(*v1.ServiceAccount)}
	ref := tr.Spec.BoundObjectRef
	if ref == nil {
		return b, nil
	}
	prec, err := store.Get("pods", req.namespace, ref.Name)
	if err != nil {
		return b, err
	}
	pod := prec.Object().(*v1.Pod)
	if ref.UID != "" && ref.UID != pod.UID {
		return b, v1.NewConflict("Pod", ref.Name, fmt.Sprintf("the UID in the bound object reference (%s) does not match the UID in record. The object might have been deleted and then recreated", ref.UID))
	}
	if pod.Spec.ServiceAccountName != req.name {
		return b, v1.NewBadRequest(fmt.Sprintf("cannot bind token for serviceaccount %q to pod running with different serviceaccount name.", req.name))
	}
	b.Pod = pod
	if pod.Spec.NodeName != "" {
		if nrec, err := store.Get("nodes", "", pod.Spec.NodeName); err == nil {
			b.Node = nrec.Object().(*v1.Node)
		}
	}
	return b, nil
}

// nodeTokenRequest limits a node as Kubernetes' NodeRestriction does: it
// may request only tokens bound to a pod, and only to a pod bound to
// itself.
func nodeTokenRequest(u user.Info, req *request, b serviceaccount.Binding) error {
	self, isNode := nodeauth.NodeIdentity(u)
	if !isNode {
		return nil
	}
	switch {
	case b.Pod == nil:
		return v1.NewForbidden(fmt.Sprintf("serviceaccounts %q is forbidden: node requested token not bound to a pod", req.name))
	case b.Pod.Spec.NodeName != self:
		return v1.NewForbidden(fmt.Sprintf("serviceaccounts %q is forbidden: node requested token bound to a pod scheduled on a different node", req.name))
	}
	return nil
}

// admitServiceAccount is Kubernetes' ServiceAccount admission of a new
// pod: its serviceAccountName defaults to "default", the account must
// exist (403 in Kubernetes' wording otherwise), and unless automounting
// is off every container mounts the token volume. Without
// ServiceAccountConfig a pod that names an account is refused.
func (s *Server) admitServiceAccount(ctx context.Context, obj v1.Object) error {
	p, ok := obj.(*v1.Pod)
	if !ok {
		return nil
	}
	if s.cfg.ServiceAccounts == nil {
		if p.Spec.ServiceAccountName != "" || p.Spec.DeprecatedServiceAccount != "" {
			return v1.NewInvalid("Pod", p.Name, []v1.StatusCause{{Type: "FieldValueForbidden", Field: "spec.serviceAccountName",
				Message: "spec.serviceAccountName: Forbidden: service accounts are not enabled on this server"}})
		}
		return nil
	}
	name := v1.PodServiceAccountName(&p.Spec)
	sa, err := s.lookupServiceAccount(ctx, p.Namespace, name)
	var se *v1.StatusError
	if errors.As(err, &se) {
		return err // the namespace's lifecycle, or no quorum
	}
	if err != nil {
		return v1.ServiceAccountLookupError(p, err)
	}
	v1.AdmitServiceAccount(p, sa, v1.GenerateName(v1.ServiceAccountVolumeName+"-"))
	return nil
}

// defaultAccountWait is how long a pod waits for the "default" account of
// a namespace created a moment ago, which the leader's controller makes.
const defaultAccountWait = 5 * time.Second

// lookupServiceAccount reads an account from this master's store; a
// missing one is read again after a read barrier (it may have just been
// created through another master), and a missing "default" is waited for
// a little (its controller creates it right after the namespace).
func (s *Server) lookupServiceAccount(ctx context.Context, namespace, name string) (*v1.ServiceAccount, error) {
	get := func() (*v1.ServiceAccount, error) {
		rec, err := s.backend.Store().Get("serviceaccounts", namespace, name)
		if err != nil {
			return nil, err
		}
		return rec.Object().(*v1.ServiceAccount), nil
	}
	sa, err := get()
	if !v1.IsNotFound(err) {
		return sa, err
	}
	if _, err := s.backend.ReadBarrier(ctx); err != nil {
		return nil, err
	}
	sa, err = get()
	if v1.IsNotFound(err) {
		// As Kubernetes' NamespaceLifecycle admission, which runs first:
		// no account is looked for in a namespace that is missing or going.
		if err := s.namespaceLifecycle(namespace); err != nil {
			return nil, err
		}
	}
	if name != v1.DefaultServiceAccountName || !v1.IsNotFound(err) {
		if v1.IsNotFound(err) {
			return nil, v1.ServiceAccountNotFound(name)
		}
		return sa, err
	}
	wait, cancel := context.WithTimeout(ctx, defaultAccountWait)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-wait.Done():
			return nil, v1.ServiceAccountNotFound(name)
		case <-tick.C:
		}
		if sa, err = get(); !v1.IsNotFound(err) {
			return sa, err
		}
	}
}

// namespaceLifecycle refuses, in the FSM's words, content for a namespace
// that does not exist or is being terminated.
func (s *Server) namespaceLifecycle(namespace string) error {
	rec, err := s.backend.Store().Get("namespaces", "", namespace)
	if err != nil {
		return err
	}
	if rec.Object().(*v1.Namespace).Status.Phase == v1.NamespaceTerminating {
		return v1.NewForbidden(fmt.Sprintf("unable to create new content in namespace %s because it is being terminated", namespace))
	}
	return nil
}
