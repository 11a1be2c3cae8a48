package sched

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	kptr "k8s.io/utils/ptr"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func pdbPod(name string, ready bool, owner *v1.ReplicationController) *v1.Pod {
	p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Status: v1.PodStatus{Phase: v1.PodRunning}}
	if ready {
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}
	}
	if owner != nil {
		p.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: owner.Name, UID: owner.UID, Controller: kptr.To(true)}}
	}
	return p
}

func pdbOf(minAvailable, maxUnavailable *intstr.IntOrString) *v1.PodDisruptionBudget {
	return &v1.PodDisruptionBudget{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default", Generation: 3},
		Spec: v1.PodDisruptionBudgetSpec{MinAvailable: minAvailable, MaxUnavailable: maxUnavailable,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
}

func TestPDBStatus(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default", UID: "rc-uid"},
		Spec: v1.ReplicationControllerSpec{Replicas: kptr.To(int32(5))}}
	rs := &v1.ReplicaSet{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default", UID: "rs-uid"},
		Spec: v1.ReplicaSetSpec{Replicas: kptr.To(int32(4))}}
	rcs := func(ns string, ref *v1.OwnerReference) (v1.Scalable, error) {
		switch {
		case ref.Kind == "ReplicationController" && ref.Name == rc.Name:
			return rc, nil
		case ref.Kind == "ReplicaSet" && ref.Name == rs.Name:
			return rs, nil
		}
		return nil, nil
	}
	rsPod := func(name string) *v1.Pod {
		p := pdbPod(name, true, nil)
		p.OwnerReferences = []v1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: kptr.To(true)}}
		return p
	}
	num := func(n int32) *intstr.IntOrString { return kptr.To(intstr.FromInt32(n)) }
	pct := func(s string) *intstr.IntOrString { return kptr.To(intstr.FromString(s)) }
	ready3 := []*v1.Pod{pdbPod("a", true, rc), pdbPod("b", true, rc), pdbPod("c", true, rc)}
	evicted := pdbOf(num(1), nil)
	evicted.Status.DisruptedPods = map[string]v1.Time{"a": v1.NewTime(now.Add(-time.Minute)), "b": v1.NewTime(now.Add(-3 * time.Minute))}
	deleting := pdbPod("d", true, rc)
	deleting.DeletionTimestamp = kptr.To(v1.NewTime(now))
	tests := []struct {
		name                                string
		pdb                                 *v1.PodDisruptionBudget
		pods                                []*v1.Pod
		expected, desired, healthy, allowed int32
		disrupted                           []string
	}{
		// An integer minAvailable counts the matched pods, not the RC's replicas.
		{"min available int", pdbOf(num(2), nil), ready3, 3, 2, 3, 1, nil},
		{"min available blocks", pdbOf(num(3), nil), ready3, 3, 3, 3, 0, nil},
		{"unready pods are not healthy", pdbOf(num(1), nil), []*v1.Pod{pdbPod("a", true, rc), pdbPod("b", false, rc)}, 2, 1, 1, 0, nil},
		{"deleting pods are not healthy", pdbOf(num(1), nil), append(ready3[:1:1], deleting), 2, 1, 1, 0, nil},
		// Percentages scale the RC's replicas (5), rounding up.
		{"min available percent", pdbOf(pct("50%"), nil), ready3, 5, 3, 3, 0, nil},
		{"min available percent allows", pdbOf(pct("40%"), nil), ready3, 5, 2, 3, 1, nil},
		{"max unavailable int", pdbOf(nil, num(3)), ready3, 5, 2, 3, 1, nil},
		{"max unavailable percent", pdbOf(nil, pct("30%")), ready3, 5, 3, 3, 0, nil},
		{"max unavailable over replicas", pdbOf(nil, num(9)), ready3, 5, 0, 3, 3, nil},
		// Pods without a controller are not in the expected scale.
		{"unmanaged pods", pdbOf(nil, pct("50%")), []*v1.Pod{pdbPod("x", true, nil), pdbPod("y", true, nil)}, 0, 0, 2, 0, nil},
		// A recent eviction keeps its pod out of the healthy count; an old one expires.
		{"disrupted pods", evicted, ready3, 3, 1, 2, 1, []string{"a"}},
		{"no pods", pdbOf(num(1), nil), nil, 0, 1, 0, 0, nil},
		// A replica set's pods scale with its replicas (4), beside an RC's (5).
		{"replica set percent", pdbOf(pct("50%"), nil), []*v1.Pod{rsPod("r1"), rsPod("r2")}, 4, 2, 2, 0, nil},
		{"replica set and rc", pdbOf(nil, num(8)), []*v1.Pod{rsPod("r1"), pdbPod("a", true, rc)}, 9, 1, 2, 1, nil},
		// Neither limit set: no pods expected, no disruption allowed (as Kubernetes).
		{"no limits", pdbOf(nil, nil), ready3, 0, 0, 3, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, _, err := PDBStatus(tt.pdb, tt.pods, rcs, now)
			if err != nil {
				t.Fatal(err)
			}
			if st.ExpectedPods != tt.expected || st.DesiredHealthy != tt.desired || st.CurrentHealthy != tt.healthy || st.DisruptionsAllowed != tt.allowed {
				t.Errorf("expected %d desired %d healthy %d allowed %d, want %d %d %d %d", st.ExpectedPods, st.DesiredHealthy,
					st.CurrentHealthy, st.DisruptionsAllowed, tt.expected, tt.desired, tt.healthy, tt.allowed)
			}
			if st.ObservedGeneration != 3 {
				t.Errorf("observedGeneration %d", st.ObservedGeneration)
			}
			if len(st.DisruptedPods) != len(tt.disrupted) {
				t.Errorf("disruptedPods %v, want %v", st.DisruptedPods, tt.disrupted)
			}
			for _, n := range tt.disrupted {
				if _, ok := st.DisruptedPods[n]; !ok {
					t.Errorf("disruptedPods %v lacks %s", st.DisruptedPods, n)
				}
			}
			if len(st.Conditions) != 1 {
				t.Fatalf("conditions %+v", st.Conditions)
			}
			c := st.Conditions[0]
			wantStatus, wantReason := v1.ConditionFalse, v1.InsufficientPodsReason
			if tt.allowed > 0 {
				wantStatus, wantReason = v1.ConditionTrue, v1.SufficientPodsReason
			}
			if c.Type != v1.DisruptionAllowedCondition || c.Status != wantStatus || c.Reason != wantReason || !c.LastTransitionTime.Equal(now) {
				t.Errorf("condition %+v", c)
			}
		})
	}
}

