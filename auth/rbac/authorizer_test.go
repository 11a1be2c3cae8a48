package rbac

import (
	"context"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// testPolicy is an FSM holding the default roles plus objs.
type testPolicy struct {
	t     *testing.T
	f     *fsm.FSM
	index uint64
}

func newTestPolicy(t *testing.T, objs ...v1.Object) *testPolicy {
	p := &testPolicy{t: t, f: fsm.NewTestFSM(t)}
	for _, ns := range []string{"team-a", "team-b", "team-c"} {
		p.create(&v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: ns, UID: "uid-ns-" + ns}})
	}
	for _, cr := range DefaultClusterRoles() {
		p.create(cr)
	}
	for _, crb := range DefaultClusterRoleBindings() {
		p.create(crb)
	}
	for _, o := range objs {
		p.create(o)
	}
	return p
}

func (p *testPolicy) create(obj v1.Object) {
	p.t.Helper()
	v1.Default(obj)
	if err := v1.Validate(obj); err != nil {
		p.t.Fatalf("invalid %s: %v", v1.KindOf(obj), err)
	}
	p.index++
	fsm.MustCreate(p.t, p.f, p.index, obj)
}

func (p *testPolicy) delete(resource, namespace, name string) {
	p.t.Helper()
	cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: resource, Namespace: namespace, Name: name})
	if err != nil {
		p.t.Fatal(err)
	}
	p.index++
	if res := fsm.ApplyCommand(p.t, p.f, p.index, cmd).(fsm.Result); res.Err != nil {
		p.t.Fatalf("delete %s %s: %v", resource, name, res.Err)
	}
}

func roleBinding(ns, name, roleKind, role string, subjects ...rbacv1.Subject) *v1.RoleBinding {
	return &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Namespace: ns, Name: name, UID: "uid-rb-" + ns + name},
		RoleRef: rbacv1.RoleRef{Kind: roleKind, Name: role}, Subjects: subjects}
}

func userSubject(name string) rbacv1.Subject  { return rbacv1.Subject{Kind: "User", Name: name} }
func groupSubject(name string) rbacv1.Subject { return rbacv1.Subject{Kind: "Group", Name: name} }

func attrs(u user.Info, verb, group, resource, sub, ns, name string) authorizer.AttributesRecord {
	return authorizer.AttributesRecord{User: u, Verb: verb, APIGroup: group, Resource: resource,
		Subresource: sub, Namespace: ns, Name: name, ResourceRequest: true}
}

