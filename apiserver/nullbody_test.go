package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A body or merge patch that is null is refused: it would decode into an
// empty object and wipe what it replaces.
func TestNullBodiesAreRefused(t *testing.T) {
	e := newTestEnv(t)
	e.createNode(t, "n1")
	e.createBoundPod(t, "keep", "n1") // the node's own pod
	node := withToken(nodeCredential)
	merge := withContentType("application/merge-patch+json")
	tests := []struct {
		name, method, path, body string
		opts                     []reqOpt
		says                     string
	}{
		{"node status", http.MethodPut, "/api/v1/nodes/n1/status", "null", []reqOpt{node}, "must be a Node object, not null"},
		{"node", http.MethodPut, "/api/v1/nodes/n1", " null\n", []reqOpt{node}, "must be a Node object, not null"},
		{"pod", http.MethodPut, podPath("keep"), "null", nil, "must be a Pod object, not null"},
		{"pod status", http.MethodPut, podPath("keep") + "/status", "null", []reqOpt{node}, "must be a Pod object, not null"},
		{"create", http.MethodPost, podPath(""), "null", nil, "must be a Pod object, not null"},
		{"merge patch", http.MethodPatch, "/api/v1/nodes/n1", "null", []reqOpt{node, merge}, "the patch must be a JSON object, not null"},
		{"status merge patch", http.MethodPatch, podPath("keep") + "/status", "null", []reqOpt{node, merge}, "the patch must be a JSON object, not null"},
		{"strategic merge patch", http.MethodPatch, podPath("keep"), "null", []reqOpt{withContentType("application/strategic-merge-patch+json")},
			"the patch must be a JSON object, not null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.listRaw(t)
			nodeBefore := e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/nodes/n1", nil)
			st := e.expectStatus(t, http.StatusBadRequest, tt.method, tt.path, tt.body, tt.opts...)
			if st.Reason != v1.ReasonBadRequest || !strings.Contains(st.Message, tt.says) {
				t.Errorf("got %s %q; want BadRequest containing %q", st.Reason, st.Message, tt.says)
			}
			if after := e.listRaw(t); after != before {
				t.Errorf("the refused request changed the pods:\nbefore %s\nafter  %s", before, after)
			}
			if after := e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/nodes/n1", nil); string(after) != string(nodeBefore) {
				t.Errorf("the refused request changed the node:\nbefore %s\nafter  %s", nodeBefore, after)
			}
		})
	}
}
