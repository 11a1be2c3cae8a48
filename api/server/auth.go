package server

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	v1 "orch.io/orch/api/v1"
)

// Identities of the built-in credentials.
const (
	// AdminUser is the user of the admin token; it is in
	// user.SystemPrivilegedGroup (system:masters), as kubeadm's admin.
	AdminUser = "admin"
	// LegacyNodeUser is the user of the shared node token, and
	// LegacyNodesGroup its group. The shared token is being replaced by one
	// client certificate per node (system:node:<name> in system:nodes).
	LegacyNodeUser   = "orch:node-token"
	LegacyNodesGroup = "orch:node-token"
	// MastersGroup is the organization of master certificates; a master
	// calling another master's API may do everything.
	MastersGroup = "orch:masters"
)

type userKey struct{}

// withUser returns ctx carrying the authenticated user.
func withUser(ctx context.Context, u user.Info) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the authenticated user of a request's context, or nil.
func UserFrom(ctx context.Context) user.Info {
	u, _ := ctx.Value(userKey{}).(user.Info)
	return u
}

// tokenAuthenticator maps the static bearer tokens (admin, shared node
// token) to their users, comparing in constant time.
type tokenAuthenticator struct {
	admin, node string
}

func (t tokenAuthenticator) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return nil, false, nil
	}
	if t.admin != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(t.admin)) == 1 {
		return &authenticator.Response{User: &user.DefaultInfo{Name: AdminUser, Groups: []string{user.SystemPrivilegedGroup}}}, true, nil
	}
	if t.node != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(t.node)) == 1 {
		return &authenticator.Response{User: &user.DefaultInfo{Name: LegacyNodeUser, Groups: []string{LegacyNodesGroup}}}, true, nil
	}
	return nil, false, nil
}

// newAuthenticator chains the request authenticators: client
// certificates verified against clientCAs (CN the user, O the groups, as
// Kubernetes), the static tokens, then extra ones (bootstrap tokens,
// service account tokens). The first that recognises the credential
// decides; every authenticated user is also in system:authenticated.
func newAuthenticator(clientCAs *x509.CertPool, tokens tokenAuthenticator, extra []authenticator.Request) authenticator.Request {
	var chain []authenticator.Request
	if clientCAs != nil {
		opts := x509request.DefaultVerifyOptions()
		opts.Roots = clientCAs
		chain = append(chain, x509request.New(opts, x509request.CommonNameUserConversion))
	}
	chain = append(chain, tokens)
	chain = append(chain, extra...)
	return authenticatorChain(chain)
}

type authenticatorChain []authenticator.Request

func (c authenticatorChain) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	var errs []error
	for _, a := range c {
		resp, ok, err := a.AuthenticateRequest(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			return withAuthenticatedGroup(resp), true, nil
		}
	}
	return nil, false, errors.Join(errs...)
}

// withAuthenticatedGroup adds system:authenticated, as Kubernetes'
// authenticated group adder.
func withAuthenticatedGroup(resp *authenticator.Response) *authenticator.Response {
	for _, g := range resp.User.GetGroups() {
		if g == user.AllAuthenticated {
			return resp
		}
	}
	u := resp.User
	resp.User = &user.DefaultInfo{Name: u.GetName(), UID: u.GetUID(),
		Groups: append(append([]string(nil), u.GetGroups()...), user.AllAuthenticated), Extra: u.GetExtra()}
	return resp
}

func (s *Server) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		resp, ok, err := s.authn.AuthenticateRequest(r)
		if !ok {
			msg := "Unauthorized: a valid bearer token or client certificate is required"
			if r.Header.Get("Authorization") != "" || err != nil {
				msg = "Unauthorized: the credential is not valid"
			}
			if err != nil {
				s.log.Debug("authentication failed", "remote", r.RemoteAddr, "err", err)
			}
			refuseUnread(w, v1.NewUnauthorized(msg))
			return
		}
		s.admit(w, r.WithContext(withUser(r.Context(), resp.User)), resp.User, next)
	})
}

// refuseUnread answers err without reading the request's body and closes
// the connection. net/http would otherwise drain the body (up to 256 KiB,
// for as long as the ReadTimeout allows) before it sends the answer, and
// again before it closes the connection: a client that sent only headers
// would wait, and hold the connection, for the whole ReadTimeout.
func refuseUnread(w http.ResponseWriter, err error) {
	w.Header().Set("Connection", "close") // no draining before the answer
	writeError(w, err)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	// No draining after it either: the next read fails at once. An error
	// means the writer takes no deadlines (a test recorder).
	_ = rc.SetReadDeadline(time.Now())
}

// resourceAttributes are the authorization attributes of a resource
// request, as Kubernetes' RequestInfo gives them.
func resourceAttributes(u user.Info, req *request) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{
		User: u, Verb: req.verb, Namespace: req.namespace,
		APIGroup: req.resource.Group, APIVersion: req.resource.GroupVersion(),
		Resource: req.resource.Name, Subresource: req.sub, Name: req.name,
		ResourceRequest: true,
	}
}