func TestAuthorizer(t *testing.T) {
	role := &v1.Role{ObjectMeta: v1.ObjectMeta{Namespace: "team-a", Name: "pod-reader", UID: "uid-role"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}, ResourceNames: []string{"web"}}}}
	p := newTestPolicy(t, role,
		roleBinding("team-a", "alice-edit", "ClusterRole", Edit, userSubject("alice")),
		roleBinding("team-a", "devs-view", "ClusterRole", View, groupSubject("devs")),
		roleBinding("team-a", "carol-reader", "Role", "pod-reader", userSubject("carol")),
		roleBinding("team-a", "sa-edit", "ClusterRole", Edit, rbacv1.Subject{Kind: "ServiceAccount", Name: "builder"}),
		roleBinding("team-b", "sa-other-ns", "ClusterRole", View, rbacv1.Subject{Kind: "ServiceAccount", Name: "builder", Namespace: "team-a"}),
		roleBinding("team-a", "sas-view", "ClusterRole", View, groupSubject("system:serviceaccounts:team-c")),
		roleBinding("team-a", "dangling", "Role", "missing", userSubject("dave")),
		&v1.ClusterRoleBinding{ObjectMeta: v1.ObjectMeta{Name: "ops-admin", UID: "uid-crb"},
			RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: ClusterAdmin}, Subjects: []rbacv1.Subject{userSubject("olga")}},
	)
	a := New(p.f.Store)
	alice := &user.DefaultInfo{Name: "alice", Groups: []string{user.AllAuthenticated}}
	bob := &user.DefaultInfo{Name: "bob", Groups: []string{"devs", user.AllAuthenticated}}
	carol := &user.DefaultInfo{Name: "carol", Groups: []string{user.AllAuthenticated}}
	dave := &user.DefaultInfo{Name: "dave", Groups: []string{user.AllAuthenticated}}
	olga := &user.DefaultInfo{Name: "olga"}
	builder := &user.DefaultInfo{Name: "system:serviceaccount:team-a:builder",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:team-a", user.AllAuthenticated}}
	other := &user.DefaultInfo{Name: "system:serviceaccount:team-c:x",
		Groups: []string{"system:serviceaccounts", "system:serviceaccounts:team-c", user.AllAuthenticated}}
	tests := []struct {
		name  string
		attrs authorizer.Attributes
		allow bool
	}{
		{"edit creates pods in its namespace", attrs(alice, "create", "", "pods", "", "team-a", ""), true},
		{"edit scales", attrs(alice, "update", "", "replicationcontrollers", "scale", "team-a", "rc"), true},
		{"edit not in another namespace", attrs(alice, "create", "", "pods", "", "team-b", ""), false},
		{"edit not nodes", attrs(alice, "get", "", "nodes", "", "", "n1"), false},
		{"edit does not write rbac", attrs(alice, "create", v1.RBACGroup, "rolebindings", "", "team-a", ""), false},
		{"edit does not read rbac", attrs(alice, "list", v1.RBACGroup, "roles", "", "team-a", ""), false},
		{"edit reads its namespace", attrs(alice, "get", "", "namespaces", "", "team-a", "team-a"), true},
		{"view by group reads pods", attrs(bob, "list", "", "pods", "", "team-a", ""), true},
		{"view reads logs", attrs(bob, "get", "", "pods", "log", "team-a", "p"), true},
		{"edit execs", attrs(alice, "create", "", "pods", "exec", "team-a", "p"), true},
		{"edit attaches", attrs(alice, "create", "", "pods", "attach", "team-a", "p"), true},
		{"edit forwards ports", attrs(alice, "create", "", "pods", "portforward", "team-a", "p"), true},
		{"view does not exec", attrs(bob, "create", "", "pods", "exec", "team-a", "p"), false},
		{"view does not forward ports", attrs(bob, "get", "", "pods", "portforward", "team-a", "p"), false},
		{"view does not write", attrs(bob, "delete", "", "pods", "", "team-a", "p"), false},
		{"view does not read secrets", attrs(bob, "get", "", "secrets", "", "team-a", "s"), false},
		{"view does not read rbac", attrs(bob, "get", v1.RBACGroup, "roles", "", "team-a", "r"), false},
		{"role with resource names", attrs(carol, "get", "", "pods", "", "team-a", "web"), true},
		{"role other name", attrs(carol, "get", "", "pods", "", "team-a", "db"), false},
		{"role no list", attrs(carol, "list", "", "pods", "", "team-a", ""), false},
		{"service account in the binding's namespace", attrs(builder, "create", "", "pods", "", "team-a", ""), true},
		{"service account in a named namespace", attrs(builder, "get", "", "pods", "", "team-b", "p"), true},
		{"service account group", attrs(other, "get", "", "pods", "", "team-a", "p"), true},
		{"service account group not elsewhere", attrs(other, "get", "", "pods", "", "team-b", "p"), false},
		{"cluster-admin everywhere", attrs(olga, "delete", "", "nodes", "", "", "n1"), true},
		{"cluster-admin non-resource", authorizer.AttributesRecord{User: olga, Verb: "post", Path: "/orch/v1/cluster/masters"}, true},
		{"discovery for every authenticated user", authorizer.AttributesRecord{User: bob, Verb: "get", Path: "/apis/rbac.authorization.k8s.io/v1"}, true},
		{"basic user reviews itself", attrs(carol, "create", v1.AuthorizationGroup, "selfsubjectaccessreviews", "", "", ""), true},
		{"no subject access reviews", attrs(carol, "create", v1.AuthorizationGroup, "subjectaccessreviews", "", "", ""), false},
		{"metrics not for everyone", authorizer.AttributesRecord{User: bob, Verb: "get", Path: "/metrics"}, false},
		{"dangling binding grants nothing", attrs(dave, "get", "", "pods", "", "team-a", "p"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, reason, err := a.Authorize(context.Background(), tc.attrs)
			if err != nil {
				t.Fatal(err)
			}
			if got := d == authorizer.DecisionAllow; got != tc.allow {
				t.Fatalf("allowed = %v (%q), want %v", got, reason, tc.allow)
			}
			if tc.allow && !strings.HasPrefix(reason, "RBAC: allowed by ") {
				t.Errorf("reason %q", reason)
			}
		})
	}
	_, reason, _ := a.Authorize(context.Background(), attrs(dave, "get", "", "pods", "", "team-a", "p"))
	if want := `RBAC: role.rbac.authorization.k8s.io "missing" not found`; reason != want {
		t.Errorf("dangling reason %q, want %q", reason, want)
	}
	_, reason, _ = a.Authorize(context.Background(), attrs(alice, "create", "", "pods", "", "team-a", ""))
	if want := `RBAC: allowed by RoleBinding "alice-edit/team-a" of ClusterRole "edit" to User "alice"`; reason != want {
		t.Errorf("reason %q, want %q", reason, want)
	}
}

