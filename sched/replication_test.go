package sched

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// t0 is "now" in these tests.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

const rcUID = "rc-uid"

// testRC returns an RC "default/web" selecting app=web with the given replicas.
func testRC(replicas int32) *v1.ReplicationController {
	return &v1.ReplicationController{
		TypeMeta: v1.TypeMeta{Kind: "ReplicationController", APIVersion: "v1"},
		ObjectMeta: v1.ObjectMeta{
			Name: "web", Namespace: "default", UID: rcUID, Generation: 7,
			Labels: map[string]string{"app": "web"},
		},
		Spec: v1.ReplicationControllerSpec{
			Replicas: &replicas,
			Selector: map[string]string{"app": "web"},
			Template: &v1.PodTemplateSpec{
				ObjectMeta: v1.ObjectMeta{
					Labels:      map[string]string{"app": "web", "tier": "front"},
					Annotations: map[string]string{"note": "hello"},
				},
				Spec: v1.PodSpec{
					Containers: []v1.Container{{
						Name: "c", Image: "nginx", Command: []string{"nginx", "-g"},
						Env: []v1.EnvVar{{Name: "A", Value: "1"}},
					}},
					NodeSelector: map[string]string{"disk": "ssd"},
					Tolerations:  []v1.Toleration{{Key: "k", Operator: "Exists"}},
				},
			},
		},
	}
}

type podOpt func(*v1.Pod)

// testPod returns a pod of "default" owned by testRC, fully labeled, running
// and ready on n1 since an hour before t0, created two hours before t0.
func testPod(name string, opts ...podOpt) *v1.Pod {
	yes := true
	p := &v1.Pod{
		ObjectMeta: v1.ObjectMeta{
			Name: name, Namespace: "default", UID: "uid-" + name,
			CreationTimestamp: v1.NewTime(t0.Add(-2 * time.Hour)),
			Labels:            map[string]string{"app": "web", "tier": "front"},
			OwnerReferences: []v1.OwnerReference{{
				APIVersion: "v1", Kind: "ReplicationController", Name: "web", UID: rcUID, Controller: &yes,
			}},
		},
		Spec: v1.PodSpec{NodeName: "n1"},
		Status: v1.PodStatus{
			Phase: v1.PodRunning,
			Conditions: []v1.PodCondition{{
				Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: v1.NewTime(t0.Add(-time.Hour)),
			}},
		},
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func orphan() podOpt { return func(p *v1.Pod) { p.OwnerReferences = nil } }

func controlledBy(name, uid string) podOpt {
	return func(p *v1.Pod) {
		yes := true
		p.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: name, UID: uid, Controller: &yes}}
	}
}

// nonControllerOwner leaves the pod with an owner that is not its controller.
func nonControllerOwner() podOpt {
	return func(p *v1.Pod) {
		p.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "cm", UID: "cm-uid"}}
	}
}

func withLabels(m map[string]string) podOpt { return func(p *v1.Pod) { p.Labels = m } }
func onNode(n string) podOpt                { return func(p *v1.Pod) { p.Spec.NodeName = n } }
func inNamespace(ns string) podOpt          { return func(p *v1.Pod) { p.Namespace = ns } }
func inPhase(ph string) podOpt              { return func(p *v1.Pod) { p.Status.Phase = ph } }
func created(t time.Time) podOpt            { return func(p *v1.Pod) { p.CreationTimestamp = v1.NewTime(t) } }
func notCreated() podOpt                    { return func(p *v1.Pod) { p.CreationTimestamp = v1.Time{} } }

func terminating() podOpt {
	return func(p *v1.Pod) { ts := v1.NewTime(t0.Add(-time.Minute)); p.DeletionTimestamp = &ts }
}

func notReady() podOpt {
	return func(p *v1.Pod) { p.Status.Conditions[0].Status = v1.ConditionFalse }
}

func readySince(t time.Time) podOpt {
	return func(p *v1.Pod) { p.Status.Conditions[0].LastTransitionTime = v1.NewTime(t) }
}

func noReadyTime() podOpt {
	return func(p *v1.Pod) { p.Status.Conditions[0].LastTransitionTime = v1.Time{} }
}

