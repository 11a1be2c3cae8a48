package server

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

func (s *Server) serveAPIGroups(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": []any{}})
}

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
	var out []apiResource
	all := []string{"create", "delete", "get", "list", "patch", "update", "watch"}
	for _, res := range v1.Resources() {
		out = append(out, apiResource{Name: res.Name, Namespaced: res.Namespaced, Kind: res.Kind, Verbs: all, ShortNames: res.ShortNames})
		if res.HasStatus {
			out = append(out, apiResource{Name: res.Name + "/status", Namespaced: res.Namespaced, Kind: res.Kind, Verbs: []string{"get", "patch", "update"}})
		}
	}
	out = append(out,
		apiResource{Name: "replicationcontrollers/scale", Namespaced: true, Kind: "Scale", Group: "autoscaling", Version: "v1", Verbs: []string{"get", "update"}},
		apiResource{Name: "pods/binding", Namespaced: true, Kind: "Binding", Verbs: []string{"create"}},
		apiResource{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: []string{"get"}},
		apiResource{Name: "nodes/images", Namespaced: false, Kind: "Node", Verbs: []string{"create"}})
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
