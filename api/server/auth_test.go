package server

import (
	"net/http"
	"net/url"
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

func TestNodeTokenAuthorization(t *testing.T) {
	e := newTestEnv(t)
	node := withToken(e.bundle.NodeToken)
	e.createNode(t, "n1")
	e.createPod(t, "p", map[string]string{"app": "web"})

	t.Run("read", func(t *testing.T) {
		e.expectCode(t, http.StatusOK, http.MethodGet, podPath(""), nil, node)
		e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/pods", nil, node)
		e.expectCode(t, http.StatusOK, http.MethodGet, podPath("p"), nil, node)
		e.expectCode(t, http.StatusOK, http.MethodGet, podPath("p")+"/status", nil, node)
		e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/nodes/n1", nil, node)
		e.expectCode(t, http.StatusOK, http.MethodGet, "/api", nil, node)
		e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1", nil, node)
		w := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {"0"}}, node)
		w.expect(t, v1.Added, "p")
	})
	t.Run("create pod", func(t *testing.T) {
		st := e.expectStatus(t, http.StatusForbidden, http.MethodPost, podPath(""), newPod("q", nil), node)
		if st.Reason != v1.ReasonForbidden {
			t.Errorf("reason %q", st.Reason)
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
		e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p")+"/status", `{"status":{"message":"hi"}}`, node,
			withContentType("application/merge-patch+json"))
		if got := e.getPod(t, "p"); got.Status.Phase != v1.PodRunning || got.Status.Message != "hi" {
			t.Fatalf("pod status = %+v", got.Status)
		}
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
		// A node agent registers itself and gets a pod CIDR from the FSM.
		b = e.expectCode(t, http.StatusCreated, http.MethodPost, "/api/v1/nodes",
			v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n2"}}, node)
		if got := decode[v1.Node](t, b); got.Spec.PodCIDR == "" {
			t.Fatalf("registered node has no pod CIDR: %s", b)
		}
	})
	t.Run("delete", func(t *testing.T) {
		e.expectStatus(t, http.StatusForbidden, http.MethodDelete, "/api/v1/nodes/n1", nil, node)
		e.expectStatus(t, http.StatusForbidden, http.MethodDelete, "/api/v1/namespaces/default", nil, node)
		e.expectStatus(t, http.StatusForbidden, http.MethodPost, "/api/v1/namespaces/default/pods",
			v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "q"}, Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}, node)
		// Completing a pod's graceful delete is the node's job.
		e.expectCode(t, http.StatusOK, http.MethodDelete, podPath("p"), nil, node)
	})
	t.Run("scale", func(t *testing.T) {
		e.expectStatus(t, http.StatusForbidden, http.MethodPut, "/api/v1/namespaces/default/replicationcontrollers/r/scale",
			v1.Scale{Spec: v1.ScaleSpec{Replicas: 1}}, node)
	})
}

func TestProfilingIsAdminOnly(t *testing.T) {
	e := newTestEnv(t)
	st := e.expectStatus(t, http.StatusForbidden, http.MethodGet, "/debug/pprof/", nil, withToken(e.bundle.NodeToken))
	if st.Reason != v1.ReasonForbidden {
		t.Errorf("reason %q", st.Reason)
	}
	e.expectStatus(t, http.StatusForbidden, http.MethodGet, "/debug/pprof/goroutine?debug=1", nil, withToken(e.bundle.NodeToken))
	e.expectStatus(t, http.StatusForbidden, http.MethodGet, "/debug/pprof/profile?seconds=1", nil, withToken(e.bundle.NodeToken))
	e.expectCode(t, http.StatusOK, http.MethodGet, "/debug/pprof/", nil)
	e.expectCode(t, http.StatusOK, http.MethodGet, "/debug/pprof/goroutine?debug=1", nil)
}