// A change of a role or binding is seen by the next request.
func TestAuthorizerFollowsStore(t *testing.T) {
	p := newTestPolicy(t)
	a := New(p.f.Store)
	alice := &user.DefaultInfo{Name: "alice"}
	create := attrs(alice, "create", "", "pods", "", "team-a", "")
	decide := func() bool {
		d, _, err := a.Authorize(context.Background(), create)
		if err != nil {
			t.Fatal(err)
		}
		return d == authorizer.DecisionAllow
	}
	if decide() {
		t.Fatal("allowed before any binding")
	}
	p.create(roleBinding("team-a", "alice", "ClusterRole", Edit, userSubject("alice")))
	if !decide() {
		t.Fatal("denied after the binding")
	}
	p.delete("clusterroles", "", Edit)
	if decide() {
		t.Fatal("allowed after its role was deleted")
	}
	p.create(&v1.ClusterRole{ObjectMeta: v1.ObjectMeta{Name: Edit, UID: "new-edit"}, Rules: editRules})
	if !decide() {
		t.Fatal("denied after the role came back")
	}
	p.delete("rolebindings", "team-a", "alice")
	if decide() {
		t.Fatal("allowed after the binding was deleted")
	}
}

func TestConfirmNoEscalation(t *testing.T) {
	p := newTestPolicy(t,
		roleBinding("team-a", "ann-admin", "ClusterRole", Admin, userSubject("ann")),
		roleBinding("team-a", "ed-edit", "ClusterRole", Edit, userSubject("ed")),
	)
	a := New(p.f.Store)
	ann := &user.DefaultInfo{Name: "ann", Groups: []string{user.AllAuthenticated}}
	ed := &user.DefaultInfo{Name: "ed", Groups: []string{user.AllAuthenticated}}
	rules := func(name string) []rbacv1.PolicyRule {
		r, err := a.RoleRefRules(rbacv1.RoleRef{Kind: "ClusterRole", Name: name}, "")
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	tests := []struct {
		name  string
		u     user.Info
		ns    string
		rules []rbacv1.PolicyRule
		ok    bool
	}{
		{"admin grants edit in its namespace", ann, "team-a", rules(Edit), true},
		{"admin grants admin in its namespace", ann, "team-a", rules(Admin), true},
		{"admin not in another namespace", ann, "team-b", rules(View), false},
		{"admin not cluster-admin", ann, "team-a", rules(ClusterAdmin), false},
		{"edit grants view", ed, "team-a", rules(View), true},
		{"edit not admin", ed, "team-a", rules(Admin), false},
		{"edit not nodes", ed, "team-a", []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"nodes"}}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := a.ConfirmNoEscalation(tc.u, tc.ns, tc.rules)
			if (err == nil) != tc.ok {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "is attempting to grant RBAC permissions not currently held:\n{") {
				t.Errorf("message %q", err)
			}
		})
	}
	err := a.ConfirmNoEscalation(ed, "team-a", []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"nodes"}}})
	want := `user "ed" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:` + "\n" +
		`{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}`
	if err == nil || err.Error() != want {
		t.Errorf("got %v\nwant %s", err, want)
	}
}

