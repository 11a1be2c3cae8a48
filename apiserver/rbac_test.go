package apiserver

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/auth/rbac"
)

// withRBAC plugs the RBAC authorizer into the test server.
func withRBAC() envOption { return func(c *envConfig) { c.rbac = true } }

// newRBACEnv is a test env with RBAC, the default roles and namespaces
// team-a and team-b.
func newRBACEnv(t *testing.T) *testEnv {
	e := newTestEnv(t, withRBAC())
	ctx := testCtx(t)
	for _, cr := range rbac.DefaultClusterRoles() {
		mustCreate(t, e.admin, cr)
	}
	for _, crb := range rbac.DefaultClusterRoleBindings() {
		mustCreate(t, e.admin, crb)
	}
	for _, ns := range []string{"team-a", "team-b"} {
		if err := e.admin.Create(ctx, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func mustCreate(t *testing.T, c *client.Client, obj v1.Object) {
	t.Helper()
	if err := c.Create(testCtx(t), obj); err != nil {
		t.Fatalf("create %s %s: %v", v1.KindOf(obj), obj.GetObjectMeta().Name, err)
	}
}

func bindingTo(ns, name, kind, role, user string) *v1.RoleBinding {
	return &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Namespace: ns, Name: name},
		RoleRef: v1.RoleRef{Kind: kind, Name: role}, Subjects: []v1.Subject{{Kind: "User", Name: user}}}
}

func wantCode(t *testing.T, err error, code int, msgPart string) {
	t.Helper()
	var st *v1.StatusError
	if !errors.As(err, &st) || int(st.Status.Code) != code || !strings.Contains(st.Status.Message, msgPart) {
		t.Fatalf("err = %v, want %d containing %q", err, code, msgPart)
	}
}

func TestRBACEscalation(t *testing.T) {
	e := newRBACEnv(t)
	mustCreate(t, e.admin, bindingTo("team-a", "ann-admin", "ClusterRole", rbac.Admin, "ann"))
	ann := e.certClient(t, "ann")
	ctx := testCtx(t)

	// An admin of team-a grants edit and admin there.
	mustCreate(t, ann, bindingTo("team-a", "ed-edit", "ClusterRole", rbac.Edit, "ed"))
	mustCreate(t, ann, bindingTo("team-a", "al-admin", "ClusterRole", rbac.Admin, "al"))
	// ... but not cluster-admin, and not a Role with more than it holds.
	err := ann.Create(ctx, bindingTo("team-a", "ann-root", "ClusterRole", rbac.ClusterAdmin, "ann"))
	wantCode(t, err, http.StatusForbidden, `rolebindings.rbac.authorization.k8s.io "ann-root" is forbidden: user "ann" (groups=["system:authenticated"]) is attempting to grant RBAC permissions not currently held:`)
	nodeReader := &v1.Role{ObjectMeta: v1.ObjectMeta{Namespace: "team-a", Name: "nodes"},
		Rules: []v1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"nodes"}}}}
	err = ann.Create(ctx, nodeReader)
	wantCode(t, err, http.StatusForbidden, `{APIGroups:[""], Resources:["nodes"], Verbs:["get"]}`)
	// A Role within what it holds is fine, and so is binding it.
	podReader := &v1.Role{ObjectMeta: v1.ObjectMeta{Namespace: "team-a", Name: "pods"},
		Rules: []v1.PolicyRule{{Verbs: []string{"get", "list"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}
	mustCreate(t, ann, podReader)
	mustCreate(t, ann, bindingTo("team-a", "pr", "Role", "pods", "pat"))
	// A binding of a role that does not exist is 404.
	err = ann.Create(ctx, bindingTo("team-a", "nope", "ClusterRole", "nope", "pat"))
	wantCode(t, err, http.StatusNotFound, `clusterrole.rbac.authorization.k8s.io "nope" not found`)
	// Nothing outside team-a.
	err = ann.Create(ctx, bindingTo("team-b", "x", "ClusterRole", rbac.View, "pat"))
	wantCode(t, err, http.StatusForbidden, `User "ann" cannot create resource "rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "team-b"`)
	// An update is checked as a create: widening the role fails.
	var stored v1.Role
	if err := ann.Get(ctx, "roles", "team-a", "pods", &stored); err != nil {
		t.Fatal(err)
	}
	stored.Rules = append(stored.Rules, nodeReader.Rules...)
	wantCode(t, ann.Update(ctx, &stored), http.StatusForbidden, "is attempting to grant RBAC permissions not currently held")

	// An editor may not write RBAC objects at all.
	ed := e.certClient(t, "ed")
	err = ed.Create(ctx, bindingTo("team-a", "ed-more", "ClusterRole", rbac.View, "pat"))
	wantCode(t, err, http.StatusForbidden, `cannot create resource "rolebindings"`)

	// The bind verb on a role lets its holder bind it without holding it;
	// escalate lets its holder write a role beyond its own rights.
	mustCreate(t, e.admin, &v1.ClusterRole{ObjectMeta: v1.ObjectMeta{Name: "binder"}, Rules: []v1.PolicyRule{
		{Verbs: []string{"create"}, APIGroups: []string{v1.RBACGroup}, Resources: []string{"rolebindings", "roles"}},
		{Verbs: []string{"bind"}, APIGroups: []string{v1.RBACGroup}, Resources: []string{"clusterroles"}, ResourceNames: []string{rbac.ClusterAdmin}},
		{Verbs: []string{"escalate"}, APIGroups: []string{v1.RBACGroup}, Resources: []string{"roles"}},
	}})
	mustCreate(t, e.admin, bindingTo("team-a", "bo-binder", "ClusterRole", "binder", "bo"))
	bo := e.certClient(t, "bo")
	mustCreate(t, bo, bindingTo("team-a", "bo-root", "ClusterRole", rbac.ClusterAdmin, "pat"))
	err = bo.Create(ctx, bindingTo("team-a", "bo-view", "ClusterRole", rbac.View, "pat"))
	wantCode(t, err, http.StatusForbidden, "is attempting to grant RBAC permissions not currently held")
	nodeReader.Name = "nodes2"
	mustCreate(t, bo, nodeReader)
}

func TestRBACValidation(t *testing.T) {
	e := newRBACEnv(t)
	ctx := testCtx(t)
	b := bindingTo("team-a", "b", "ClusterRole", rbac.View, "u")
	mustCreate(t, e.admin, b)
	if b.RoleRef.APIGroup != v1.RBACGroup || b.Subjects[0].APIGroup != v1.RBACGroup {
		t.Errorf("apiGroups not defaulted: %+v", b)
	}
	b.RoleRef.Name = rbac.Edit
	wantCode(t, e.admin.Update(ctx, b), http.StatusUnprocessableEntity, "roleRef: Invalid value")
	for _, tc := range []struct {
		name string
		obj  v1.Object
		want string
	}{
		{"aggregation refused", &v1.ClusterRole{ObjectMeta: v1.ObjectMeta{Name: "agg"}, AggregationRule: &v1.AggregationRule{}}, "aggregationRule: Forbidden"},
		{"verbs required", &v1.ClusterRole{ObjectMeta: v1.ObjectMeta{Name: "nov"}, Rules: []v1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"pods"}}}}, "rules[0].verbs: Required value: verbs must contain at least one value"},
		{"no URLs in a Role", &v1.Role{ObjectMeta: v1.ObjectMeta{Namespace: "team-a", Name: "u"}, Rules: []v1.PolicyRule{{Verbs: []string{"get"}, NonResourceURLs: []string{"/x"}}}}, "namespaced rules cannot apply to non-resource URLs"},
		{"ClusterRoleBinding of a Role", &v1.ClusterRoleBinding{ObjectMeta: v1.ObjectMeta{Name: "r"}, RoleRef: v1.RoleRef{Kind: "Role", Name: "x"}}, `roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"`},
		{"bad subject kind", bindingWithSubject(v1.Subject{Kind: "Robot", Name: "r"}), `subjects[0].kind: Unsupported value: "Robot"`},
		{"user with a foreign apiGroup", bindingWithSubject(v1.Subject{Kind: "User", Name: "r", APIGroup: "example.com"}), `subjects[0].apiGroup: Unsupported value: "example.com"`},
		{"service account with an apiGroup", bindingWithSubject(v1.Subject{Kind: "ServiceAccount", Name: "r", APIGroup: v1.RBACGroup}), `subjects[0].apiGroup: Unsupported value`},
		{"cluster binding of a service account without namespace", &v1.ClusterRoleBinding{ObjectMeta: v1.ObjectMeta{Name: "sa"},
			RoleRef: v1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []v1.Subject{{Kind: "ServiceAccount", Name: "s"}}}, "subjects[0].namespace: Required value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantCode(t, e.admin.Create(ctx, tc.obj), http.StatusUnprocessableEntity, tc.want)
		})
	}
}

