package rbac

import (
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/serviceaccount"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// The store tables the index is built from.
var rbacTables = []string{"clusterroles", "roles", "clusterrolebindings", "rolebindings"}

// grant is one subject of one binding with the rules of the role it
// names, resolved when the index is built; err is set when the role does
// not exist.
type grant struct {
	bindingKind, bindingName, bindingNamespace string
	roleRef                                    rbacv1.RoleRef
	subject                                    rbacv1.Subject
	rules                                      []rbacv1.PolicyRule
	err                                        error
}

// String describes the grant as Kubernetes' rule resolver does in an
// "allowed by" reason.
func (g *grant) String() string {
	subject := fmt.Sprintf("%s %q", g.subject.Kind, g.subject.Name)
	if g.subject.Kind == rbacv1.ServiceAccountKind {
		ns := g.subject.Namespace
		if ns == "" {
			ns = g.bindingNamespace
		}
		subject = fmt.Sprintf("%s %q", g.subject.Kind, g.subject.Name+"/"+ns)
	}
	name := g.bindingName
	if g.bindingKind == "RoleBinding" {
		name += "/" + g.bindingNamespace
	}
	return fmt.Sprintf("%s %q of %s %q to %s", g.bindingKind, name, g.roleRef.Kind, g.roleRef.Name, subject)
}

// scope holds the grants of one namespace (or of ClusterRoleBindings), by
// the user name and by the group they apply to. ServiceAccount subjects
// are indexed by their user name, system:serviceaccount:NS:NAME.
type scope struct {
	byUser  map[string][]*grant
	byGroup map[string][]*grant
}

func newScope() *scope {
	return &scope{byUser: map[string][]*grant{}, byGroup: map[string][]*grant{}}
}

// index is an immutable view of every binding, resolved.
type index struct {
	cluster    *scope
	namespaces map[string]*scope
	// roles and clusterRoles are the rules of each role, by key.
	roles, clusterRoles map[string][]rbacv1.PolicyRule
}

func (ix *index) add(sc *scope, g *grant) {
	switch g.subject.Kind {
	case rbacv1.UserKind:
		sc.byUser[g.subject.Name] = append(sc.byUser[g.subject.Name], g)
	case rbacv1.GroupKind:
		sc.byGroup[g.subject.Name] = append(sc.byGroup[g.subject.Name], g)
	case rbacv1.ServiceAccountKind:
		ns := g.subject.Namespace
		if ns == "" {
			ns = g.bindingNamespace
		}
		if ns == "" {
			return // applies to nobody, as Kubernetes' appliesToUser
		}
		u := serviceaccount.MakeUsername(ns, g.subject.Name)
		sc.byUser[u] = append(sc.byUser[u], g)
	}
}

// roleRules returns the rules of the role a binding in namespace names,
// or Kubernetes' not-found error.
func (ix *index) roleRules(ref rbacv1.RoleRef, namespace string) ([]rbacv1.PolicyRule, error) {
	switch ref.Kind {
	case "Role":
		if rules, ok := ix.roles[v1.Key(namespace, ref.Name)]; ok {
			return rules, nil
		}
		return nil, fmt.Errorf("role.rbac.authorization.k8s.io %q not found", ref.Name)
	case "ClusterRole":
		if rules, ok := ix.clusterRoles[ref.Name]; ok {
			return rules, nil
		}
		return nil, fmt.Errorf("clusterrole.rbac.authorization.k8s.io %q not found", ref.Name)
	}
	return nil, fmt.Errorf("unsupported role reference kind: %q", ref.Kind)
}

// buildIndex reads the four RBAC tables and returns the index with the
// channels that fire when one of them changes.
func buildIndex(st *fsm.Store) (*index, []<-chan struct{}, error) {
	recs := make(map[string][]*fsm.Record, len(rbacTables))
	watches := make([]<-chan struct{}, 0, len(rbacTables))
	for _, t := range rbacTables {
		r, ch, err := st.ListWatch(t)
		if err != nil {
			return nil, nil, fmt.Errorf("rbac index: %w", err)
		}
		recs[t], watches = r, append(watches, ch)
	}
	ix := &index{cluster: newScope(), namespaces: map[string]*scope{},
		roles: map[string][]rbacv1.PolicyRule{}, clusterRoles: map[string][]rbacv1.PolicyRule{}}
	for _, r := range recs["clusterroles"] {
		cr := r.Object().(*v1.ClusterRole)
		ix.clusterRoles[cr.Name] = cr.Rules
	}
	for _, r := range recs["roles"] {
		ro := r.Object().(*v1.Role)
		ix.roles[v1.Key(ro.Namespace, ro.Name)] = ro.Rules
	}
	for _, r := range recs["clusterrolebindings"] {
		b := r.Object().(*v1.ClusterRoleBinding)
		rules, err := ix.roleRules(b.RoleRef, "")
		for _, s := range b.Subjects {
			ix.add(ix.cluster, &grant{bindingKind: "ClusterRoleBinding", bindingName: b.Name, roleRef: b.RoleRef, subject: s, rules: rules, err: err})
		}
	}
	for _, r := range recs["rolebindings"] {
		b := r.Object().(*v1.RoleBinding)
		sc := ix.namespaces[b.Namespace]
		if sc == nil {
			sc = newScope()
			ix.namespaces[b.Namespace] = sc
		}
		rules, err := ix.roleRules(b.RoleRef, b.Namespace)
		for _, s := range b.Subjects {
			ix.add(sc, &grant{bindingKind: "RoleBinding", bindingName: b.Name, bindingNamespace: b.Namespace,
				roleRef: b.RoleRef, subject: s, rules: rules, err: err})
		}
	}
	return ix, watches, nil
}

// visit calls fn with each grant that applies to a user of name and
// groups, ClusterRoleBindings first, then the RoleBindings of namespace
// (when not ""), until fn returns false.
func (ix *index) visit(name string, groups []string, namespace string, fn func(*grant) bool) {
	scopes := []*scope{ix.cluster}
	if namespace != "" {
		if sc := ix.namespaces[namespace]; sc != nil {
			scopes = append(scopes, sc)
		}
	}
	for _, sc := range scopes {
		for _, g := range sc.byUser[name] {
			if !fn(g) {
				return
			}
		}
		for _, grp := range groups {
			for _, g := range sc.byGroup[grp] {
				if !fn(g) {
					return
				}
			}
		}
	}
}
