package apiserver

import (
	"net/http"
	"slices"
	"testing"
)

func TestDiscovery(t *testing.T) {
	e := newTestEnv(t)

	api := decode[struct {
		Kind     string   `json:"kind"`
		Versions []string `json:"versions"`
	}](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/api", nil))
	if api.Kind != "APIVersions" || !slices.Equal(api.Versions, []string{"v1"}) {
		t.Fatalf("/api = %+v", api)
	}

	apis := decode[map[string]any](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/apis", nil))
	if apis["kind"] != "APIGroupList" {
		t.Fatalf("/apis = %v", apis)
	}
	var groups []string
	if g, ok := apis["groups"].([]any); ok {
		for _, x := range g {
			groups = append(groups, x.(map[string]any)["name"].(string))
		}
	}
	if want := []string{"apps", "authorization.k8s.io", "batch", "bootstrap.orch.io", "certificates.k8s.io", "coordination.k8s.io", "discovery.k8s.io", "events.k8s.io", "policy", "rbac.authorization.k8s.io"}; !slices.Equal(groups, want) {
		t.Fatalf("/apis groups = %v, want %v", groups, want)
	}
	reviews := decode[struct {
		Resources []apiResource `json:"resources"`
	}](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/apis/authorization.k8s.io/v1", nil))
	for _, r := range reviews.Resources {
		if !slices.Equal(r.Verbs, []string{"create"}) || r.Namespaced {
			t.Errorf("%s: verbs %v namespaced %v, want create only, cluster-scoped", r.Name, r.Verbs, r.Namespaced)
		}
	}
	if len(reviews.Resources) != 3 {
		t.Errorf("authorization.k8s.io/v1 lists %d resources, want 3", len(reviews.Resources))
	}
	certs := decode[struct {
		Resources []apiResource `json:"resources"`
	}](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/apis/certificates.k8s.io/v1", nil))
	var certNames []string
	for _, r := range certs.Resources {
		certNames = append(certNames, r.Name)
	}
	if !slices.Equal(certNames, []string{"certificatesigningrequests", "certificatesigningrequests/status", "certificatesigningrequests/approval"}) {
		t.Fatalf("certificates.k8s.io/v1 resources = %v", certNames)
	}
	apps := decode[struct {
		Resources []apiResource `json:"resources"`
	}](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/apis/apps/v1", nil))
	appsByName := map[string]apiResource{}
	for _, r := range apps.Resources {
		appsByName[r.Name] = r
	}
	if rs := appsByName["replicasets"]; rs.Kind != "ReplicaSet" || !rs.Namespaced || !slices.Equal(rs.ShortNames, []string{"rs"}) || !slices.Equal(rs.Categories, []string{"all"}) {
		t.Errorf("apps/v1 replicasets = %+v", rs)
	}
	if sc := appsByName["replicasets/scale"]; sc.Kind != "Scale" || sc.Group != "autoscaling" || sc.Version != "v1" || !slices.Equal(sc.Verbs, []string{"get", "patch", "update"}) {
		t.Errorf("apps/v1 replicasets/scale = %+v", sc)
	}
	for _, name := range []string{"replicasets/status", "deployments/status"} {
		if _, ok := appsByName[name]; !ok {
			t.Errorf("apps/v1 has no %s: %+v", name, apps.Resources)
		}
	}
	if d := appsByName["deployments"]; d.Kind != "Deployment" || !d.Namespaced || !slices.Equal(d.ShortNames, []string{"deploy"}) || !slices.Equal(d.Categories, []string{"all"}) {
		t.Errorf("apps/v1 deployments = %+v", d)
	}
	if sc := appsByName["deployments/scale"]; sc.Kind != "Scale" || sc.Group != "autoscaling" || sc.Version != "v1" {
		t.Errorf("apps/v1 deployments/scale = %+v", sc)
	}
	if ds := appsByName["daemonsets"]; ds.Kind != "DaemonSet" || !ds.Namespaced || !slices.Equal(ds.ShortNames, []string{"ds"}) || !slices.Equal(ds.Categories, []string{"all"}) {
		t.Errorf("apps/v1 daemonsets = %+v", ds)
	}
	if _, ok := appsByName["daemonsets/scale"]; ok {
		t.Errorf("apps/v1 daemonsets have a scale subresource")
	}
	if ss := appsByName["statefulsets"]; ss.Kind != "StatefulSet" || !ss.Namespaced || !slices.Equal(ss.ShortNames, []string{"sts"}) || !slices.Equal(ss.Categories, []string{"all"}) {
		t.Errorf("apps/v1 statefulsets = %+v", ss)
	}
	if sc := appsByName["statefulsets/scale"]; sc.Kind != "Scale" || sc.Group != "autoscaling" || sc.Version != "v1" {
		t.Errorf("apps/v1 statefulsets/scale = %+v", sc)
	}
	if _, ok := appsByName["replicasets/status"]; !ok {
		t.Errorf("apps/v1 resources = %+v", apps.Resources)
	}
	// A controller revision is immutable history: no status, no scale,
	// not in "all" (kubectl get all leaves it out, as in Kubernetes).
	if cr := appsByName["controllerrevisions"]; cr.Kind != "ControllerRevision" || !cr.Namespaced || len(cr.Categories) != 0 {
		t.Errorf("apps/v1 controllerrevisions = %+v", cr)
	}
	if _, ok := appsByName["controllerrevisions/status"]; ok {
		t.Errorf("apps/v1 serves controllerrevisions/status: %+v", apps.Resources)
	}

	list := decode[struct {
		Kind         string        `json:"kind"`
		GroupVersion string        `json:"groupVersion"`
		Resources    []apiResource `json:"resources"`
	}](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1", nil))
	if list.Kind != "APIResourceList" || list.GroupVersion != "v1" {
		t.Fatalf("/api/v1 kind %q groupVersion %q", list.Kind, list.GroupVersion)
	}
	byName := map[string]apiResource{}
	for _, r := range list.Resources {
		if _, dup := byName[r.Name]; dup {
			t.Errorf("%s listed twice", r.Name)
		}
		byName[r.Name] = r
	}
	for _, tc := range []struct {
		name, kind string
		namespaced bool
		verbs      []string
	}{
		{"pods", "Pod", true, []string{"create", "delete", "get", "list", "patch", "update", "watch"}},
		{"pods/status", "Pod", true, []string{"get", "patch", "update"}},
		{"pods/binding", "Binding", true, []string{"create"}},
		{"pods/log", "Pod", true, []string{"get"}},
		{"nodes/images", "Node", false, []string{"create"}},
		{"replicationcontrollers/scale", "Scale", true, []string{"get", "patch", "update"}},
		{"nodes", "Node", false, nil},
		{"nodes/status", "Node", false, nil},
		{"namespaces", "Namespace", false, nil},
		{"namespaces/status", "Namespace", false, nil},
		{"services", "Service", true, nil},
		{"endpoints", "Endpoints", true, nil},
	} {
		r, ok := byName[tc.name]
		if !ok {
			t.Errorf("/api/v1 does not list %s", tc.name)
			continue
		}
		if r.Kind != tc.kind || r.Namespaced != tc.namespaced {
			t.Errorf("%s: kind %q namespaced %v", tc.name, r.Kind, r.Namespaced)
		}
		if tc.verbs != nil && !slices.Equal(r.Verbs, tc.verbs) {
			t.Errorf("%s: verbs %v, want %v", tc.name, r.Verbs, tc.verbs)
		}
	}
	if _, ok := byName["endpoints/status"]; ok {
		t.Errorf("endpoints/status is listed but endpoints have no status")
	}
	if r := byName["pods"]; !slices.Contains(r.ShortNames, "po") {
		t.Errorf("pods short names %v", r.ShortNames)
	}
}
