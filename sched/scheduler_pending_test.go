package sched

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// pendingByList is what a scheduler pass placed before the cache kept its
// pending set: the unbound pods of the store that are this scheduler's,
// not being deleted and not finished, in PodsOnNode's order.
func pendingByList(t *testing.T, s *fsm.Store) []string {
	t.Helper()
	unbound, err := s.PodsOnNode("")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, p := range unbound {
		if p.DeletionTimestamp == nil && !p.Terminal() && ours(p) {
			out = append(out, p.Namespace+"/"+p.Name+" "+p.ResourceVersion)
		}
	}
	return out
}

// TestSchedulerPendingPodsMatchUnboundList creates, binds, finishes,
// deletes and hands between schedulers random pods, and checks after each
// batch that the pods a pass places from the cache's pending set (kept
// from the feed, and rebuilt from lists) are the ones, in the order, the
// old read of every unbound pod gave.
func TestSchedulerPendingPodsMatchUnboundList(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 9))
			p := newFakeProposer(t)
			p.create(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "other", UID: "ns-other"}})
			var c schedulerCache
			for round := range 30 {
				for range 1 + rng.IntN(8) {
					randomSchedulerPodChange(t, p, rng)
				}
				s := p.store()
				if err := c.sync(s); err != nil {
					t.Fatal(err)
				}
				var fresh schedulerCache
				if err := fresh.rebuild(s); err != nil {
					t.Fatal(err)
				}
				want := pendingByList(t, s)
				for name, cache := range map[string]*schedulerCache{"kept": &c, "rebuilt": &fresh} {
					pods, err := cache.pendingPods(s)
					if err != nil {
						t.Fatal(err)
					}
					var got []string
					for _, p := range pods {
						got = append(got, p.Namespace+"/"+p.Name+" "+p.ResourceVersion)
					}
					if !slices.Equal(got, want) {
						t.Fatalf("round %d: pending pods of the %s cache %v, unbound list %v", round, name, got, want)
					}
				}
			}
		})
	}
}

// randomSchedulerPodChange makes one random change of a pod p-<n>: creates
// it (this scheduler's or another's, maybe bound or finished), binds it,
// finishes it, hands it to the other scheduler, or deletes it (gracefully
// or at once).
func randomSchedulerPodChange(t *testing.T, p *fakeProposer, rng *rand.Rand) {
	t.Helper()
	ns := []string{"default", "other"}[rng.IntN(2)]
	name := fmt.Sprintf("p-%d", rng.IntN(20))
	rec, err := p.store().Get("pods", ns, name)
	if v1.IsNotFound(err) {
		pod := pendingPod(name, "100m")
		pod.Namespace, pod.UID = ns, fmt.Sprintf("uid-%s-%s-%d", ns, name, rng.IntN(1000))
		if rng.IntN(3) == 0 {
			pod.Spec.SchedulerName = "other-scheduler"
		} else if rng.IntN(2) == 0 {
			pod.Spec.SchedulerName = v1.DefaultSchedulerName
		}
		if rng.IntN(4) == 0 {
			pod.Spec.NodeName = "n1"
		}
		if rng.IntN(5) == 0 {
			pod.Status.Phase = v1.PodSucceeded
		}
		p.create(t, pod)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	pod := v1.DeepCopy(rec.Object().(*v1.Pod))
	var cmd []byte
	switch rng.IntN(5) {
	case 0:
		pod.Status.Phase = []string{v1.PodRunning, v1.PodFailed, v1.PodSucceeded}[rng.IntN(3)]
		cmd, err = fsm.NewUpdate(pod, true)
	case 1:
		if pod.Spec.SchedulerName == "other-scheduler" {
			pod.Spec.SchedulerName = ""
		} else {
			pod.Spec.SchedulerName = "other-scheduler"
		}
		cmd, err = fsm.NewUpdate(pod, false)
	case 2:
		pod.Spec.NodeName = "n1"
		cmd, err = fsm.NewUpdate(pod, false)
	default:
		grace := []*int64{nil, ptrTo(int64(0)), ptrTo(int64(30))}[rng.IntN(3)]
		cmd, err = fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "pods", Namespace: ns, Name: name,
			GracePeriodSeconds: grace, Now: v1.NewTime(time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC))})
	}
	if err != nil {
		t.Fatal(err)
	}
	_, _ = p.Apply(t.Context(), cmd) // the FSM may refuse a change (a bound pod's node, a terminating pod's spec): no change
}

// TestSchedulerPassCostIndependentOfOtherSchedulersPods: a scheduler pass
// after the first (a resync, or a pass for a change) reads the same number
// of records beside 1,000 or 100,000 unbound pods of another scheduler: it
// read and decoded every unbound pod on each pass, and a resync rebuilt
// its cache from a list of every pod. The first pass still lists them.
func TestSchedulerPassCostIndependentOfOtherSchedulersPods(t *testing.T) {
	var first []uint64
	assertCostIndependentOf(t, useUnownedScaleEnv, func(t *testing.T, e *scaleEnv) uint64 {
		p, ctx := e.p, t.Context()
		if _, err := p.store().Get("nodes", "", "sched-cost"); v1.IsNotFound(err) {
			p.create(t, readyNode("sched-cost", "64", "256Gi", nil))
		}
		s := NewScheduler(SchedulerConfig{Store: p.store, Proposer: p})
		first = append(first, readsOf(p.store(), func() {
			if _, err := s.Pass(ctx, p.store()); err != nil {
				t.Fatal(err)
			}
		}))
		p.create(t, pendingPod(fmt.Sprintf("sched-cost-%d", e.n), "100m"))
		return readsOf(p.store(), func() {
			if n, err := s.Pass(ctx, p.store()); err != nil || n != 1 {
				t.Fatalf("the pass placed %d pods: %v", n, err)
			}
		})
	})
	if first[1] < uint64(scaleSizes[1]) {
		t.Errorf("first passes read %v records beside %v other pods, want every pod", first, scaleSizes)
	}
}