// A pod whose controller is gone fails the budget safe: nothing allowed.
func TestPDBStatusMissingController(t *testing.T) {
	gone := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "gone", UID: "gone-uid"}}
	pdb := pdbOf(nil, kptr.To(intstr.FromInt32(1)))
	pdb.Status.DisruptionsAllowed = 2
	_, _, err := PDBStatus(pdb, []*v1.Pod{pdbPod("a", true, gone)}, func(string, *v1.OwnerReference) (v1.Scalable, error) { return nil, nil }, time.Now())
	if err == nil {
		t.Fatal("no error for a pod whose controller is missing")
	}
	st := FailSafeStatus(pdb, err, time.Now())
	if st.DisruptionsAllowed != 0 || len(st.Conditions) != 1 || st.Conditions[0].Reason != v1.SyncFailedReason {
		t.Errorf("fail-safe status %+v", st)
	}
	if _, _, err := PDBStatus(pdb, []*v1.Pod{pdbPod("a", true, gone)}, func(string, *v1.OwnerReference) (v1.Scalable, error) {
		return nil, errors.New("boom")
	}, time.Now()); err == nil {
		t.Error("a lookup error was swallowed")
	}
}

// Pass writes the status through the FSM, and only when it changed.
func TestDisruptionPass(t *testing.T) {
	p := newFakeProposer(t)
	rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default", UID: "rc-uid"},
		Spec: v1.ReplicationControllerSpec{Replicas: kptr.To(int32(2)), Selector: map[string]string{"app": "web"}}}
	p.create(t, pdbPod("a", true, rc))
	p.create(t, pdbPod("b", true, rc))
	pdb := pdbOf(kptr.To(intstr.FromInt32(1)), nil)
	pdb.UID = "pdb-uid"
	p.create(t, pdb)
	c := NewDisruptionController(DisruptionConfig{Store: p.store, Proposer: p, Now: func() time.Time { return t0 }})
	if err := c.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	rec, err := p.store().Get("poddisruptionbudgets", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	got := rec.Object().(*v1.PodDisruptionBudget)
	if got.Status.DisruptionsAllowed != 1 || got.Status.CurrentHealthy != 2 || got.Status.ExpectedPods != 2 || got.Status.ObservedGeneration != 1 {
		t.Fatalf("status %+v", got.Status)
	}
	rv := got.ResourceVersion
	if err := c.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	rec, _ = p.store().Get("poddisruptionbudgets", "default", "web")
	if rec.Meta().ResourceVersion != rv {
		t.Errorf("an unchanged status was written again: %s → %s", rv, rec.Meta().ResourceVersion)
	}
}

func TestDisruptionChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p, ctx := e.p, context.Background()
		if _, err := p.store().Get("poddisruptionbudgets", "default", "pdb-scale"); err != nil {
			pdb := pdbOf(kptr.To(intstr.FromInt32(1)), nil)
			pdb.Name, pdb.UID = "pdb-scale", "uid-pdb-scale"
			pdb.Spec.Selector.MatchLabels = map[string]string{"app": "pdb-scale"}
			p.create(t, pdb)
			for i, name := range []string{"pdb-scale-a", "pdb-scale-b", "pdb-scale-c"} {
				pod := pdbPod(name, i != 1, nil)
				pod.UID, pod.Labels = "uid-"+name, map[string]string{"app": "pdb-scale"}
				p.create(t, pod)
			}
		}
		c := NewDisruptionController(DisruptionConfig{Store: p.store, Proposer: p, Pods: e.pods, Now: func() time.Time { return t0 }})
		if err := c.Pass(ctx, p.store()); err != nil {
			t.Fatal(err)
		}
		seen := p.store().Index()
		ready := flipReady(t, p, "pdb-scale-b")
		ch := changesSince(t, p.store(), seen)
		reads := readsOf(p.store(), func() {
			if err := c.pass(ctx, p.store(), ch); err != nil {
				t.Fatal(err)
			}
		})
		rec, err := p.store().Get("poddisruptionbudgets", "default", "pdb-scale")
		if err != nil {
			t.Fatal(err)
		}
		want := int32(2)
		if ready {
			want = 3
		}
		if st := rec.Object().(*v1.PodDisruptionBudget).Status; st.CurrentHealthy != want || st.DisruptionsAllowed != want-1 {
			t.Fatalf("after the flip to ready=%v: status %+v, want %d healthy", ready, st, want)
		}
		return reads
	})
}

func TestDisruptionDirtyBudgets(t *testing.T) {
	p := newFakeProposer(t)
	for _, name := range []string{"web", "db"} {
		pdb := pdbOf(kptr.To(intstr.FromInt32(1)), nil)
		pdb.Name, pdb.UID = name, "uid-pdb-"+name
		pdb.Spec.Selector.MatchLabels = map[string]string{"app": name}
		p.create(t, pdb)
	}
	podRec := func(ns string, l map[string]string) *fsm.Record {
		pod := pdbPod("x", true, nil)
		pod.Namespace, pod.Labels = ns, l
		return fsm.NewRecord(pod, nil)
	}
	rcRec := func() *fsm.Record {
		return fsm.NewRecord(&v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "rc", Namespace: "default"}}, nil)
	}
	pdbRec := func(name string) *fsm.Record {
		r, err := p.store().Get("poddisruptionbudgets", "default", name)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	web, db := map[string]string{"app": "web"}, map[string]string{"app": "db"}
	cases := []struct {
		name string
		ev   fsm.Event
		want []string
	}{
		{"pod of one budget", fsm.Event{Resource: "pods", Type: v1.Added, Record: podRec("default", web)}, []string{"web"}},
		{"pod moved between budgets", fsm.Event{Resource: "pods", Type: v1.Modified, Record: podRec("default", db),
			Prev: podRec("default", web)}, []string{"db", "web"}},
		{"pod of no budget", fsm.Event{Resource: "pods", Type: v1.Added, Record: podRec("default", map[string]string{"app": "x"})}, nil},
		{"pod of another namespace", fsm.Event{Resource: "pods", Type: v1.Added, Record: podRec("other", web)}, nil},
		{"budget", fsm.Event{Resource: "poddisruptionbudgets", Type: v1.Modified, Record: pdbRec("db")}, []string{"db"}},
		{"replication controller", fsm.Event{Resource: "replicationcontrollers", Type: v1.Modified, Record: rcRec()}, []string{"db", "web"}},
		{"something else", fsm.Event{Resource: "configmaps", Type: v1.Added, Record: podRec("default", web)}, nil},
	}
	c := NewDisruptionController(DisruptionConfig{Store: p.store, Proposer: p})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := c.dirtyBudgets(p.store(), []fsm.Event{tc.ev})
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, pdb := range got {
				names = append(names, pdb.Name)
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("dirty budgets %v, want %v", names, tc.want)
			}
		})
	}
}
