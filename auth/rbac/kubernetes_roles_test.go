package rbac

import (
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"

	v1 "orch.io/orch/api/v1"
)

// Kubernetes' view, edit and admin roles: the rules of its bootstrap
// policy's system:aggregate-to-view, -edit and -admin ClusterRoles (Kubernetes
// 1.37, plugin/pkg/auth/authorizer/rbac/bootstrappolicy), which the
// aggregation controller folds into view, edit (view's rules too) and admin
// (edit's too). Groups and resources orch does not serve are kept, so the
// table can be compared with Kubernetes' as a whole; they decide nothing
// below.
var (
	k8sRead  = []string{"get", "list", "watch"}
	k8sWrite = []string{"create", "delete", "deletecollection", "patch", "update"}

	k8sAggregateToView = []rbacv1.PolicyRule{
		core(k8sRead, "configmaps", "endpoints", "persistentvolumeclaims", "persistentvolumeclaims/status", "pods",
			"replicationcontrollers", "replicationcontrollers/scale", "serviceaccounts", "services", "services/status"),
		core(k8sRead, "bindings", "events", "limitranges", "namespaces/status", "pods/log", "pods/status",
			"replicationcontrollers/status", "resourcequotas", "resourcequotas/status"),
		core(k8sRead, "namespaces"),
		group("discovery.k8s.io", k8sRead, "endpointslices"),
		group("apps", k8sRead, "controllerrevisions", "daemonsets", "daemonsets/status", "deployments", "deployments/scale",
			"deployments/status", "replicasets", "replicasets/scale", "replicasets/status", "statefulsets", "statefulsets/scale",
			"statefulsets/status"),
		group("autoscaling", k8sRead, "horizontalpodautoscalers", "horizontalpodautoscalers/status"),
		group("batch", k8sRead, "cronjobs", "cronjobs/status", "jobs", "jobs/status"),
		group("extensions", k8sRead, "daemonsets", "daemonsets/status", "deployments", "deployments/scale", "deployments/status",
			"ingresses", "ingresses/status", "networkpolicies", "replicasets", "replicasets/scale", "replicasets/status",
			"replicationcontrollers/scale"),
		group("policy", k8sRead, "poddisruptionbudgets", "poddisruptionbudgets/status"),
		group("networking.k8s.io", k8sRead, "ingresses", "ingresses/status", "networkpolicies"),
	}
	k8sAggregateToEdit = []rbacv1.PolicyRule{
		core(k8sRead, "pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"),
		core([]string{"impersonate"}, "serviceaccounts"),
		core(k8sWrite, "pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"),
		core([]string{"create"}, "pods/eviction"),
		core(k8sWrite, "configmaps", "events", "persistentvolumeclaims", "replicationcontrollers", "replicationcontrollers/scale",
			"secrets", "serviceaccounts", "services", "services/proxy"),
		core([]string{"create"}, "serviceaccounts/token"),
		group("apps", k8sWrite, "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "replicasets",
			"replicasets/scale", "statefulsets", "statefulsets/scale"),
		group("autoscaling", k8sWrite, "horizontalpodautoscalers"),
		group("batch", k8sWrite, "cronjobs", "jobs"),
		group("extensions", k8sWrite, "daemonsets", "deployments", "deployments/rollback", "deployments/scale", "ingresses",
			"networkpolicies", "replicasets", "replicasets/scale", "replicationcontrollers/scale"),
		group("policy", k8sWrite, "poddisruptionbudgets"),
		group("networking.k8s.io", k8sWrite, "ingresses", "networkpolicies"),
		group("coordination.k8s.io", []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}, "leases"),
	}
	k8sAggregateToAdmin = []rbacv1.PolicyRule{
		group("authorization.k8s.io", []string{"create"}, "localsubjectaccessreviews"),
		group("rbac.authorization.k8s.io", []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"},
			"rolebindings", "roles"),
	}
)

// k8sRoles are Kubernetes' view, edit and admin as aggregated.
func k8sRoles() map[string][]rbacv1.PolicyRule {
	view := k8sAggregateToView
	edit := append(append([]rbacv1.PolicyRule(nil), view...), k8sAggregateToEdit...)
	admin := append(append([]rbacv1.PolicyRule(nil), edit...), k8sAggregateToAdmin...)
	return map[string][]rbacv1.PolicyRule{View: view, Edit: edit, Admin: admin}
}

