package apiserver

import (
	"encoding/json"
	"net/http"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/version"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// serveVersion answers /version with Kubernetes' version.Info.
func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, version.Info(s.cfg.Version, s.cfg.BuildDate))
}

// serveAPIVersions answers /api: the core group's aggregated discovery
// when the client asks for it, else its APIVersions.
func (s *Server) serveAPIVersions(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "Accept") // the answer depends on it
	if wantsAggregated(r) {
		s.serveAggregated(w, true)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"kind": "APIVersions", "versions": []string{"v1"},
		"serverAddressByClientCIDRs": []map[string]string{{"clientCIDR": "0.0.0.0/0", "serverAddress": s.cfg.Addr}},
	})
}

// apiGroup is discovery's APIGroup (meta/v1).
type apiGroup struct {
	Kind             string                 `json:"kind,omitempty"`
	APIVersion       string                 `json:"apiVersion,omitempty"`
	Name             string                 `json:"name"`
	Versions         []groupVersionForDisco `json:"versions"`
	PreferredVersion groupVersionForDisco   `json:"preferredVersion"`
}

type groupVersionForDisco struct {
	GroupVersion string `json:"groupVersion"`
	Version      string `json:"version"`
}

// apiGroups returns the served groups other than the core group, each with
// its versions (the first one preferred).
func apiGroups() []apiGroup {
	var out []apiGroup
	idx := map[string]int{}
	for _, gv := range v1.Groups() {
		d := groupVersionForDisco{GroupVersion: gv.String(), Version: gv.Version}
		i, ok := idx[gv.Group]
		if !ok {
			idx[gv.Group] = len(out)
			out = append(out, apiGroup{Name: gv.Group, PreferredVersion: d})
			i = len(out) - 1
		}
		out[i].Versions = append(out[i].Versions, d)
	}
	return out
}

// serveAPIGroups answers /apis: the other groups' aggregated discovery
// when the client asks for it, else their APIGroupList.
func (s *Server) serveAPIGroups(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Vary", "Accept") // the answer depends on it
	if wantsAggregated(r) {
		s.serveAggregated(w, false)
		return
	}
	groups := apiGroups()
	if groups == nil {
		groups = []apiGroup{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

// serveAPIGroup answers /apis/{group} with the group's APIGroup.
func (s *Server) serveAPIGroup(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	for _, g := range apiGroups() {
		if g.Name == name {
			g.Kind, g.APIVersion = "APIGroup", "v1"
			writeJSON(w, http.StatusOK, g)
			return
		}
	}
	writeError(w, v1.NewNotFound("group", name))
}

// serveGroupResourceList answers /apis/{group}/{version} with its
// APIResourceList.
func (s *Server) serveGroupResourceList(w http.ResponseWriter, r *http.Request) {
	group, version := r.PathValue("group"), r.PathValue("version")
	res := s.discoveryResources(group, version)
	if len(res) == 0 {
		writeError(w, v1.NewNotFound("groupVersion", group+"/"+version))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "APIResourceList", "apiVersion": "v1",
		"groupVersion": group + "/" + version, "resources": flatten(res)})
}

// discoResource is one resource of a group version with its subresources,
// from which both the legacy APIResourceList and aggregated discovery are
// written.
type discoResource struct {
	apiResource
	subs []apiResource // named "<resource>/<subresource>"
}

// discoveryResources lists the resources of a group version ("" and "v1"
// for the core group) with their subresources, in table order.
func (s *Server) discoveryResources(group, version string) []discoResource {
	var out []discoResource
	for _, r := range v1.GroupResources(group, version) {
		verbs := r.Verbs
		if verbs == nil {
			verbs = allVerbs
		}
		d := discoResource{apiResource: apiResource{Name: r.Name, SingularName: r.Singular, Namespaced: r.Namespaced, Kind: r.Kind,
			Verbs: verbs, ShortNames: r.ShortNames, Categories: r.Categories}}
		if r.HasStatus {
			d.subs = append(d.subs, apiResource{Name: r.Name + "/status", Namespaced: r.Namespaced, Kind: r.Kind, Verbs: []string{"get", "patch", "update"}})
		}
		if r.HasScale() {
			d.subs = append(d.subs, apiResource{Name: r.Name + "/scale", Namespaced: r.Namespaced, Kind: "Scale",
				Group: "autoscaling", Version: "v1", Verbs: []string{"get", "patch", "update"}})
		}
		if validSub(r, subApproval) {
			d.subs = append(d.subs, apiResource{Name: r.Name + "/" + subApproval, Kind: r.Kind, Verbs: []string{"get", "patch", "update"}})
		}
		if group == "" {
			d.subs = append(d.subs, coreSubresources[r.Name]...)
			if r.Name == "serviceaccounts" && s.cfg.ServiceAccounts != nil {
				d.subs = append(d.subs, apiResource{Name: "serviceaccounts/token", Namespaced: true, Kind: "TokenRequest",
					Group: v1.AuthenticationGroup, Version: "v1", Verbs: []string{"create"}})
			}
		}
		out = append(out, d)
	}
	return out
}

// coreSubresources are the core group's subresources besides status and
// scale: binding, log and images. Read-only.
var coreSubresources = map[string][]apiResource{
	"pods": {
		{Name: "pods/binding", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
		{Name: "pods/ephemeralcontainers", Namespaced: true, Kind: "Pod", Verbs: []string{"get", "patch", "update"}},
		{Name: "pods/eviction", Namespaced: true, Kind: "Eviction", Group: v1.PolicyGroup, Version: "v1", Verbs: []string{"create"}},
		{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: []string{"get"}},
		{Name: "pods/exec", Namespaced: true, Kind: "PodExecOptions", Verbs: []string{"create", "get"}},
		{Name: "pods/attach", Namespaced: true, Kind: "PodAttachOptions", Verbs: []string{"create", "get"}},
		{Name: "pods/portforward", Namespaced: true, Kind: "PodPortForwardOptions", Verbs: []string{"create", "get"}},
	},
	"nodes": {{Name: "nodes/images", Namespaced: false, Kind: "Node", Verbs: []string{"create"}}},
}

// flatten lists resources and subresources as an APIResourceList does.
func flatten(res []discoResource) []apiResource {
	out := []apiResource{}
	for _, r := range res {
		out = append(out, r.apiResource)
		out = append(out, r.subs...)
	}
	return out
}

// allVerbs are the verbs of a resource whose table entry names none.
var allVerbs = []string{"create", "delete", "get", "list", "patch", "update", "watch"}

// apiResource is discovery's APIResource (meta/v1).
type apiResource struct {
	Name         string   `json:"name"`
	SingularName string   `json:"singularName"`
	Namespaced   bool     `json:"namespaced"`
	Group        string   `json:"group,omitempty"`
	Version      string   `json:"version,omitempty"`
	Kind         string   `json:"kind"`
	Verbs        []string `json:"verbs"`
	ShortNames   []string `json:"shortNames,omitempty"`
	Categories   []string `json:"categories,omitempty"`
}

func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request) {
	out := flatten(s.discoveryResources("", v1.APIVersion))
	writeJSON(w, http.StatusOK, map[string]any{"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": "v1", "resources": out})
}

func (s *Server) serveMembers(w http.ResponseWriter, r *http.Request) {
	leader, members, err := s.backend.Members()
	if err != nil {
		writeError(w, v1.NewServiceUnavailable(err.Error()))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"leader": leader, "members": members})
}
