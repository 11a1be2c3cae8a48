package apiserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestAuthentication(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		name string
		opt  reqOpt
	}{
		{"no token", withToken("")},
		{"wrong token", withToken("0123456789abcdef")},
		{"not a bearer token", func(r *http.Request) { r.Header.Set("Authorization", "Basic "+e.bundle.AdminToken) }},
		{"empty bearer", func(r *http.Request) { r.Header.Set("Authorization", "Bearer ") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := e.expectStatus(t, http.StatusUnauthorized, http.MethodGet, podPath(""), nil, tc.opt)
			if st.Reason != v1.ReasonUnauthorized {
				t.Errorf("reason %q", st.Reason)
			}
			e.expectStatus(t, http.StatusUnauthorized, http.MethodPost, podPath(""), newPod("x", nil), tc.opt)
			e.expectStatus(t, http.StatusUnauthorized, http.MethodGet, "/debug/pprof/", nil, tc.opt)
		})
	}
	// Nothing was created by the refused requests.
	e.expectStatus(t, http.StatusNotFound, http.MethodGet, podPath("x"), nil)
}

// createBoundPod creates a pod already bound to node.
func (e *testEnv) createBoundPod(t *testing.T, name, node string) {
	t.Helper()
	p := newPod(name, map[string]string{"app": "web"})
	p.Spec.NodeName = node
	if err := e.admin.Create(testCtx(t), p); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
}

// A node's certificate (system:node:n1) may do what its agent needs with
// its own Node and pods, and nothing with another node's.
func TestNodeAuthorization(t *testing.T) {
	e := newTestEnv(t)
	node := withToken(nodeCredential)
	e.createNode(t, "n1")
	e.createNode(t, "n2")
	e.createBoundPod(t, "p", "n1")
	e.createBoundPod(t, "other", "n2")
	noRelationship := "no relationship found between node 'n1' and this object"

	t.Run("read", func(t *testing.T) {
		own := url.Values{"fieldSelector": {"spec.nodeName=n1"}}.Encode()
		e.expectCode(t, http.StatusOK, http.MethodGet, podPath("")+"?"+own, nil, node)
		e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/pods?"+own, nil, node)
		e.expectCode(t, http.StatusOK, http.MethodGet, podPath("p"), nil, node)
		e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/nodes/n2", nil, node)
		e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/services", nil, node)
		e.expectCode(t, http.StatusOK, http.MethodGet, "/api", nil, node)
		w := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {"0"}, "fieldSelector": {"spec.nodeName=n1"}}, node)
		w.expect(t, v1.Added, "p")
	})
	t.Run("read others", func(t *testing.T) {
		for _, path := range []string{podPath(""), "/api/v1/pods", "/api/v1/pods?fieldSelector=spec.nodeName%3Dn2",
			podPath("") + "?watch=true"} {
			st := e.expectStatus(t, http.StatusForbidden, http.MethodGet, path, nil, node)
			if !strings.Contains(st.Message, "can only list/watch pods with spec.nodeName field selector") {
				t.Errorf("GET %s: %s", path, st.Message)
			}
		}
		st := e.expectStatus(t, http.StatusForbidden, http.MethodGet, podPath("other"), nil, node)
		if !strings.Contains(st.Message, noRelationship) {
			t.Errorf("get other pod: %s", st.Message)
		}
		e.expectStatus(t, http.StatusForbidden, http.MethodGet, "/api/v1/namespaces/default/replicationcontrollers", nil, node)
	})
	t.Run("create pod", func(t *testing.T) {
		p := newPod("q", nil)
		p.Spec.NodeName = "n1"
		st := e.expectStatus(t, http.StatusForbidden, http.MethodPost, podPath(""), p, node)
		if !strings.Contains(st.Message, `node "n1" can only create mirror pods`) {
			t.Errorf("message %q", st.Message)
		}
		e.expectStatus(t, http.StatusNotFound, http.MethodGet, podPath("q"), nil)
	})
	t.Run("update pod", func(t *testing.T) {
		cur := e.getPod(t, "p")
		cur.Labels["app"] = "db"
		e.expectStatus(t, http.StatusForbidden, http.MethodPut, podPath("p"), cur, node)
		e.expectStatus(t, http.StatusForbidden, http.MethodPatch, podPath("p"), `{"metadata":{"labels":{"app":"db"}}}`, node,
			withContentType("application/merge-patch+json"))
		if got := e.getPod(t, "p"); got.Labels["app"] != "web" {
			t.Fatalf("a refused update changed the pod: labels %v", got.Labels)
		}
	})
	t.Run("bind", func(t *testing.T) {
		e.expectStatus(t, http.StatusForbidden, http.MethodPost, podPath("p")+"/binding",
			v1.Binding{ObjectMeta: v1.ObjectMeta{Name: "p"}, Target: v1.ObjectReference{Name: "n1"}}, node)
	})
	t.Run("pod status", func(t *testing.T) {
		cur := e.getPod(t, "p")
		cur.Status.Phase = v1.PodRunning
		b := e.expectCode(t, http.StatusOK, http.MethodPut, podPath("p")+"/status", cur, node)
		if got := decode[v1.Pod](t, b); got.Status.Phase != v1.PodRunning {
			t.Fatalf("status update answered %s", b)
		}
		e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p")+"/status", `{"status":{"message":"hi","podIP":"10.244.0.7"}}`, node,
			withContentType("application/merge-patch+json"))
		if got := e.getPod(t, "p"); got.Status.Phase != v1.PodRunning || got.Status.Message != "hi" {
			t.Fatalf("pod status = %+v", got.Status)
		}
		// Another node's pod, and an IP outside n1's pod CIDR.
		st := e.expectStatus(t, http.StatusForbidden, http.MethodPatch, podPath("other")+"/status", `{"status":{"podIP":"10.244.0.9"}}`, node,
			withContentType("application/merge-patch+json"))
		if !strings.Contains(st.Message, noRelationship) {
			t.Errorf("other pod's status: %s", st.Message)
		}
		st = e.expectStatus(t, http.StatusForbidden, http.MethodPatch, podPath("p")+"/status", `{"status":{"podIP":"10.244.1.9"}}`, node,
			withContentType("application/merge-patch+json"))
		if !strings.Contains(st.Message, `node "n1" cannot set pod IP "10.244.1.9": it is outside the node's pod CIDR "10.244.0.0/24"`) {
			t.Errorf("forged pod IP: %s", st.Message)
		}
		if got := e.getPod(t, "p"); got.Status.PodIP != "10.244.0.7" {
			t.Fatalf("pod IP = %q", got.Status.PodIP)
		}
		// A missing pod is 404, as without the authorizer.
		e.expectStatus(t, http.StatusNotFound, http.MethodPatch, podPath("gone")+"/status", `{"status":{"message":"x"}}`, node,
			withContentType("application/merge-patch+json"))
	})
	t.Run("node status", func(t *testing.T) {
		var n v1.Node
		if err := e.admin.Get(testCtx(t), "nodes", "", "n1", &n); err != nil {
			t.Fatal(err)
		}
		n.Status.Conditions = []v1.NodeCondition{{Type: "Ready", Status: v1.ConditionTrue}}
		b := e.expectCode(t, http.StatusOK, http.MethodPut, "/api/v1/nodes/n1/status", n, node)
		if got := decode[v1.Node](t, b); got.Status.Condition("Ready") == nil {
			t.Fatalf("node status update answered %s", b)
		}
		st := e.expectStatus(t, http.StatusForbidden, http.MethodPatch, "/api/v1/nodes/n2/status", `{"status":{"phase":"x"}}`, node,
			withContentType("application/merge-patch+json"))
		if !strings.Contains(st.Message, `node "n1" is not allowed to modify node "n2"`) {
			t.Errorf("other node's status: %s", st.Message)
		}
		// A node registers only itself, and gets a pod CIDR from the FSM.
		e.expectStatus(t, http.StatusForbidden, http.MethodPost, "/api/v1/nodes", v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n3"}}, node)
	})
	t.Run("delete", func(t *testing.T) {
		e.expectStatus(t, http.StatusForbidden, http.MethodDelete, "/api/v1/nodes/n1", nil, node)
		e.expectStatus(t, http.StatusForbidden, http.MethodDelete, "/api/v1/namespaces/default", nil, node)
		st := e.expectStatus(t, http.StatusForbidden, http.MethodDelete, podPath("other"), nil, node)
		if !strings.Contains(st.Message, noRelationship) {
			t.Errorf("delete other pod: %s", st.Message)
		}
		e.expectStatus(t, http.StatusNotFound, http.MethodDelete, podPath("gone"), nil, node)
		// Completing a pod's graceful delete is the node's job.
		e.expectCode(t, http.StatusOK, http.MethodDelete, podPath("p"), nil, node)
		e.getPod(t, "other")
	})
	t.Run("scale", func(t *testing.T) {
		e.expectStatus(t, http.StatusForbidden, http.MethodPut, "/api/v1/namespaces/default/replicationcontrollers/r/scale",
			v1.Scale{Spec: v1.ScaleSpec{Replicas: 1}}, node)
	})
}

