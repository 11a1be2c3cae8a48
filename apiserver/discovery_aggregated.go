package apiserver

import (
	"encoding/json"
	"net/http"
	"strings"

	apidiscoveryv2 "k8s.io/api/apidiscovery/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

// aggregatedDiscovery is the media type of aggregated discovery, which
// clients (kubectl and client-go since Kubernetes 1.30) ask /api and /apis
// for first: every group version's resources in one document.
var aggregatedDiscovery = mediaRequest{As: "APIGroupDiscoveryList", Group: apidiscoveryv2.SchemeGroupVersion.Group, Version: apidiscoveryv2.SchemeGroupVersion.Version}

// aggregatedContentType is the Content-Type of an aggregated discovery
// document; client-go reads it to tell the document from a legacy one.
const aggregatedContentType = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"

// wantsAggregated says whether a discovery request asks for aggregated
// discovery.
func wantsAggregated(r *http.Request) bool {
	return negotiate(r.Header.Get("Accept"), aggregatedDiscovery) == aggregatedDiscovery
}

// serveAggregated answers /api (core) or /apis (every other group) with an
// APIGroupDiscoveryList.
func (s *Server) serveAggregated(w http.ResponseWriter, core bool) {
	list := apidiscoveryv2.APIGroupDiscoveryList{
		TypeMeta: metav1.TypeMeta{Kind: "APIGroupDiscoveryList", APIVersion: apidiscoveryv2.SchemeGroupVersion.String()},
		Items:    []apidiscoveryv2.APIGroupDiscovery{},
	}
	if core {
		list.Items = append(list.Items, s.groupDiscovery("", []string{v1.APIVersion}))
	} else {
		for _, g := range apiGroups() {
			var versions []string
			for _, gv := range g.Versions {
				versions = append(versions, gv.Version)
			}
			list.Items = append(list.Items, s.groupDiscovery(g.Name, versions))
		}
	}
	b, err := json.Marshal(list)
	if err != nil {
		writeError(w, err)
		return
	}
	w.Header().Set("Content-Type", aggregatedContentType)
	w.WriteHeader(http.StatusOK)
	w.Write(b)
	w.Write([]byte("\n"))
}

// groupDiscovery is one group's aggregated discovery, its versions in
// order of preference.
func (s *Server) groupDiscovery(group string, versions []string) apidiscoveryv2.APIGroupDiscovery {
	g := apidiscoveryv2.APIGroupDiscovery{ObjectMeta: metav1.ObjectMeta{Name: group}}
	for _, version := range versions {
		vd := apidiscoveryv2.APIVersionDiscovery{Version: version, Freshness: apidiscoveryv2.DiscoveryFreshnessCurrent,
			Resources: []apidiscoveryv2.APIResourceDiscovery{}}
		for _, r := range s.discoveryResources(group, version) {
			vd.Resources = append(vd.Resources, resourceDiscovery(group, version, r))
		}
		g.Versions = append(g.Versions, vd)
	}
	return g
}

// resourceDiscovery is one resource's aggregated discovery entry.
func resourceDiscovery(group, version string, r discoResource) apidiscoveryv2.APIResourceDiscovery {
	scope := apidiscoveryv2.ScopeCluster
	if r.Namespaced {
		scope = apidiscoveryv2.ScopeNamespace
	}
	d := apidiscoveryv2.APIResourceDiscovery{
		Resource:         r.Name,
		ResponseKind:     &metav1.GroupVersionKind{Group: group, Version: version, Kind: r.Kind},
		Scope:            scope,
		SingularResource: r.SingularName,
		Verbs:            r.Verbs,
		ShortNames:       r.ShortNames,
		Categories:       r.Categories,
	}
	for _, sub := range r.subs {
		g, v := group, version
		if sub.Group != "" || sub.Version != "" {
			g, v = sub.Group, sub.Version
		}
		d.Subresources = append(d.Subresources, apidiscoveryv2.APISubresourceDiscovery{
			Subresource:  strings.TrimPrefix(sub.Name, r.Name+"/"),
			ResponseKind: &metav1.GroupVersionKind{Group: g, Version: v, Kind: sub.Kind},
			Verbs:        sub.Verbs,
		})
	}
	return d
}
