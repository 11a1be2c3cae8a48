package apiserver

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
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
}

// kubectl scale PATCHes the scale subresource with a merge patch.
func TestScalePatch(t *testing.T) {
	e := newTestEnv(t)
	e.createRC(t, "web", 2)
	scalePath := rcPath("web") + "/scale"
	replicas := func() int32 {
		var rc v1.ReplicationController
		if err := e.admin.Get(testCtx(t), "replicationcontrollers", v1.DefaultNamespace, "web", &rc); err != nil {
			t.Fatal(err)
		}
		return *rc.Spec.Replicas
	}
	cur := decode[v1.Scale](t, e.expectCode(t, http.StatusOK, http.MethodGet, scalePath, nil))
	tests := []struct {
		name  string
		ct    string
		patch string
		code  int
		want  int32 // replicas after
	}{
		{name: "merge", ct: mergePatchType, patch: `{"spec":{"replicas":3}}`, code: http.StatusOK, want: 3},
		{name: "strategic", ct: strategicPatchType, patch: `{"spec":{"replicas":4}}`, code: http.StatusOK, want: 4},
		{name: "json", ct: jsonPatchType, patch: `[{"op":"replace","path":"/spec/replicas","value":5}]`, code: http.StatusOK, want: 5},
		{name: "json test of the current replicas fails", ct: jsonPatchType,
			patch: `[{"op":"test","path":"/spec/replicas","value":1},{"op":"replace","path":"/spec/replicas","value":6}]`, code: http.StatusUnprocessableEntity, want: 5},
		{name: "negative", ct: mergePatchType, patch: `{"spec":{"replicas":-1}}`, code: http.StatusUnprocessableEntity, want: 5},
		{name: "an unknown field", ct: mergePatchType, patch: `{"spec":{"replicas":6,"bogus":1}}`, code: http.StatusBadRequest, want: 5},
		{name: "another kind", ct: mergePatchType, patch: `{"kind":"Pod","spec":{"replicas":6}}`, code: http.StatusBadRequest, want: 5},
		{name: "a stale resourceVersion", ct: mergePatchType,
			patch: `{"metadata":{"resourceVersion":"` + cur.ResourceVersion + `"},"spec":{"replicas":6}}`, code: http.StatusConflict, want: 5},
		{name: "an apply needs a field manager", ct: "application/apply-patch+yaml", patch: `{apiVersion: autoscaling/v1, kind: Scale, spec: {replicas: 6}}`,
			code: http.StatusUnprocessableEntity, want: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := e.expectCode(t, tt.code, http.MethodPatch, scalePath, tt.patch, withContentType(tt.ct))
			if tt.code == http.StatusOK {
				if got := decode[v1.Scale](t, b); got.Kind != "Scale" || got.Spec.Replicas != tt.want {
					t.Errorf("answer %s", b)
				}
			}
			if got := replicas(); got != tt.want {
				t.Errorf("replicas %d, want %d", got, tt.want)
			}
		})
	}
	e.expectStatus(t, http.StatusNotFound, http.MethodPatch, rcPath("nope")+"/scale", `{"spec":{"replicas":1}}`, withContentType(mergePatchType))
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

// behindBackend is a master that has not applied the latest writes: its
// store is an empty one until a read barrier catches it up.
type behindBackend struct {
	Backend
	behind atomic.Bool
	empty  *fsm.Store
}

func (b *behindBackend) Store() *fsm.Store {
	if b.behind.Load() {
		return b.empty
	}
	return b.Backend.Store()
}

func (b *behindBackend) ReadBarrier(ctx context.Context) (uint64, error) {
	b.behind.Store(false)
	return b.Backend.ReadBarrier(ctx)
}

// A scale PUT on a master that forwarded the object's create and has not
// applied it yet reads the object after a read barrier instead of
// answering 404 (as updates and patches do).
func TestScaleOnAMasterBehind(t *testing.T) {
	empty, err := fsm.NewStore(16)
	if err != nil {
		t.Fatal(err)
	}
	var bb *behindBackend
	e := newTestEnv(t, withBackend(func(c Backend) Backend {
		bb = &behindBackend{Backend: c, empty: empty}
		return bb
	}))
	e.createRC(t, "web", 2)
	bb.behind.Store(true)
	b := e.expectCode(t, http.StatusOK, http.MethodPut, rcPath("web")+"/scale", v1.Scale{Spec: v1.ScaleSpec{Replicas: 4}})
	if got := decode[v1.Scale](t, b); got.Spec.Replicas != 4 {
		t.Fatalf("PUT scale answered %s", b)
	}
	bb.behind.Store(true)
	e.expectStatus(t, http.StatusNotFound, http.MethodPut, rcPath("nope")+"/scale", v1.Scale{Spec: v1.ScaleSpec{Replicas: 1}})
}
