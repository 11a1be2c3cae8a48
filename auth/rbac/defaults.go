package rbac

import (
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apiserver/pkg/authentication/user"

	v1 "orch.io/orch/api/v1"
)

// The default roles, as kube-apiserver's bootstrap policy
// (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go) restricted to
// what orch serves. To grant a new kind, add its resource to the lists
// below: readable holds what view may read, writable what edit may change.
//
// The leader creates every default role and binding that is missing and
// adds the missing rules and subjects to those whose
// rbac.authorization.kubernetes.io/autoupdate annotation is not "false".

// Verbs of the default roles.
var (
	readVerbs  = []string{"get", "list", "watch"}
	writeVerbs = []string{"create", "delete", "deletecollection", "patch", "update"}
	allVerbs   = []string{"create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"}
)

// readable are the namespaced core resources view may read (never
// secrets, never RBAC objects), plus namespaces: a RoleBinding lets its
// subjects read their own namespace.
var readable = []string{
	"pods", "pods/log", "pods/status",
	"replicationcontrollers", "replicationcontrollers/scale", "replicationcontrollers/status",
	"configmaps", "services", "services/status", "endpoints",
	"resourcequotas", "resourcequotas/status", "limitranges",
	"namespaces", "namespaces/status",
	"events", "serviceaccounts",
}

// writable are the namespaced core resources edit may change (as
// Kubernetes, not quotas and limit ranges: they are the cluster admin's;
// and not endpoints, which Kubernetes' edit has not written since
// CVE-2021-25740: a user who may write endpoints could send a Service's
// traffic to addresses beyond the namespace).
var writable = []string{
	"pods",
	"replicationcontrollers", "replicationcontrollers/scale",
	"configmaps", "secrets", "services", "events", "serviceaccounts",
	"pods/attach", "pods/exec", "pods/portforward",
}

// streaming are the pod subresources that run commands or open ports in a
// pod: edit may use them (create, and read as Kubernetes' edit role
// grants), view may not.
var streaming = []string{"pods/attach", "pods/exec", "pods/portforward"}

// Names of the default roles and groups.
const (
	ClusterAdmin          = "cluster-admin"
	Admin                 = "admin"
	Edit                  = "edit"
	View                  = "view"
	BasicUser             = "system:basic-user"
	Discovery             = "system:discovery"
	PublicInfoViewer      = "system:public-info-viewer"
	Monitoring            = "system:monitoring"
	NodeBootstrapper      = "system:node-bootstrapper"
	Node                  = "system:node"
	MonitoringGroup       = "system:monitoring"
	AutoUpdateAnnotation  = "rbac.authorization.kubernetes.io/autoupdate"
	BootstrappingLabel    = "kubernetes.io/bootstrapping"
	BootstrappingRBACVals = "rbac-defaults"
)

func core(verbs []string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{""}, Resources: resources}
}

func group(g string, verbs []string, resources ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, APIGroups: []string{g}, Resources: resources}
}

func urls(verbs []string, paths ...string) rbacv1.PolicyRule {
	return rbacv1.PolicyRule{Verbs: verbs, NonResourceURLs: paths}
}

var (
	// As Kubernetes, view reads endpoint slices and budgets; leases are
	// edit's (and the nodes' own, below), not view's.
	viewRules = []rbacv1.PolicyRule{core(readVerbs, readable...), group(v1.DiscoveryGroup, readVerbs, "endpointslices"),
		group(v1.PolicyGroup, readVerbs, "poddisruptionbudgets", "poddisruptionbudgets/status"),
		group(v1.BatchGroup, readVerbs, "jobs", "jobs/status", "cronjobs", "cronjobs/status"),
		group(v1.AppsGroup, readVerbs, "controllerrevisions", "replicasets", "replicasets/scale", "replicasets/status",
			"statefulsets", "statefulsets/scale", "statefulsets/status"),
		group(v1.AppsGroup, readVerbs, "daemonsets", "daemonsets/status"),
		group(v1.AppsGroup, readVerbs, "deployments", "deployments/scale", "deployments/status")}
	// As Kubernetes' edit: budgets are written, pods evicted, service
	// accounts' tokens requested and the accounts impersonated, leases
	// kept.
	editRules = append(append([]rbacv1.PolicyRule(nil), viewRules...),
		core(writeVerbs, writable...), core(readVerbs, streaming...), core(readVerbs, "secrets"),
		core([]string{"create"}, "pods/eviction"),
		core([]string{"create"}, "serviceaccounts/token"),
		core([]string{"impersonate"}, "serviceaccounts"),
		group(v1.CoordinationGroup, allVerbs, "leases"),
		group(v1.PolicyGroup, writeVerbs, "poddisruptionbudgets"),
		group(v1.BatchGroup, writeVerbs, "jobs", "cronjobs"),
		group(v1.AppsGroup, writeVerbs, "replicasets", "replicasets/scale", "statefulsets", "statefulsets/scale"),
		group(v1.AppsGroup, writeVerbs, "daemonsets"),
		group(v1.AppsGroup, writeVerbs, "deployments", "deployments/scale"))
	adminRules = append(append([]rbacv1.PolicyRule(nil), editRules...),
		group(v1.RBACGroup, allVerbs, "roles", "rolebindings"))
)

