package apiserver

import (
	"context"
	"fmt"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	v1 "orch.io/orch/api/v1"
)

// RBAC is what the API server needs of the RBAC authorizer beyond
// authorizing: the rules it resolves, for the escalation checks on writes
// of roles and bindings and for rules reviews. auth/rbac.Authorizer
// implements it.
type RBAC interface {
	// ConfirmNoEscalation returns nil when u holds every permission of
	// rules in namespace, or an error naming those it lacks.
	ConfirmNoEscalation(u user.Info, namespace string, rules []v1.PolicyRule) error
	// RoleRefRules returns the rules of the role a binding in namespace
	// names, or a not-found error.
	RoleRefRules(ref v1.RoleRef, namespace string) ([]v1.PolicyRule, error)
	// RulesFor returns the rules granted to u in namespace.
	RulesFor(u user.Info, namespace string) ([]v1.PolicyRule, error)
}

// isPrivileged reports whether u is in a group that may do everything
// (system:masters, orch:masters): Kubernetes' EscalationAllowed.
func isPrivileged(u user.Info) bool {
	if u == nil {
		return false
	}
	for _, g := range u.GetGroups() {
		if g == user.SystemPrivilegedGroup || g == MastersGroup {
			return true
		}
	}
	return false
}

// admitRBAC is Kubernetes' escalation prevention for a create or update of
// a Role, ClusterRole or binding (pkg/registry/rbac/*/policybased): a
// role's writer must hold every permission it grants, or the escalate verb
// on it; a binding's writer must hold the permissions of the role it
// names, or the bind verb on that role. It reads this master's store, as
// Kubernetes' rule resolver reads its informers.
func (s *Server) admitRBAC(ctx context.Context, req *request, obj v1.Object) error {
	u := UserFrom(ctx)
	if isPrivileged(u) {
		return nil
	}
	m := obj.GetObjectMeta()
	var rules []v1.PolicyRule
	switch o := obj.(type) {
	case *v1.Role:
		if s.authorizedVerb(ctx, u, "escalate", "roles", m.Namespace, m.Name) {
			return nil
		}
		rules = o.Rules
	case *v1.ClusterRole:
		if s.authorizedVerb(ctx, u, "escalate", "clusterroles", "", m.Name) {
			return nil
		}
		rules = o.Rules
	case *v1.RoleBinding:
		if s.bindAuthorized(ctx, u, o.RoleRef, m.Namespace) {
			return nil
		}
		var err error
		if rules, err = s.roleRefRules(o.RoleRef, m.Namespace); err != nil {
			return err
		}
	case *v1.ClusterRoleBinding:
		if s.bindAuthorized(ctx, u, o.RoleRef, "") {
			return nil
		}
		var err error
		if rules, err = s.roleRefRules(o.RoleRef, ""); err != nil {
			return err
		}
	default:
		return nil
	}
	if s.cfg.RBAC == nil {
		return forbiddenObject(req, m.Name, fmt.Errorf("user %q (groups=%q) is attempting to grant RBAC permissions and no RBAC authorizer is configured", u.GetName(), u.GetGroups()))
	}
	if err := s.cfg.RBAC.ConfirmNoEscalation(u, m.Namespace, rules); err != nil {
		return forbiddenObject(req, m.Name, err)
	}
	return nil
}

func (s *Server) roleRefRules(ref v1.RoleRef, namespace string) ([]v1.PolicyRule, error) {
	if s.cfg.RBAC == nil {
		return nil, nil
	}
	rules, err := s.cfg.RBAC.RoleRefRules(ref, namespace)
	if err != nil {
		// As Kubernetes: a binding of a role that does not exist is
		// refused unless the writer may bind it.
		return nil, v1.NewNotFound(roleResource(ref.Kind), ref.Name)
	}
	return rules, nil
}

func roleResource(kind string) string {
	if kind == "Role" {
		return "role.rbac.authorization.k8s.io"
	}
	return "clusterrole.rbac.authorization.k8s.io"
}

// bindAuthorized is Kubernetes' BindingAuthorized: the bind verb on the
// role a binding names (a ClusterRole named in a RoleBinding is checked in
// the binding's namespace).
func (s *Server) bindAuthorized(ctx context.Context, u user.Info, ref v1.RoleRef, namespace string) bool {
	resource := "clusterroles"
	if ref.Kind == "Role" {
		resource = "roles"
	}
	return s.authorizedVerb(ctx, u, "bind", resource, namespace, ref.Name)
}

func (s *Server) authorizedVerb(ctx context.Context, u user.Info, verb, resource, namespace, name string) bool {
	d, _, _ := s.authz.Authorize(ctx, authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: v1.RBACGroup,
		APIVersion: "v1", Resource: resource, Namespace: namespace, Name: name, ResourceRequest: true})
	return d == authorizer.DecisionAllow
}

// forbiddenObject is Kubernetes' errors.NewForbidden for an object.
func forbiddenObject(req *request, name string, err error) error {
	return v1.NewForbidden(fmt.Sprintf("%s.%s %q is forbidden: %v", req.resource.Name, req.resource.Group, name, err))
}