// The default roles keep Kubernetes' boundaries.
func TestDefaultRoles(t *testing.T) {
	byName := map[string][]rbacv1.PolicyRule{}
	for _, cr := range DefaultClusterRoles() {
		if err := v1.Validate(cr); err != nil {
			t.Fatalf("%s: %v", cr.Name, err)
		}
		byName[cr.Name] = cr.Rules
	}
	for _, crb := range DefaultClusterRoleBindings() {
		v1.Default(crb)
		if err := v1.Validate(crb); err != nil {
			t.Fatalf("%s: %v", crb.Name, err)
		}
		if _, ok := byName[crb.RoleRef.Name]; !ok {
			t.Errorf("binding %s names a role that is not a default", crb.Name)
		}
	}
	u := &user.DefaultInfo{Name: "u"}
	allows := func(role string, a authorizer.AttributesRecord) bool {
		for i := range byName[role] {
			if RuleAllows(a, &byName[role][i]) {
				return true
			}
		}
		return false
	}
	rbacWrites := []string{"create", "update", "patch", "delete", "deletecollection", "escalate", "bind"}
	for _, res := range []string{"roles", "rolebindings", "clusterroles", "clusterrolebindings"} {
		for _, verb := range append([]string{"get", "list", "watch"}, rbacWrites...) {
			if allows(View, attrs(u, verb, v1.RBACGroup, res, "", "ns", "")) {
				t.Errorf("view may %s %s", verb, res)
			}
		}
		for _, verb := range rbacWrites {
			if allows(Edit, attrs(u, verb, v1.RBACGroup, res, "", "ns", "")) {
				t.Errorf("edit may %s %s", verb, res)
			}
		}
	}
	for _, verb := range []string{"get", "list", "watch"} {
		for _, role := range []string{View} {
			if allows(role, attrs(u, verb, "", "secrets", "", "ns", "")) {
				t.Errorf("%s may %s secrets", role, verb)
			}
		}
	}
	for _, res := range []string{"roles", "rolebindings"} {
		if !allows(Admin, attrs(u, "create", v1.RBACGroup, res, "", "ns", "")) {
			t.Errorf("admin may not create %s", res)
		}
	}
	for _, res := range []string{"clusterroles", "clusterrolebindings"} {
		if allows(Admin, attrs(u, "create", v1.RBACGroup, res, "", "", "")) {
			t.Errorf("admin may create %s", res)
		}
	}
	for _, role := range []string{Admin, Edit, View} {
		for _, res := range []string{"nodes", "resourcequotas", "limitranges"} {
			if allows(role, attrs(u, "create", "", res, "", "ns", "")) {
				t.Errorf("%s may create %s", role, res)
			}
		}
	}
	if !allows(Edit, attrs(u, "create", "", "pods", "", "ns", "")) || !allows(View, attrs(u, "get", "", "pods", "log", "ns", "p")) {
		t.Error("edit cannot create pods or view cannot read logs")
	}
	// apps/v1 ReplicaSets, StatefulSets and Deployments as Kubernetes' aggregated roles grant them.
	for _, tc := range []struct {
		role, verb, sub string
		want            bool
	}{
		{View, "get", "", true}, {View, "list", "scale", true}, {View, "watch", "status", true},
		{View, "create", "", false}, {View, "update", "scale", false},
		{Edit, "create", "", true}, {Edit, "patch", "scale", true}, {Edit, "deletecollection", "", true},
		{Edit, "update", "status", false},
		{Admin, "delete", "", true}, {Admin, "update", "scale", true},
	} {
		for _, res := range []string{"replicasets", "statefulsets", "deployments"} {
			if got := allows(tc.role, attrs(u, tc.verb, v1.AppsGroup, res, tc.sub, "ns", "x")); got != tc.want {
				t.Errorf("%s %s %s/%s: allowed %v, want %v", tc.role, tc.verb, res, tc.sub, got, tc.want)
			}
		}
	}
	if allows(Edit, attrs(u, "create", "", "replicasets", "", "ns", "")) {
		t.Error("edit may create replicasets in the core group")
	}
	// apps/v1 DaemonSets: view reads them and their status, edit writes
	// them but not their status.
	for _, tc := range []struct {
		role, verb, sub string
		want            bool
	}{
		{View, "get", "", true}, {View, "watch", "status", true}, {View, "patch", "", false},
		{Edit, "create", "", true}, {Edit, "delete", "", true}, {Edit, "update", "status", false},
		{Admin, "deletecollection", "", true},
	} {
		if got := allows(tc.role, attrs(u, tc.verb, v1.AppsGroup, "daemonsets", tc.sub, "ns", "ds")); got != tc.want {
			t.Errorf("%s %s daemonsets/%s: allowed %v, want %v", tc.role, tc.verb, tc.sub, got, tc.want)
		}
	}
}