// DefaultClusterRoles returns the default ClusterRoles, new objects on
// every call.
func DefaultClusterRoles() []*v1.ClusterRole {
	roles := []struct {
		name  string
		rules []rbacv1.PolicyRule
	}{
		{ClusterAdmin, []rbacv1.PolicyRule{
			{Verbs: []string{"*"}, APIGroups: []string{"*"}, Resources: []string{"*"}},
			urls([]string{"*"}, "*"),
		}},
		{Admin, adminRules},
		{Edit, editRules},
		{View, viewRules},
		{BasicUser, []rbacv1.PolicyRule{
			group(v1.AuthorizationGroup, []string{"create"}, "selfsubjectaccessreviews", "selfsubjectrulesreviews"),
		}},
		{Discovery, []rbacv1.PolicyRule{
			urls([]string{"get"}, "/livez", "/readyz", "/healthz", "/version", "/version/",
				"/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*"),
		}},
		{PublicInfoViewer, []rbacv1.PolicyRule{
			urls([]string{"get"}, "/livez", "/readyz", "/healthz", "/version", "/version/"),
		}},
		{Monitoring, []rbacv1.PolicyRule{
			urls([]string{"get"}, "/metrics", "/metrics/slis", "/livez", "/readyz", "/healthz",
				"/livez/*", "/readyz/*", "/healthz/*"),
		}},
		{NodeBootstrapper, []rbacv1.PolicyRule{
			group("certificates.k8s.io", []string{"create", "get", "list", "watch"}, "certificatesigningrequests"),
		}},
		{Node, []rbacv1.PolicyRule{
			core(readVerbs, "nodes", "pods", "services", "endpoints"),
			core([]string{"create", "update", "patch"}, "nodes"),
			core([]string{"update", "patch"}, "nodes/status", "pods/status"),
			core([]string{"delete"}, "pods"),
			group(v1.CoordinationGroup, []string{"get", "create", "update", "patch", "delete"}, "leases"),
			core([]string{"create", "update", "patch"}, "events"),
		}},
	}
	out := make([]*v1.ClusterRole, 0, len(roles))
	for _, r := range roles {
		out = append(out, &v1.ClusterRole{ObjectMeta: defaultMeta(r.name), Rules: r.rules})
	}
	return out
}

// DefaultClusterRoleBindings returns the default ClusterRoleBindings, each
// named as its role, new objects on every call.
func DefaultClusterRoleBindings() []*v1.ClusterRoleBinding {
	bindings := []struct {
		role   string
		groups []string
	}{
		{ClusterAdmin, []string{user.SystemPrivilegedGroup}},
		{BasicUser, []string{user.AllAuthenticated}},
		{Discovery, []string{user.AllAuthenticated}},
		{PublicInfoViewer, []string{user.AllAuthenticated, user.AllUnauthenticated}},
		{Monitoring, []string{MonitoringGroup}},
		{NodeBootstrapper, []string{"system:bootstrappers"}},
	}
	out := make([]*v1.ClusterRoleBinding, 0, len(bindings))
	for _, b := range bindings {
		crb := &v1.ClusterRoleBinding{ObjectMeta: defaultMeta(b.role),
			RoleRef: rbacv1.RoleRef{APIGroup: v1.RBACGroup, Kind: "ClusterRole", Name: b.role}}
		for _, g := range b.groups {
			crb.Subjects = append(crb.Subjects, rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: v1.RBACGroup, Name: g})
		}
		out = append(out, crb)
	}
	return out
}

func defaultMeta(name string) v1.ObjectMeta {
	return v1.ObjectMeta{Name: name,
		Labels:      map[string]string{BootstrappingLabel: BootstrappingRBACVals},
		Annotations: map[string]string{AutoUpdateAnnotation: "true"}}
}
