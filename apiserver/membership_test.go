package apiserver

import (
	"net/http"
	"testing"
)

func TestMembershipEndpoints(t *testing.T) {
	e := newTestEnv(t)
	node := withToken(nodeCredential)
	for _, tc := range []struct {
		name, method, path string
		body               any
		opts               []reqOpt
		code               int
	}{
		{"node refused", http.MethodPost, "/orch/v1/cluster/transfer-leader", map[string]string{}, []reqOpt{node}, http.StatusForbidden},
		{"remove an unknown master", http.MethodDelete, "/orch/v1/cluster/masters/nobody", nil, nil, http.StatusNotFound},
		{"add without an address", http.MethodPost, "/orch/v1/cluster/masters", map[string]string{"name": "m9"}, nil, http.StatusBadRequest},
		{"bad body", http.MethodPost, "/orch/v1/cluster/masters", "{", nil, http.StatusBadRequest},
		{"transfer to an unknown master", http.MethodPost, "/orch/v1/cluster/transfer-leader", map[string]string{"to": "nobody"}, nil, http.StatusNotFound},
		{"transfer to the leader itself", http.MethodPost, "/orch/v1/cluster/transfer-leader", map[string]string{"to": "m1"}, nil, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.expectCode(t, tc.code, tc.method, tc.path, tc.body, tc.opts...)
		})
	}
}