func names(pods []*v1.Pod) []string {
	out := []string{}
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func key(rc *v1.ReplicationController) string { return ExpectationsKey(rc.Namespace, rc.Name, rc.UID) }

// fakeClock is a settable clock for Expectations.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestPlanReplicationClaims(t *testing.T) {
	other := map[string]string{"app": "db"}
	tests := []struct {
		name        string
		rc          func(*v1.ReplicationController)
		pods        []*v1.Pod
		wantAdopt   []string
		wantRelease []string
		wantActive  int32
	}{
		{name: "owned matching pod is kept", pods: []*v1.Pod{testPod("a")},
			wantAdopt: []string{}, wantRelease: []string{}, wantActive: 1},
		{name: "orphan matching pod is adopted", pods: []*v1.Pod{testPod("a", orphan())},
			wantAdopt: []string{"a"}, wantRelease: []string{}, wantActive: 1},
		{name: "pod with a non-controller owner is adopted", pods: []*v1.Pod{testPod("a", nonControllerOwner())},
			wantAdopt: []string{"a"}, wantRelease: []string{}, wantActive: 1},
		{name: "orphan not matching is ignored", pods: []*v1.Pod{testPod("a", orphan(), withLabels(other))},
			wantAdopt: []string{}, wantRelease: []string{}, wantActive: 0},
		{name: "owned pod no longer matching is released", pods: []*v1.Pod{testPod("a", withLabels(other))},
			wantAdopt: []string{}, wantRelease: []string{"a"}, wantActive: 0},
		{name: "owned pod without labels is released", pods: []*v1.Pod{testPod("a", withLabels(nil))},
			wantAdopt: []string{}, wantRelease: []string{"a"}, wantActive: 0},
		{name: "pod of another controller is left alone", pods: []*v1.Pod{testPod("a", controlledBy("other", "other-uid"))},
			wantAdopt: []string{}, wantRelease: []string{}, wantActive: 0},
		{name: "pod of an earlier RC with the same name is left alone", pods: []*v1.Pod{testPod("a", controlledBy("web", "old-uid"))},
			wantAdopt: []string{}, wantRelease: []string{}, wantActive: 0},
		{name: "terminating orphan is not adopted", pods: []*v1.Pod{testPod("a", orphan(), terminating())},
			wantAdopt: []string{}, wantRelease: []string{}, wantActive: 0},
		{name: "finished orphan is not adopted", pods: []*v1.Pod{testPod("a", orphan(), inPhase(v1.PodSucceeded)), testPod("b", orphan(), inPhase(v1.PodFailed))},
			wantAdopt: []string{}, wantRelease: []string{}, wantActive: 0},
		{name: "terminating owned pod is not released", pods: []*v1.Pod{testPod("a", withLabels(other), terminating())},
			wantAdopt: []string{}, wantRelease: []string{}, wantActive: 0},
		{name: "pod of another namespace is ignored", pods: []*v1.Pod{testPod("a", orphan(), inNamespace("kube")), testPod("b", inNamespace("kube"), withLabels(other))},
			wantAdopt: []string{}, wantRelease: []string{}, wantActive: 0},
		{name: "RC being deleted neither adopts nor releases",
			rc:        func(rc *v1.ReplicationController) { ts := v1.NewTime(t0); rc.DeletionTimestamp = &ts },
			pods:      []*v1.Pod{testPod("a", orphan()), testPod("b", withLabels(other)), testPod("c")},
			wantAdopt: []string{}, wantRelease: []string{}, wantActive: 1},
		{name: "empty selector releases everything and adopts nothing",
			rc:        func(rc *v1.ReplicationController) { rc.Spec.Selector = nil },
			pods:      []*v1.Pod{testPod("a", orphan()), testPod("b")},
			wantAdopt: []string{}, wantRelease: []string{"b"}, wantActive: 0},
		{name: "adopt and release are sorted by name",
			pods:      []*v1.Pod{testPod("z", orphan()), testPod("y", withLabels(other)), testPod("a", orphan()), testPod("b", withLabels(other))},
			wantAdopt: []string{"a", "z"}, wantRelease: []string{"b", "y"}, wantActive: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := testRC(0)
			if tt.rc != nil {
				tt.rc(rc)
			}
			// Desired = current active, so a miscount shows as Create or Delete.
			want := tt.wantActive
			rc.Spec.Replicas = &want
			plan := PlanReplication(rc, tt.pods, nil, t0)
			if got := names(plan.Adopt); !slices.Equal(got, tt.wantAdopt) {
				t.Errorf("Adopt = %v, want %v", got, tt.wantAdopt)
			}
			if got := names(plan.Release); !slices.Equal(got, tt.wantRelease) {
				t.Errorf("Release = %v, want %v", got, tt.wantRelease)
			}
			if plan.Status.Replicas != tt.wantActive {
				t.Errorf("Status.Replicas = %d, want %d", plan.Status.Replicas, tt.wantActive)
			}
			if plan.Create != 0 || len(plan.Delete) != 0 {
				t.Errorf("Create = %d, Delete = %v, want none", plan.Create, names(plan.Delete))
			}
		})
	}
}

