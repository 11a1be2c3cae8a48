package apiserver

import (
	"net/http"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestScale(t *testing.T) {
	e := newTestEnv(t)
	e.createRC(t, "web", 2)
	scalePath := rcPath("web") + "/scale"

	b := e.expectCode(t, http.StatusOK, http.MethodGet, scalePath, nil)
	sc := decode[v1.Scale](t, b)
	if sc.Kind != "Scale" || sc.APIVersion != "autoscaling/v1" || sc.Name != "web" || sc.Spec.Replicas != 2 ||
		sc.Status.Selector != "app=web" || sc.ResourceVersion == "" {
		t.Fatalf("GET scale = %s", b)
	}
	if c, err := e.admin.GetScale(testCtx(t), v1.DefaultNamespace, "web"); err != nil || c.Spec.Replicas != 2 {
		t.Fatalf("client GetScale = %+v, %v", c, err)
	}

	sc.Spec.Replicas = 5
	b = e.expectCode(t, http.StatusOK, http.MethodPut, scalePath, sc)
	if got := decode[v1.Scale](t, b); got.Spec.Replicas != 5 || got.ResourceVersion == sc.ResourceVersion {
		t.Fatalf("PUT scale answered %s", b)
	}
	var rc v1.ReplicationController
	if err := e.admin.Get(testCtx(t), "replicationcontrollers", v1.DefaultNamespace, "web", &rc); err != nil {
		t.Fatal(err)
	}
	if rc.Spec.Replicas == nil || *rc.Spec.Replicas != 5 {
		t.Fatalf("rc replicas = %v, want 5", rc.Spec.Replicas)
	}

	// sc still carries the old resourceVersion.
	sc.Spec.Replicas = 7
	e.expectStatus(t, http.StatusConflict, http.MethodPut, scalePath, sc)

	st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPut, scalePath, v1.Scale{Spec: v1.ScaleSpec{Replicas: -1}})
	if st.Reason != v1.ReasonInvalid {
		t.Errorf("reason %q", st.Reason)
	}
	e.expectStatus(t, http.StatusBadRequest, http.MethodPut, scalePath,
		v1.Scale{ObjectMeta: v1.ObjectMeta{Name: "other"}, Spec: v1.ScaleSpec{Replicas: 1}})
	if err := e.admin.Get(testCtx(t), "replicationcontrollers", v1.DefaultNamespace, "web", &rc); err != nil {
		t.Fatal(err)
	}
	if *rc.Spec.Replicas != 5 {
		t.Fatalf("a refused scale changed replicas to %d", *rc.Spec.Replicas)
	}

	e.expectStatus(t, http.StatusNotFound, http.MethodGet, rcPath("nope")+"/scale", nil)
	e.expectStatus(t, http.StatusNotFound, http.MethodPut, rcPath("nope")+"/scale", v1.Scale{Spec: v1.ScaleSpec{Replicas: 1}})
	e.expectStatus(t, http.StatusMethodNotAllowed, http.MethodPatch, scalePath, `{"spec":{"replicas":1}}`)
}

func TestBinding(t *testing.T) {
	e := newTestEnv(t)
	e.createNode(t, "n1")
	e.createNode(t, "n2")
	p := e.createPod(t, "p", nil)
	bindPath := podPath("p") + "/binding"

	b := e.expectCode(t, http.StatusCreated, http.MethodPost, bindPath,
		v1.Binding{ObjectMeta: v1.ObjectMeta{Name: "p", UID: p.UID}, Target: v1.ObjectReference{Kind: "Node", Name: "n1"}})
	if st := decode[v1.Status](t, b); st.Kind != "Status" || st.Status != "Success" {
		t.Fatalf("binding answered %s", b)
	}
	got := e.getPod(t, "p")
	if got.Spec.NodeName != "n1" {
		t.Fatalf("pod bound to %q, want n1", got.Spec.NodeName)
	}
	if c := got.Status.Condition(v1.PodScheduled); c == nil || c.Status != v1.ConditionTrue {
		t.Fatalf("PodScheduled condition = %+v", c)
	}

	st := e.expectStatus(t, http.StatusConflict, http.MethodPost, bindPath,
		v1.Binding{Target: v1.ObjectReference{Name: "n2"}})
	if st.Reason != v1.ReasonConflict {
		t.Errorf("reason %q", st.Reason)
	}
	if got := e.getPod(t, "p"); got.Spec.NodeName != "n1" {
		t.Fatalf("a second binding moved the pod to %q", got.Spec.NodeName)
	}

	e.createPod(t, "q", nil)
	st = e.expectStatus(t, http.StatusNotFound, http.MethodPost, podPath("q")+"/binding",
		v1.Binding{Target: v1.ObjectReference{Name: "missing"}})
	if st.Reason != v1.ReasonNotFound {
		t.Errorf("reason %q", st.Reason)
	}
	e.expectStatus(t, http.StatusNotFound, http.MethodPost, podPath("nope")+"/binding",
		v1.Binding{Target: v1.ObjectReference{Name: "n1"}})
	e.expectStatus(t, http.StatusConflict, http.MethodPost, podPath("q")+"/binding",
		v1.Binding{ObjectMeta: v1.ObjectMeta{UID: "another-uid"}, Target: v1.ObjectReference{Name: "n1"}})
	e.expectStatus(t, http.StatusBadRequest, http.MethodPost, podPath("q")+"/binding",
		v1.Binding{ObjectMeta: v1.ObjectMeta{Name: "p"}, Target: v1.ObjectReference{Name: "n1"}})
	e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPost, podPath("q")+"/binding", v1.Binding{})
	if got := e.getPod(t, "q"); got.Spec.NodeName != "" {
		t.Fatalf("a refused binding bound q to %q", got.Spec.NodeName)
	}
	// Binding by update is refused.
	q := e.getPod(t, "q")
	q.Spec.NodeName = "n1"
	e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPut, podPath("q"), q)
}
