package apiserver

import (
	"context"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/audit"
)

// Identities of the built-in credentials.
const (
	// AdminUser is the user of the admin token; it is in
	// user.SystemPrivilegedGroup (system:masters), as kubeadm's admin.
	AdminUser = "admin"
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

// tokenAuthenticator maps the static admin bearer token to its user,
// comparing in constant time. Nodes authenticate with client certificates
// (system:node:<name> in system:nodes).
type tokenAuthenticator struct {
	admin string
}

func (t tokenAuthenticator) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return nil, false, nil
	}
	if t.admin != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(t.admin)) == 1 {
		// In system:authenticated already, as the chain would add it
		// (withAuthenticatedGroup): the user is not copied again.
		return &authenticator.Response{User: &user.DefaultInfo{Name: AdminUser,
			Groups: []string{user.SystemPrivilegedGroup, user.AllAuthenticated}}}, true, nil
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
		chain = append(chain, newCertAuthCache(x509request.New(opts, x509request.CommonNameUserConversion), time.Now))
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
		if u, ok := s.authenticate(w, r); ok {
			s.admit(w, r.WithContext(withUser(r.Context(), u)), u, next)
		}
	})
}

// authenticatedUnlimited is authenticated without the request pools, for
// what must answer under load (/metrics).
func (s *Server) authenticatedUnlimited(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := s.authenticate(w, r); ok {
			next.ServeHTTP(w, r.WithContext(withUser(r.Context(), u)))
		}
	})
}

// authenticate returns the request's user, or answers 401.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) (user.Info, bool) {
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
		return nil, false
	}
	audit.SetUser(r.Context(), resp.User)
	u, impersonated, err := s.impersonate(r.Context(), r, resp.User)
	if err != nil {
		refuseUnread(w, err)
		return nil, false
	}
	if impersonated {
		audit.SetImpersonation(r.Context(), resp.User, u)
	}
	return u, true
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
// request, as Kubernetes' RequestInfo gives them, with the field selector
// of a list or watch (the Node authorizer lets a node list only its own
// pods). A selector that does not parse is passed as the parse error; the
// list answers 400 for it.
func resourceAttributes(u user.Info, req *request, q url.Values) authorizer.AttributesRecord {
	ns := req.namespace
	if req.resource.Name == "namespaces" && req.resource.Group == "" {
		// As Kubernetes' RequestInfo: a namespace is in itself, so a
		// RoleBinding lets its subjects read their own namespace.
		ns = req.name
	}
	a := authorizer.AttributesRecord{
		User: u, Verb: req.verb, Namespace: ns,
		APIGroup: req.resource.Group, APIVersion: resourceVersion(req.resource),
		Resource: req.resource.Name, Subresource: req.sub, Name: req.name,
		ResourceRequest: true,
	}
	if fs := q.Get("fieldSelector"); fs != "" && (req.verb == "list" || req.verb == "watch") {
		sel, err := fields.ParseSelector(fs)
		if err != nil {
			a.FieldSelectorParsingErr = err
		} else {
			a.FieldSelectorRequirements = sel.Requirements()
		}
	}
	return a
}

// resourceVersion is the version of a resource's API without the group
// (RequestInfo.APIVersion in Kubernetes: "v1" for apps/v1).
func resourceVersion(r v1.Resource) string {
	if r.Version == "" {
		return v1.APIVersion
	}
	return r.Version
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
	audit.SetAuthorization(ctx, a, decision, reason)
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
		// The prefix names the group-qualified resource without its
		// subresource (schema.GroupResource.String), as apierrors.NewForbidden.
		qualified := a.GetResource()
		if g := a.GetAPIGroup(); g != "" {
			qualified += "." + g
		}
		if n := a.GetName(); n != "" {
			msg = fmt.Sprintf("%s %q is forbidden: %s", qualified, n, msg)
		} else {
			msg = qualified + " is forbidden: " + msg
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
