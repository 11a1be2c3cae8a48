package apiserver

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	v1 "orch.io/orch/api/v1"
)

// aggregatedAccept is what client-go (kubectl) sends for /api and /apis.
const aggregatedAccept = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json"

// TestAggregatedDiscovery: /api and /apis answer aggregated discovery when
// asked, listing every resource of the table with its scope, singular name,
// verbs, short names, categories and subresources; the legacy documents
// otherwise.
func TestAggregatedDiscovery(t *testing.T) {
	e := newTestEnv(t)
	found := map[string]apidiscoveryv2.APIResourceDiscovery{} // by group/version/resource
	for _, path := range []string{"/api", "/apis"} {
		resp := e.send(t, e.http, http.MethodGet, path, nil, withToken(e.bundle.AdminToken), withAccept(aggregatedAccept))
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != aggregatedContentType {
			t.Fatalf("%s: Content-Type %q, want %q", path, ct, aggregatedContentType)
		}
		list := decode[apidiscoveryv2.APIGroupDiscoveryList](t, e.expectCode(t, http.StatusOK, http.MethodGet, path, nil, withAccept(aggregatedAccept)))
		if list.Kind != "APIGroupDiscoveryList" || list.APIVersion != "apidiscovery.k8s.io/v2" {
			t.Fatalf("%s: %s %s", path, list.Kind, list.APIVersion)
		}
		for _, g := range list.Items {
			if (path == "/api") != (g.Name == "") {
				t.Errorf("%s lists group %q", path, g.Name)
			}
			for _, v := range g.Versions {
				if v.Freshness != apidiscoveryv2.DiscoveryFreshnessCurrent {
					t.Errorf("%s/%s freshness %q", g.Name, v.Version, v.Freshness)
				}
				for _, r := range v.Resources {
					found[g.Name+"/"+v.Version+"/"+r.Resource] = r
				}
			}
		}
	}
	for _, r := range v1.Served() {
		d, ok := found[r.Group+"/"+strings.TrimPrefix(r.GroupVersion(), r.Group+"/")+"/"+r.Name]
		if !ok {
			t.Errorf("aggregated discovery lacks %s (%s)", r.Name, r.GroupVersion())
			continue
		}
		verbs := r.Verbs
		if verbs == nil {
			verbs = allVerbs
		}
		scope := apidiscoveryv2.ScopeCluster
		if r.Namespaced {
			scope = apidiscoveryv2.ScopeNamespace
		}
		if d.ResponseKind == nil || d.ResponseKind.Kind != r.Kind || d.ResponseKind.Group != r.Group || d.Scope != scope ||
			d.SingularResource != r.Singular || !slices.Equal(d.Verbs, verbs) || !slices.Equal(d.ShortNames, r.ShortNames) ||
			!slices.Equal(d.Categories, r.Categories) {
			t.Errorf("%s: %+v", r.Name, d)
		}
		hasStatus := slices.ContainsFunc(d.Subresources, func(s apidiscoveryv2.APISubresourceDiscovery) bool { return s.Subresource == "status" })
		if hasStatus != r.HasStatus {
			t.Errorf("%s: status subresource listed %v, table says %v", r.Name, hasStatus, r.HasStatus)
		}
	}
	if len(found) != len(v1.Served()) {
		t.Errorf("aggregated discovery lists %d resources, the table has %d", len(found), len(v1.Served()))
	}
	rc := found["/v1/replicationcontrollers"]
	if i := slices.IndexFunc(rc.Subresources, func(s apidiscoveryv2.APISubresourceDiscovery) bool { return s.Subresource == "scale" }); i < 0 ||
		rc.Subresources[i].ResponseKind.Group != "autoscaling" || rc.Subresources[i].ResponseKind.Kind != "Scale" {
		t.Errorf("replicationcontrollers subresources %+v", rc.Subresources)
	}
	for _, r := range []string{"pods", "services", "replicationcontrollers"} {
		if !slices.Contains(found["/v1/"+r].Categories, "all") {
			t.Errorf("%s is not in the all category", r)
		}
	}
	// Without the aggregated media type: the legacy documents.
	if api := decode[map[string]any](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/api", nil, withAccept("application/json"))); api["kind"] != "APIVersions" {
		t.Errorf("/api with Accept application/json: %v", api["kind"])
	}
	if apis := decode[map[string]any](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/apis", nil)); apis["kind"] != "APIGroupList" {
		t.Errorf("/apis without Accept: %v", apis["kind"])
	}
}

// TestClientGoDiscovery: client-go's discovery client (kubectl's) reads
// the documents: every resource of the table, with its categories.
func TestClientGoDiscovery(t *testing.T) {
	e := newTestEnv(t)
	dc, err := discovery.NewDiscoveryClientForConfig(&rest.Config{Host: e.base, BearerToken: e.bundle.AdminToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: e.bundle.CAPEM}})
	if err != nil {
		t.Fatal(err)
	}
	_, lists, err := dc.ServerGroupsAndResources()
	if err != nil {
		t.Fatalf("ServerGroupsAndResources: %v", err)
	}
	got := map[string][]string{} // groupVersion/name → categories
	for _, l := range lists {
		for _, r := range l.APIResources {
			got[l.GroupVersion+"/"+r.Name] = r.Categories
		}
	}
	for _, r := range v1.Served() {
		cats, ok := got[r.GroupVersion()+"/"+r.Name]
		if !ok {
			t.Errorf("client-go discovery lacks %s/%s", r.GroupVersion(), r.Name)
		} else if !slices.Equal(cats, r.Categories) {
			t.Errorf("%s: categories %v, want %v", r.Name, cats, r.Categories)
		}
	}
	if _, ok := got["v1/pods/status"]; !ok {
		t.Errorf("client-go discovery lacks pods/status")
	}
}