// nonResourceAttributes are the attributes of a request for a path that
// is not a resource (/metrics, /orch/v1/...): the verb is the lower-case
// HTTP method, as Kubernetes'.
func nonResourceAttributes(u user.Info, r *http.Request) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: u, Verb: strings.ToLower(r.Method), Path: r.URL.Path}
}

// authorize asks the authorizers about a request and returns nil or a 403
// in Kubernetes' wording.
func (s *Server) authorize(ctx context.Context, a authorizer.Attributes) error {
	decision, reason, err := s.authz.Authorize(ctx, a)
	if decision == authorizer.DecisionAllow {
		return nil
	}
	if err != nil {
		s.log.Warn("authorization error", "user", a.GetUser().GetName(), "err", err)
	}
	return forbidden(a, reason)
}

// forbidden is Kubernetes' 403 for a denied request
// (responsewriters.forbiddenMessage).
func forbidden(a authorizer.Attributes, reason string) error {
	name := "<unknown>"
	if u := a.GetUser(); u != nil {
		name = u.GetName()
	}
	var msg string
	if !a.IsResourceRequest() {
		msg = fmt.Sprintf("forbidden: User %q cannot %s path %q", name, a.GetVerb(), a.GetPath())
	} else {
		resource := a.GetResource()
		if sub := a.GetSubresource(); sub != "" {
			resource += "/" + sub
		}
		scope := "cluster scope"
		if ns := a.GetNamespace(); ns != "" {
			scope = "the namespace " + fmt.Sprintf("%q", ns)
			msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q in %s", name, a.GetVerb(), resource, a.GetAPIGroup(), scope)
		} else {
			msg = fmt.Sprintf("User %q cannot %s resource %q in API group %q at the %s", name, a.GetVerb(), resource, a.GetAPIGroup(), scope)
		}
		if n := a.GetName(); n != "" {
			msg = fmt.Sprintf("%s %q is forbidden: %s", resource, n, msg)
		} else {
			msg = resource + " is forbidden: " + msg
		}
	}
	if reason != "" {
		msg += ": " + reason
	}
	return v1.NewForbidden(msg)
}

// privilegedGroups allows every request of system:masters (the admin) and
// of orch:masters (a master's own certificate), as Kubernetes'
// privileged-group authorizer does for system:masters.
type privilegedGroups struct{}

func (privilegedGroups) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	if u := a.GetUser(); u != nil {
		for _, g := range u.GetGroups() {
			if g == user.SystemPrivilegedGroup || g == MastersGroup {
				return authorizer.DecisionAllow, "", nil
			}
		}
	}
	return authorizer.DecisionNoOpinion, "", nil
}

// legacyNodeRules are what the shared node token may do: read everything,
// register and update nodes, update the status of pods and nodes, delete
// pods (to complete graceful deletes) and request service account tokens
// (for the token volumes of its pods).
type legacyNodeRules struct{}

func (legacyNodeRules) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	u := a.GetUser()
	if u == nil || u.GetName() != LegacyNodeUser || !a.IsResourceRequest() || a.GetAPIGroup() != "" {
		return authorizer.DecisionNoOpinion, "", nil
	}
	res, sub, verb := a.GetResource(), a.GetSubresource(), a.GetVerb()
	switch {
	case sub == "" && (verb == "get" || verb == "list" || verb == "watch"):
	case sub == "status" && (res == "pods" || res == "nodes"):
	case res == "nodes" && sub == "" && (verb == "create" || verb == "update" || verb == "patch"):
	case res == "pods" && sub == "" && verb == "delete":
	case res == "serviceaccounts" && sub == "token" && verb == "create":
		// The agent asks for the tokens of its pods' volumes. The shared
		// token names no node, so the TokenRequest handler lets it have
		// only tokens bound to a pod that is on some node
		// (legacyNodeTokenRequest); the Node authorizer will limit each
		// node to its own pods.
	default:
		return authorizer.DecisionNoOpinion, "the node token may read, register and update nodes, update the status of pods and nodes, delete pods and request service account tokens", nil
	}
	return authorizer.DecisionAllow, "", nil
}

// authorizerChain asks each authorizer in turn; the first Allow or Deny
// decides, as Kubernetes' union authorizer. The reasons of those with no
// opinion are joined into the denial.
type authorizerChain []authorizer.UnconditionalAuthorizer

func (c authorizerChain) Authorize(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	var reasons []string
	var errs []error
	for _, az := range c {
		d, reason, err := az.Authorize(ctx, a)
		if err != nil {
			errs = append(errs, err)
		}
		if reason != "" {
			reasons = append(reasons, reason)
		}
		if d != authorizer.DecisionNoOpinion {
			return d, reason, err
		}
	}
	return authorizer.DecisionNoOpinion, strings.Join(reasons, "\n"), errors.Join(errs...)
}

// authorizedNonResource wraps a handler for a non-resource path with the
// authorization of the request's path and verb.
func (s *Server) authorizedNonResource(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := s.authorize(r.Context(), nonResourceAttributes(UserFrom(r.Context()), r)); err != nil {
			writeError(w, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