func TestProfilingIsAdminOnly(t *testing.T) {
	e := newTestEnv(t)
	st := e.expectStatus(t, http.StatusForbidden, http.MethodGet, "/debug/pprof/", nil, withToken(nodeCredential))
	if st.Reason != v1.ReasonForbidden {
		t.Errorf("reason %q", st.Reason)
	}
	e.expectStatus(t, http.StatusForbidden, http.MethodGet, "/debug/pprof/goroutine?debug=1", nil, withToken(nodeCredential))
	e.expectStatus(t, http.StatusForbidden, http.MethodGet, "/debug/pprof/profile?seconds=1", nil, withToken(nodeCredential))
	e.expectCode(t, http.StatusOK, http.MethodGet, "/debug/pprof/", nil)
	e.expectCode(t, http.StatusOK, http.MethodGet, "/debug/pprof/goroutine?debug=1", nil)
	e.expectStatus(t, http.StatusForbidden, http.MethodPost, "/debug/memory/free", nil, withToken(nodeCredential))
	var mem MemoryStats
	if err := json.Unmarshal(e.expectCode(t, http.StatusOK, http.MethodPost, "/debug/memory/free", nil), &mem); err != nil {
		t.Fatal(err)
	}
	// The runtime's memory classes are disjoint parts of its total.
	if mem.HeapLiveBytes == 0 || mem.HeapObjectsBytes == 0 ||
		mem.TotalBytes < mem.HeapObjectsBytes+mem.ReleasedBytes+mem.HeapUnusedBytes+mem.HeapFreeBytes {
		t.Errorf("memory after a GC: %+v", mem)
	}
}