func TestPlanReplicationScaleUp(t *testing.T) {
	tests := []struct {
		name       string
		replicas   *int32
		noTemplate bool
		pods       []*v1.Pod
		wantCreate int
	}{
		{name: "from nothing", replicas: ptr(int32(3)), wantCreate: 3},
		{name: "owned pods count", replicas: ptr(int32(3)), pods: []*v1.Pod{testPod("a")}, wantCreate: 2},
		{name: "adopted pods count", replicas: ptr(int32(3)), pods: []*v1.Pod{testPod("a"), testPod("b", orphan())}, wantCreate: 1},
		{name: "terminating pods do not count", replicas: ptr(int32(2)), pods: []*v1.Pod{testPod("a"), testPod("b", terminating())}, wantCreate: 1},
		{name: "finished pods do not count", replicas: ptr(int32(3)),
			pods: []*v1.Pod{testPod("a"), testPod("b", inPhase(v1.PodSucceeded)), testPod("c", inPhase(v1.PodFailed))}, wantCreate: 2},
		{name: "released pods do not count", replicas: ptr(int32(1)), pods: []*v1.Pod{testPod("a", withLabels(map[string]string{"app": "x"}))}, wantCreate: 1},
		{name: "other controllers' pods do not count", replicas: ptr(int32(1)), pods: []*v1.Pod{testPod("a", controlledBy("x", "x-uid"))}, wantCreate: 1},
		{name: "not-ready and unscheduled pods count", replicas: ptr(int32(2)), pods: []*v1.Pod{testPod("a", notReady()), testPod("b", onNode(""))}, wantCreate: 0},
		{name: "nil replicas means one", replicas: nil, wantCreate: 1},
		{name: "zero replicas", replicas: ptr(int32(0)), wantCreate: 0},
		{name: "no template, nothing to create", replicas: ptr(int32(2)), noTemplate: true, wantCreate: 0},
		{name: "burst is capped", replicas: ptr(int32(MaxReplicaBurst + 100)), pods: []*v1.Pod{testPod("a")}, wantCreate: MaxReplicaBurst},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := testRC(0)
			rc.Spec.Replicas = tt.replicas
			if tt.noTemplate {
				rc.Spec.Template = nil
			}
			plan := PlanReplication(rc, tt.pods, NewExpectations(0, func() time.Time { return t0 }), t0)
			if plan.Create != tt.wantCreate {
				t.Errorf("Create = %d, want %d", plan.Create, tt.wantCreate)
			}
			if len(plan.Delete) != 0 {
				t.Errorf("Delete = %v, want none", names(plan.Delete))
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestPlanReplicationScaleDownOrder(t *testing.T) {
	old, mid, recent := t0.Add(-3*time.Hour), t0.Add(-2*time.Hour), t0.Add(-time.Hour)
	// Each case keeps `replicas` pods; the pod that must go first wins its
	// rule while losing every later rule, so dropping or reordering a rule
	// makes the case fail.
	tests := []struct {
		name     string
		replicas int32
		pods     []*v1.Pod
		want     []string
	}{
		{name: "unscheduled first", replicas: 1, pods: []*v1.Pod{
			testPod("a-scheduled", onNode("n1"), notReady(), created(recent)),
			testPod("z-unscheduled", onNode(""), created(old)),
		}, want: []string{"z-unscheduled"}},
		{name: "not ready before ready", replicas: 3, pods: []*v1.Pod{
			testPod("z-notready", onNode("n1"), notReady(), created(old)),
			testPod("a-ready", onNode("n2"), created(recent)),
			testPod("n2-b", onNode("n2"), created(old)),
			testPod("n2-c", onNode("n2"), created(old)),
		}, want: []string{"z-notready"}},
		{name: "node with most replicas before fewer", replicas: 3, pods: []*v1.Pod{
			testPod("a-alone", onNode("n1"), created(recent)),
			testPod("z-crowded", onNode("n2"), created(mid)),
			testPod("n2-b", onNode("n2"), created(old)),
			testPod("n2-c", onNode("n2"), created(old)),
		}, want: []string{"z-crowded"}},
		{name: "newer before older", replicas: 1, pods: []*v1.Pod{
			testPod("a-old", created(old)),
			testPod("z-new", created(recent)),
		}, want: []string{"z-new"}},
		{name: "missing creation time counts as newest", replicas: 1, pods: []*v1.Pod{
			testPod("a-recent", created(recent)),
			testPod("z-unknown", notCreated()),
		}, want: []string{"z-unknown"}},
		{name: "by name on a full tie", replicas: 1, pods: []*v1.Pod{
			testPod("b"),
			testPod("a"),
		}, want: []string{"a"}},
		{name: "full ranking", replicas: 1, pods: []*v1.Pod{
			testPod("keep", onNode("n3"), created(old)),
			testPod("n1-old", onNode("n1"), created(old)),
			testPod("n1-new", onNode("n1"), created(recent)),
			testPod("n2-b", onNode("n2"), created(mid)),
			testPod("n2-a", onNode("n2"), created(mid)),
			testPod("n2-notready", onNode("n2"), notReady(), created(old)),
			testPod("pending", onNode(""), notReady(), created(old)),
		}, want: []string{"pending", "n2-notready", "n2-a", "n2-b", "n1-new", "n1-old"}},
		{name: "adopted pods are candidates too", replicas: 1, pods: []*v1.Pod{
			testPod("owned", created(old)),
			testPod("orphan", orphan(), created(recent)),
		}, want: []string{"orphan"}},
		{name: "terminating and finished pods are never picked", replicas: 1, pods: []*v1.Pod{
			testPod("a-terminating", onNode(""), terminating()),
			testPod("b-failed", onNode(""), inPhase(v1.PodFailed)),
			testPod("c-succeeded", onNode(""), inPhase(v1.PodSucceeded)),
			testPod("d-old", created(old)),
			testPod("e-new", created(recent)),
		}, want: []string{"e-new"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := testRC(tt.replicas)
			plan := PlanReplication(rc, tt.pods, nil, t0)
			if got := names(plan.Delete); !slices.Equal(got, tt.want) {
				t.Errorf("Delete = %v, want %v", got, tt.want)
			}
			if plan.Create != 0 {
				t.Errorf("Create = %d, want 0", plan.Create)
			}
		})
	}
}

func TestPlanReplicationScaleDownBurstCapped(t *testing.T) {
	var pods []*v1.Pod
	for i := range MaxReplicaBurst + 10 {
		pods = append(pods, testPod(fmt.Sprintf("p%04d", i)))
	}
	plan := PlanReplication(testRC(0), pods, nil, t0)
	if len(plan.Delete) != MaxReplicaBurst {
		t.Fatalf("len(Delete) = %d, want %d", len(plan.Delete), MaxReplicaBurst)
	}
}

func TestPlanReplicationExpectations(t *testing.T) {
	clock := &fakeClock{t: t0}
	const ttl = time.Minute

	t.Run("creations in flight block creating until observed", func(t *testing.T) {
		exp := NewExpectations(ttl, clock.Now)
		rc := testRC(3)
		exp.ExpectCreations(key(rc), 2)
		pods := []*v1.Pod{testPod("a", orphan()), testPod("b", withLabels(map[string]string{"app": "x"}))}

		plan := PlanReplication(rc, pods, exp, t0)
		if plan.Create != 0 || plan.Delete != nil {
			t.Fatalf("with creations in flight: Create = %d, Delete = %v, want nothing", plan.Create, names(plan.Delete))
		}
		if !slices.Equal(names(plan.Adopt), []string{"a"}) || !slices.Equal(names(plan.Release), []string{"b"}) {
			t.Errorf("claims still happen: Adopt = %v, Release = %v", names(plan.Adopt), names(plan.Release))
		}
		if plan.Status.Replicas != 1 || plan.Status.ObservedGeneration != 7 {
			t.Errorf("status still computed: %+v", plan.Status)
		}

		exp.CreationObserved(key(rc))
		if plan := PlanReplication(rc, pods, exp, t0); plan.Create != 0 {
			t.Fatalf("one of two observed: Create = %d, want 0", plan.Create)
		}
		exp.CreationObserved(key(rc))
		if plan := PlanReplication(rc, pods, exp, t0); plan.Create != 2 {
			t.Fatalf("all observed: Create = %d, want 2", plan.Create)
		}
	})

	t.Run("deletions in flight block deleting until observed", func(t *testing.T) {
		exp := NewExpectations(ttl, clock.Now)
		rc := testRC(1)
		pods := []*v1.Pod{testPod("a"), testPod("b"), testPod("c")}
		exp.ExpectDeletions(key(rc), []string{"uid-a", "uid-b"})

		if plan := PlanReplication(rc, pods, exp, t0); plan.Delete != nil || plan.Create != 0 {
			t.Fatalf("with deletions in flight: Delete = %v, Create = %d", names(plan.Delete), plan.Create)
		}
		exp.DeletionObserved(key(rc), "uid-a")
		exp.DeletionObserved(key(rc), "uid-c") // not expected: ignored
		if plan := PlanReplication(rc, pods, exp, t0); plan.Delete != nil {
			t.Fatalf("one of two observed: Delete = %v", names(plan.Delete))
		}
		exp.DeletionObserved(key(rc), "uid-b")
		if plan := PlanReplication(rc, pods, exp, t0); len(plan.Delete) != 2 {
			t.Fatalf("all observed: Delete = %v, want 2 pods", names(plan.Delete))
		}
	})

	t.Run("expectations of another RC do not block", func(t *testing.T) {
		exp := NewExpectations(ttl, clock.Now)
		rc := testRC(2)
		exp.ExpectCreations(ExpectationsKey("default", "web", "old-uid"), 5)
		exp.ExpectCreations(ExpectationsKey("other", "web", rcUID), 5)
		if plan := PlanReplication(rc, nil, exp, t0); plan.Create != 2 {
			t.Fatalf("Create = %d, want 2", plan.Create)
		}
	})

	t.Run("expired expectations no longer block", func(t *testing.T) {
		c := &fakeClock{t: t0}
		exp := NewExpectations(ttl, c.Now)
		rc := testRC(2)
		exp.ExpectCreations(key(rc), 2)
		c.Advance(ttl)
		if plan := PlanReplication(rc, nil, exp, c.Now()); plan.Create != 0 {
			t.Fatalf("at the TTL: Create = %d, want 0", plan.Create)
		}
		c.Advance(time.Second)
		if plan := PlanReplication(rc, nil, exp, c.Now()); plan.Create != 2 {
			t.Fatalf("past the TTL: Create = %d, want 2", plan.Create)
		}
	})
}

func TestExpectations(t *testing.T) {
	const ttl = time.Minute
	tests := []struct {
		name string
		run  func(e *Expectations, c *fakeClock) bool // returns Satisfied
		want bool
	}{
		{name: "unknown key", run: func(e *Expectations, _ *fakeClock) bool { return e.Satisfied("k") }, want: true},
		{name: "creations pending", run: func(e *Expectations, _ *fakeClock) bool {
			e.ExpectCreations("k", 1)
			return e.Satisfied("k")
		}, want: false},
		{name: "zero creations", run: func(e *Expectations, _ *fakeClock) bool {
			e.ExpectCreations("k", 0)
			return e.Satisfied("k")
		}, want: true},
		{name: "creations observed", run: func(e *Expectations, _ *fakeClock) bool {
			e.ExpectCreations("k", 2)
			e.CreationObserved("k")
			e.CreationObserved("k")
			return e.Satisfied("k")
		}, want: true},
		{name: "extra observations do not bank credit", run: func(e *Expectations, _ *fakeClock) bool {
			e.ExpectCreations("k", 1)
			e.CreationObserved("k")
			e.CreationObserved("k")
			e.ExpectCreations("k", 1)
			return e.Satisfied("k")
		}, want: false},
		{name: "deletions pending", run: func(e *Expectations, _ *fakeClock) bool {
			e.ExpectDeletions("k", []string{"u1", "u2"})
			e.DeletionObserved("k", "u1")
			e.DeletionObserved("k", "u1")
			return e.Satisfied("k")
		}, want: false},
		{name: "deletions observed", run: func(e *Expectations, _ *fakeClock) bool {
			e.ExpectDeletions("k", []string{"u1", "u2"})
			e.DeletionObserved("k", "u2")
			e.DeletionObserved("k", "u1")
			return e.Satisfied("k")
		}, want: true},
		{name: "observations on another key do not count", run: func(e *Expectations, _ *fakeClock) bool {
			e.ExpectCreations("k", 1)
			e.CreationObserved("j")
			e.ExpectDeletions("j", []string{"u"})
			return e.Satisfied("k")
		}, want: false},
		{name: "a new expectation replaces the old one", run: func(e *Expectations, _ *fakeClock) bool {
			e.ExpectDeletions("k", []string{"u1"})
			e.ExpectCreations("k", 1)
			e.CreationObserved("k")
			return e.Satisfied("k")
		}, want: true},
		{name: "forget", run: func(e *Expectations, _ *fakeClock) bool {
			e.ExpectCreations("k", 3)
			e.Forget("k")
			return e.Satisfied("k")
		}, want: true},
		{name: "observing after forget is harmless", run: func(e *Expectations, _ *fakeClock) bool {
			e.ExpectCreations("k", 1)
			e.Forget("k")
			e.CreationObserved("k")
			e.DeletionObserved("k", "u")
			return e.Satisfied("k")
		}, want: true},
		{name: "not yet expired at the TTL", run: func(e *Expectations, c *fakeClock) bool {
			e.ExpectCreations("k", 1)
			c.Advance(ttl)
			return e.Satisfied("k")
		}, want: false},
		{name: "expired past the TTL", run: func(e *Expectations, c *fakeClock) bool {
			e.ExpectDeletions("k", []string{"u"})
			c.Advance(ttl + time.Nanosecond)
			return e.Satisfied("k")
		}, want: true},
		{name: "a new expectation restarts the TTL", run: func(e *Expectations, c *fakeClock) bool {
			e.ExpectCreations("k", 1)
			c.Advance(ttl - time.Second)
			e.ExpectCreations("k", 1)
			c.Advance(2 * time.Second)
			return e.Satisfied("k")
		}, want: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &fakeClock{t: t0}
			e := NewExpectations(ttl, c.Now)
			if got := tt.run(e, c); got != tt.want {
				t.Errorf("Satisfied = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestExpectationsDefaults(t *testing.T) {
	c := &fakeClock{t: t0}
	e := NewExpectations(0, c.Now)
	e.ExpectCreations("k", 1)
	c.Advance(DefaultExpectationsTTL)
	if e.Satisfied("k") {
		t.Fatal("satisfied at the default TTL")
	}
	c.Advance(time.Second)
	if !e.Satisfied("k") {
		t.Fatal("not satisfied past the default TTL")
	}
	var nilExp *Expectations
	if !nilExp.Satisfied("k") {
		t.Fatal("nil Expectations not satisfied")
	}
	if e := NewExpectations(time.Minute, nil); !e.Satisfied("k") {
		t.Fatal("nil clock: unknown key not satisfied")
	}
}

func TestExpectationsConcurrent(t *testing.T) {
	c := &fakeClock{t: t0}
	e := NewExpectations(time.Hour, c.Now)
	const n = 64
	uids := make([]string, n)
	for i := range uids {
		uids[i] = fmt.Sprintf("u%d", i)
	}
	e.ExpectCreations("create", n)
	e.ExpectDeletions("delete", uids)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			e.CreationObserved("create")
			e.DeletionObserved("delete", uids[i])
			_ = e.Satisfied("create")
			e.Forget(fmt.Sprintf("other%d", i))
		})
	}
	wg.Wait()
	if !e.Satisfied("create") || !e.Satisfied("delete") {
		t.Fatalf("after all observations: create %v, delete %v", e.Satisfied("create"), e.Satisfied("delete"))
	}
}

func TestPlanReplicationStatus(t *testing.T) {
	partial := map[string]string{"app": "web"} // matches the selector, lacks tier=front
	tests := []struct {
		name     string
		minReady int32
		pods     []*v1.Pod
		want     v1.ReplicationControllerStatus
	}{
		{name: "no pods", want: v1.ReplicationControllerStatus{ObservedGeneration: 7}},
		{name: "ready pods are available without minReadySeconds", pods: []*v1.Pod{
			testPod("a"), testPod("b", readySince(t0)), testPod("c", notReady()),
		}, want: v1.ReplicationControllerStatus{Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 2, ObservedGeneration: 7}},
		{name: "fully labeled needs every template label", pods: []*v1.Pod{
			testPod("a"), testPod("b", withLabels(partial)), testPod("c", orphan(), withLabels(partial)),
		}, want: v1.ReplicationControllerStatus{Replicas: 3, FullyLabeledReplicas: 1, ReadyReplicas: 3, AvailableReplicas: 3, ObservedGeneration: 7}},
		{name: "minReadySeconds", minReady: 10, pods: []*v1.Pod{
			testPod("long", readySince(t0.Add(-time.Hour))),
			testPod("exactly", readySince(t0.Add(-10*time.Second))),
			testPod("short", readySince(t0.Add(-9*time.Second))),
			testPod("unknown", noReadyTime()),
			testPod("notready", notReady(), readySince(t0.Add(-time.Hour))),
		}, want: v1.ReplicationControllerStatus{Replicas: 5, FullyLabeledReplicas: 5, ReadyReplicas: 4, AvailableReplicas: 2, ObservedGeneration: 7}},
		{name: "pod without a Ready condition is neither ready nor available", pods: []*v1.Pod{
			testPod("a", func(p *v1.Pod) { p.Status.Conditions = nil }),
		}, want: v1.ReplicationControllerStatus{Replicas: 1, FullyLabeledReplicas: 1, ObservedGeneration: 7}},
		{name: "inactive, released and foreign pods are not counted", pods: []*v1.Pod{
			testPod("a"),
			testPod("terminating", terminating()),
			testPod("failed", inPhase(v1.PodFailed)),
			testPod("released", withLabels(map[string]string{"app": "x"})),
			testPod("foreign", controlledBy("x", "x-uid")),
		}, want: v1.ReplicationControllerStatus{Replicas: 1, FullyLabeledReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1, ObservedGeneration: 7}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := testRC(int32(len(tt.pods)))
			rc.Spec.MinReadySeconds = tt.minReady
			plan := PlanReplication(rc, tt.pods, nil, t0)
			if !reflect.DeepEqual(plan.Status, tt.want) {
				t.Errorf("Status = %+v, want %+v", plan.Status, tt.want)
			}
		})
	}
}

func TestPlanReplicationStatusKeepsConditions(t *testing.T) {
	rc := testRC(1)
	rc.Status.Conditions = []v1.ReplicationControllerCondition{{Type: "ReplicaFailure", Status: v1.ConditionTrue, Reason: "FailedCreate"}}
	plan := PlanReplication(rc, []*v1.Pod{testPod("a")}, nil, t0)
	if !reflect.DeepEqual(plan.Status.Conditions, rc.Status.Conditions) {
		t.Fatalf("Conditions = %+v, want %+v", plan.Status.Conditions, rc.Status.Conditions)
	}
	plan.Status.Conditions[0].Reason = "changed"
	if rc.Status.Conditions[0].Reason != "FailedCreate" {
		t.Fatal("plan status aliases the RC's conditions")
	}
}

func TestPlanReplicationDoesNotModifyInputs(t *testing.T) {
	rc := testRC(1)
	pods := []*v1.Pod{
		testPod("a", orphan()), testPod("b", withLabels(map[string]string{"app": "x"})),
		testPod("c", onNode("")), testPod("d"), testPod("e", onNode("n2")),
	}
	before, _ := json.Marshal(struct {
		RC   *v1.ReplicationController
		Pods []*v1.Pod
	}{rc, pods})
	order := names(pods)
	plan := PlanReplication(rc, pods, nil, t0)
	if len(plan.Delete) != 3 {
		t.Fatalf("Delete = %v, want 3 pods", names(plan.Delete))
	}
	after, _ := json.Marshal(struct {
		RC   *v1.ReplicationController
		Pods []*v1.Pod
	}{rc, pods})
	if string(before) != string(after) {
		t.Fatalf("inputs changed:\nbefore %s\nafter  %s", before, after)
	}
	if !slices.Equal(names(pods), order) {
		t.Fatalf("input slice reordered: %v", names(pods))
	}
}

func TestPlanReplicationDeterministic(t *testing.T) {
	old := t0.Add(-3 * time.Hour)
	pods := []*v1.Pod{
		testPod("a", orphan()), testPod("b", orphan()), testPod("c", orphan(), onNode("n2")),
		testPod("r1", withLabels(map[string]string{"app": "x"})), testPod("r2", withLabels(map[string]string{"app": "x"})),
		testPod("d"), testPod("e"), testPod("f", onNode("n2")), testPod("g", onNode("n3"), created(old)),
		testPod("h", onNode("n3"), created(old)), testPod("i", notReady()), testPod("j", terminating()),
	}
	for _, replicas := range []int32{2, 20} {
		rc := testRC(replicas)
		want := PlanReplication(rc, pods, nil, t0)
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 50 {
			shuffled := slices.Clone(pods)
			if i == 0 {
				slices.Reverse(shuffled)
			} else {
				rng.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
			}
			got := PlanReplication(rc, shuffled, nil, t0)
			if got.Create != want.Create ||
				!slices.Equal(names(got.Delete), names(want.Delete)) ||
				!slices.Equal(names(got.Adopt), names(want.Adopt)) ||
				!slices.Equal(names(got.Release), names(want.Release)) ||
				!reflect.DeepEqual(got.Status, want.Status) {
				t.Fatalf("replicas %d, order %v:\ngot  %+v\nwant %+v", replicas, names(shuffled), summary(got), summary(want))
			}
		}
	}
}

func summary(p ReplicationPlan) string {
	return fmt.Sprintf("create=%d delete=%v adopt=%v release=%v status=%+v",
		p.Create, names(p.Delete), names(p.Adopt), names(p.Release), p.Status)
}

func TestPodFromTemplate(t *testing.T) {
	rc := testRC(1)
	pod := PodFromTemplate(rc)

	if pod.Kind != "Pod" || pod.APIVersion != "v1" {
		t.Errorf("TypeMeta = %+v", pod.TypeMeta)
	}
	if pod.Namespace != "default" || pod.GenerateName != "web-" || pod.Name != "" || pod.UID != "" {
		t.Errorf("namespace %q, generateName %q, name %q, uid %q", pod.Namespace, pod.GenerateName, pod.Name, pod.UID)
	}
	if !reflect.DeepEqual(pod.Labels, rc.Spec.Template.Labels) {
		t.Errorf("Labels = %v, want %v", pod.Labels, rc.Spec.Template.Labels)
	}
	if !reflect.DeepEqual(pod.Annotations, rc.Spec.Template.Annotations) {
		t.Errorf("Annotations = %v, want %v", pod.Annotations, rc.Spec.Template.Annotations)
	}
	if !reflect.DeepEqual(pod.Spec, rc.Spec.Template.Spec) {
		t.Errorf("Spec = %+v, want %+v", pod.Spec, rc.Spec.Template.Spec)
	}
	wantRef := v1.OwnerReference{APIVersion: "v1", Kind: "ReplicationController", Name: "web", UID: rcUID,
		Controller: ptr(true), BlockOwnerDeletion: ptr(true)}
	if len(pod.OwnerReferences) != 1 || !reflect.DeepEqual(pod.OwnerReferences[0], wantRef) {
		t.Errorf("OwnerReferences = %+v, want [%+v]", pod.OwnerReferences, wantRef)
	}
	if ref := pod.ControllerRef(); ref == nil || ref.UID != rcUID {
		t.Errorf("ControllerRef = %+v", ref)
	}
	// The new pod is owned and matching: planning with it counts it.
	if plan := PlanReplication(rc, []*v1.Pod{pod}, nil, t0); plan.Status.Replicas != 1 || plan.Create != 0 || len(plan.Adopt) != 0 {
		t.Errorf("plan with the new pod: %s", summary(plan))
	}
}

func TestPodFromTemplateDoesNotAlias(t *testing.T) {
	rc := testRC(1)
	before, _ := json.Marshal(rc)

	pod := PodFromTemplate(rc)
	pod.Labels["app"] = "changed"
	pod.Labels["new"] = "x"
	pod.Annotations["note"] = "changed"
	pod.Spec.NodeSelector["disk"] = "hdd"
	pod.Spec.Containers[0].Image = "changed"
	pod.Spec.Containers[0].Command[0] = "changed"
	pod.Spec.Containers[0].Env[0].Value = "changed"
	pod.Spec.Containers = append(pod.Spec.Containers[:1], v1.Container{Name: "extra"})
	pod.Spec.Tolerations[0].Key = "changed"
	*pod.OwnerReferences[0].Controller = false
	pod.OwnerReferences[0].Name = "changed"

	if after, _ := json.Marshal(rc); string(after) != string(before) {
		t.Fatalf("RC changed through the pod:\nbefore %s\nafter  %s", before, after)
	}
	if again := PodFromTemplate(rc); *again.OwnerReferences[0].Controller != true || again.Labels["app"] != "web" {
		t.Fatalf("a second pod sees the first one's changes: %+v", again.ObjectMeta)
	}
}

func TestPodFromTemplateWithoutTemplate(t *testing.T) {
	rc := testRC(1)
	rc.Spec.Template = nil
	pod := PodFromTemplate(rc)
	if pod.GenerateName != "web-" || len(pod.Spec.Containers) != 0 || pod.ControllerRef() == nil {
		t.Fatalf("pod = %+v", pod)
	}
}