func bindingWithSubject(s v1.Subject) *v1.RoleBinding {
	return &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Namespace: "team-a", Name: "s"},
		RoleRef: v1.RoleRef{Kind: "ClusterRole", Name: "view"}, Subjects: []v1.Subject{s}}
}

func TestAccessReviews(t *testing.T) {
	e := newRBACEnv(t)
	mustCreate(t, e.admin, bindingTo("team-a", "ed-edit", "ClusterRole", rbac.Edit, "ed"))
	ed := e.certClient(t, "ed", "devs")
	ctx := testCtx(t)
	ssar := func(c *client.Client, ns, verb, resource string) v1.SelfSubjectAccessReview {
		t.Helper()
		in := v1.SelfSubjectAccessReview{Spec: v1.SelfSubjectAccessReviewSpec{ResourceAttributes: &v1.ResourceAttributes{
			Namespace: ns, Verb: verb, Resource: resource}}}
		var out v1.SelfSubjectAccessReview
		if err := c.Do(ctx, http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", nil, in, &out); err != nil {
			t.Fatalf("ssar: %v", err)
		}
		return out
	}
	if r := ssar(ed, "team-a", "create", "pods"); !r.Status.Allowed || r.Kind != "SelfSubjectAccessReview" ||
		r.Status.Reason != `RBAC: allowed by RoleBinding "ed-edit/team-a" of ClusterRole "edit" to User "ed"` {
		t.Errorf("ed create pods in team-a: %+v", r)
	}
	if r := ssar(ed, "team-b", "create", "pods"); r.Status.Allowed || r.Status.Denied {
		t.Errorf("ed create pods in team-b: %+v", r.Status)
	}
	if r := ssar(e.admin, "team-b", "delete", "nodes"); !r.Status.Allowed {
		t.Errorf("admin: %+v", r.Status)
	}
	// Non-resource.
	var out v1.SelfSubjectAccessReview
	in := v1.SelfSubjectAccessReview{Spec: v1.SelfSubjectAccessReviewSpec{NonResourceAttributes: &v1.NonResourceAttributes{Path: "/apis/x", Verb: "get"}}}
	if err := ed.Do(ctx, http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", nil, in, &out); err != nil || !out.Status.Allowed {
		t.Errorf("ed get /apis/x: %v %+v", err, out.Status)
	}
	// A SubjectAccessReview is for those allowed to create one.
	sar := v1.SubjectAccessReview{Spec: v1.SubjectAccessReviewSpec{User: "ed", ResourceAttributes: &v1.ResourceAttributes{
		Namespace: "team-a", Verb: "delete", Resource: "pods"}}}
	err := ed.Do(ctx, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", nil, sar, &v1.SubjectAccessReview{})
	wantCode(t, err, http.StatusForbidden, `cannot create resource "subjectaccessreviews"`)
	var sarOut v1.SubjectAccessReview
	if err := e.admin.Do(ctx, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", nil, sar, &sarOut); err != nil || !sarOut.Status.Allowed {
		t.Errorf("admin asks for ed: %v %+v", err, sarOut.Status)
	}
	sar.Spec.ResourceAttributes.Namespace = "team-b"
	if err := e.admin.Do(ctx, http.MethodPost, "/apis/authorization.k8s.io/v1/subjectaccessreviews", nil, sar, &sarOut); err != nil || sarOut.Status.Allowed {
		t.Errorf("admin asks for ed in team-b: %v %+v", err, sarOut.Status)
	}
	// Bad reviews are 422; reviews are neither listed nor stored.
	bad := v1.SelfSubjectAccessReview{ObjectMeta: v1.ObjectMeta{Name: "x"}}
	err = ed.Do(ctx, http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", nil, bad, &out)
	wantCode(t, err, http.StatusUnprocessableEntity, "metadata: Invalid value")
	wantCode(t, err, http.StatusUnprocessableEntity, "exactly one of nonResourceAttributes or resourceAttributes must be specified")
	err = e.admin.Do(ctx, http.MethodGet, "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews", nil, nil, &out)
	wantCode(t, err, http.StatusMethodNotAllowed, "create only")
	// Rules review.
	var rr v1.SelfSubjectRulesReview
	if err := ed.Do(ctx, http.MethodPost, "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", nil,
		v1.SelfSubjectRulesReview{Spec: v1.SelfSubjectRulesReviewSpec{Namespace: "team-a"}}, &rr); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rr.Status.ResourceRules {
		for _, v := range r.Verbs {
			found = found || (v == "create" && len(r.Resources) > 0 && r.Resources[0] == "pods")
		}
	}
	if !found || len(rr.Status.NonResourceRules) == 0 || rr.Status.Incomplete {
		t.Errorf("rules review: %+v", rr.Status)
	}
}

// The RBAC authorizer sees a new binding on the next request.
func TestRBACBindingTakesEffect(t *testing.T) {
	e := newRBACEnv(t)
	pat := e.certClient(t, "pat")
	ctx := testCtx(t)
	_, err := pat.List(ctx, "pods", "team-a", client.ListOptions{})
	wantCode(t, err, http.StatusForbidden, `pods is forbidden: User "pat" cannot list resource "pods" in API group "" in the namespace "team-a"`)
	mustCreate(t, e.admin, bindingTo("team-a", "pat-view", "ClusterRole", rbac.View, "pat"))
	if _, err := pat.List(ctx, "pods", "team-a", client.ListOptions{}); err != nil {
		t.Fatalf("pat lists pods after the binding: %v", err)
	}
	var ns v1.Namespace
	if err := pat.Get(ctx, "namespaces", "", "team-a", &ns); err != nil {
		t.Errorf("pat reads its namespace: %v", err)
	}
	if err := pat.Get(ctx, "namespaces", "", "team-b", &ns); v1.CodeOf(err) != http.StatusForbidden {
		t.Errorf("pat reads another namespace: %v", err)
	}
	if _, err := e.admin.Delete(ctx, "rolebindings", "team-a", "pat-view", nil); err != nil {
		t.Fatal(err)
	}
	_, err = pat.List(ctx, "pods", "team-a", client.ListOptions{})
	wantCode(t, err, http.StatusForbidden, "cannot list")
}

// TestMetricsForTheMonitoringGroup: with RBAC, a certificate in the
// system:monitoring group reads /metrics through the default
// system:monitoring binding, and nothing else; one outside it is refused.
func TestMetricsForTheMonitoringGroup(t *testing.T) {
	e := newRBACEnv(t)
	ctx := testCtx(t)
	var raw []byte
	prom := e.certClient(t, "prometheus", rbac.MonitoringGroup)
	if err := prom.Do(ctx, http.MethodGet, "/metrics", nil, nil, &raw); err != nil || !strings.Contains(string(raw), "orch_api_requests_total") {
		t.Fatalf("a system:monitoring certificate reads /metrics: %v (%d bytes)", err, len(raw))
	}
	_, err := prom.List(ctx, "pods", "team-a", client.ListOptions{})
	wantCode(t, err, http.StatusForbidden, `User "prometheus" cannot list resource "pods"`)
	err = e.certClient(t, "eve", "dev").Do(ctx, http.MethodGet, "/metrics", nil, nil, &raw)
	wantCode(t, err, http.StatusForbidden, `User "eve" cannot get path "/metrics"`)
}