// servedSubresources are the subresources orch serves besides status and
// scale (which the resource table says), as the API server's discovery
// lists them.
var servedSubresources = map[string][]string{
	"pods":                       {"binding", "ephemeralcontainers", "eviction", "log", "exec", "attach", "portforward"},
	"serviceaccounts":            {"token"},
	"nodes":                      {"images"},
	"certificatesigningrequests": {"approval"},
}

// Every verb a default role could grant on a resource of orch.
var allRoleVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection",
	"impersonate", "bind", "escalate", "approve"}

// orch's view, edit and admin grant, on every resource and subresource
// orch serves, exactly what Kubernetes' do: a user bound to view reads
// what Kubernetes' view allows and nothing more (issue 13, done-when 2),
// and a manifest's RoleBinding to edit or admin means what it means in
// Kubernetes.
func TestDefaultRolesMatchKubernetes(t *testing.T) {
	orch := map[string][]rbacv1.PolicyRule{}
	for _, cr := range DefaultClusterRoles() {
		orch[cr.Name] = cr.Rules
	}
	k8s := k8sRoles()
	u := &user.DefaultInfo{Name: "u", Groups: []string{user.AllAuthenticated}}
	allows := func(rules []rbacv1.PolicyRule, verb, group, resource, sub string) bool {
		a := attrs(u, verb, group, resource, sub, "ns", "x")
		for i := range rules {
			if RuleAllows(a, &rules[i]) {
				return true
			}
		}
		return false
	}
	checked := 0
	for _, r := range v1.Resources() {
		subs := []string{""}
		if r.HasStatus {
			subs = append(subs, "status")
		}
		if r.HasScale() {
			subs = append(subs, "scale")
		}
		subs = append(subs, servedSubresources[r.Name]...)
		for _, sub := range subs {
			for _, role := range []string{View, Edit, Admin} {
				for _, verb := range allRoleVerbs {
					got, want := allows(orch[role], verb, r.Group, r.Name, sub), allows(k8s[role], verb, r.Group, r.Name, sub)
					checked++
					if got != want {
						name := r.Name
						if sub != "" {
							name += "/" + sub
						}
						if r.Group != "" {
							name += "." + r.Group
						}
						t.Errorf("%s may %s %s: orch %v, Kubernetes %v", role, verb, name, got, want)
					}
				}
			}
		}
	}
	if checked == 0 {
		t.Fatal("no resource checked")
	}
}

// The Kubernetes table above is what Kubernetes grants, not a copy of
// orch's: a few of its known answers.
func TestKubernetesRolesTable(t *testing.T) {
	k8s := k8sRoles()
	u := &user.DefaultInfo{Name: "u"}
	for _, tc := range []struct {
		role, verb, group, resource, sub string
		want                             bool
	}{
		{View, "get", "", "secrets", "", false},
		{Edit, "get", "", "secrets", "", true},
		{View, "list", "", "serviceaccounts", "", true},
		{Edit, "create", "", "endpoints", "", false}, // CVE-2021-25740
		{Edit, "create", "", "serviceaccounts", "token", true},
		{Edit, "create", "rbac.authorization.k8s.io", "rolebindings", "", false},
		{Admin, "create", "rbac.authorization.k8s.io", "rolebindings", "", true},
		{Admin, "create", "rbac.authorization.k8s.io", "clusterroles", "", false},
		{Admin, "create", "", "resourcequotas", "", false},
		{View, "get", "", "pods", "exec", false},
	} {
		got := false
		for i := range k8s[tc.role] {
			got = got || RuleAllows(attrs(u, tc.verb, tc.group, tc.resource, tc.sub, "ns", ""), &k8s[tc.role][i])
		}
		if got != tc.want {
			t.Errorf("Kubernetes' %s %s %s/%s in %q: %v, want %v", tc.role, tc.verb, tc.resource, tc.sub, tc.group, got, tc.want)
		}
	}
}
