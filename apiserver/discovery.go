package apiserver

import (
	"encoding/json"
	"net/http"
	"runtime"

	v1 "orch.io/orch/api/v1"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func (s *Server) serveVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{
		"major": "1", "minor": "0", "gitVersion": s.cfg.Version,
		"goVersion": runtime.Version(), "platform": runtime.GOOS + "/" + runtime.GOARCH,
	})
}

func (s *Server) serveAPIVersions(w http.ResponseWriter, r *http.Request) {
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

func (s *Server) serveAPIGroups(w http.ResponseWriter, r *http.Request) {
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
	res := v1.GroupResources(group, version)
	if len(res) == 0 {
		writeError(w, v1.NewNotFound("groupVersion", group+"/"+version))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"kind": "APIResourceList", "apiVersion": "v1",
		"groupVersion": group + "/" + version, "resources": discoveryResources(res)})
}

// discoveryResources lists resources and their subresources for discovery.
func discoveryResources(res []v1.Resource) []apiResource {
	out := []apiResource{}
	for _, r := range res {
		verbs := r.Verbs
		if verbs == nil {
			verbs = allVerbs
		}
		out = append(out, apiResource{Name: r.Name, Namespaced: r.Namespaced, Kind: r.Kind, Verbs: verbs, ShortNames: r.ShortNames})
		if r.HasStatus {
			out = append(out, apiResource{Name: r.Name + "/status", Namespaced: r.Namespaced, Kind: r.Kind, Verbs: []string{"get", "patch", "update"}})
		}
		if validSub(r, subApproval) {
			out = append(out, apiResource{Name: r.Name + "/" + subApproval, Kind: r.Kind, Verbs: []string{"get", "patch", "update"}})
		}
	}
	return out
}

// allVerbs are the verbs of a resource whose table entry names none.
var allVerbs = []string{"create", "delete", "get", "list", "patch", "update", "watch"}

type apiResource struct {
	Name       string   `json:"name"`
	Namespaced bool     `json:"namespaced"`
	Kind       string   `json:"kind"`
	Verbs      []string `json:"verbs"`
	ShortNames []string `json:"shortNames,omitempty"`
	Group      string   `json:"group,omitempty"`
	Version    string   `json:"version,omitempty"`
}

func (s *Server) serveResourceList(w http.ResponseWriter, r *http.Request) {
	out := discoveryResources(v1.GroupResources("", v1.APIVersion))
	out = append(out,
		apiResource{Name: "replicationcontrollers/scale", Namespaced: true, Kind: "Scale", Group: "autoscaling", Version: "v1", Verbs: []string{"get", "update"}},
		apiResource{Name: "pods/binding", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
		apiResource{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: []string{"get"}},
		apiResource{Name: "nodes/images", Namespaced: false, Kind: "Node", Verbs: []string{"create"}})
	out = append(out,
		apiResource{Name: "pods/exec", Namespaced: true, Kind: "PodExecOptions", Verbs: []string{"create", "get"}},
		apiResource{Name: "pods/attach", Namespaced: true, Kind: "PodAttachOptions", Verbs: []string{"create", "get"}},
		apiResource{Name: "pods/portforward", Namespaced: true, Kind: "PodPortForwardOptions", Verbs: []string{"create", "get"}})
	if s.cfg.ServiceAccounts != nil {
		out = append(out, apiResource{Name: "serviceaccounts/token", Namespaced: true, Kind: "TokenRequest",
			Group: v1.AuthenticationGroup, Version: "v1", Verbs: []string{"create"}})
	}
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
