package sched

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func TestPassBindsAndExplainsWhatItCannotPlace(t *testing.T) {
	p := newFakeProposer(t)
	for i := 0; i < 3; i++ {
		p.create(t, readyNode(fmt.Sprintf("n%d", i), "2", "4Gi", nil))
	}
	for i := 0; i < 6; i++ {
		p.create(t, pendingPod(fmt.Sprintf("p%d", i), "500m"))
	}
	p.create(t, pendingPod("huge", "16"))
	other := pendingPod("other", "1")
	other.Spec.SchedulerName = "someone-else"
	p.create(t, other)
	s := NewScheduler(SchedulerConfig{Store: p.store, Proposer: p, Rand: seeded()})
	n, err := s.Pass(context.Background(), p.store())
	if err != nil || n != 6 {
		t.Fatalf("bound %d (%v), want 6", n, err)
	}
	for i := 0; i < 6; i++ {
		pod := p.pod(t, fmt.Sprintf("p%d", i))
		c := pod.Status.Condition(v1.PodScheduled)
		if pod.Spec.NodeName == "" || c == nil || c.Status != v1.ConditionTrue {
			t.Fatalf("p%d: node %q condition %+v", i, pod.Spec.NodeName, c)
		}
	}
	huge := p.pod(t, "huge")
	c := huge.Status.Condition(v1.PodScheduled)
	if huge.Spec.NodeName != "" || c == nil || c.Status != v1.ConditionFalse || c.Message != "0/3 nodes are available: 3 Insufficient cpu." {
		t.Fatalf("huge: node %q condition %+v", huge.Spec.NodeName, c)
	}
	if o := p.pod(t, "other"); o.Spec.NodeName != "" || len(o.Status.Conditions) != 0 {
		t.Fatalf("a pod for another scheduler was touched: node %q conditions %+v", o.Spec.NodeName, o.Status.Conditions)
	}
	// A second pass with nothing new writes nothing (the condition already says so).
	before := p.store().Index()
	if n, err := s.Pass(context.Background(), p.store()); err != nil || n != 0 {
		t.Fatalf("second pass: %d, %v", n, err)
	}
	if after := p.store().Index(); after != before {
		t.Fatalf("an idle pass wrote entries %d..%d", before, after)
	}
}

func TestRunSchedulesWhenABigEnoughNodeArrives(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, readyNode("small", "1", "4Gi", nil))
	p.create(t, pendingPod("big", "8"))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		NewScheduler(SchedulerConfig{Store: p.store, Proposer: p, Resync: time.Hour}).Run(ctx)
		close(done)
	}()
	waitFor(t, "big marked unschedulable", func() bool {
		c := p.pod(t, "big").Status.Condition(v1.PodScheduled)
		return c != nil && c.Status == v1.ConditionFalse && strings.Contains(c.Message, "Insufficient cpu")
	})
	// Resync is an hour: only the change itself can wake the loop.
	p.create(t, readyNode("large", "16", "64Gi", nil))
	waitFor(t, "big bound to the large node", func() bool { return p.pod(t, "big").Spec.NodeName == "large" })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRelevantIgnoresOtherSchedulersPods(t *testing.T) {
	p := newFakeProposer(t)
	other := pendingPod("other", "1")
	other.Spec.SchedulerName = "someone-else"
	p.create(t, other)
	p.create(t, pendingPod("mine", "1"))
	evs, _, _, _, err := p.store().Feed().Since(0)
	if err != nil {
		t.Fatal(err)
	}
	var otherEv, mineEv []fsm.Event
	for _, ev := range evs {
		switch ev.Record.Key() {
		case "default/other":
			otherEv = append(otherEv, ev)
		case "default/mine":
			mineEv = append(mineEv, ev)
		}
	}
	if relevant(otherEv, waiting{pods: 1}) {
		t.Fatal("another scheduler's pod woke the scheduler")
	}
	if !relevant(mineEv, waiting{}) {
		t.Fatal("a pending pod of ours did not wake the scheduler")
	}
}

// A pod whose required affinity waits for another pod is placed as soon as
// that pod is bound, without waiting for a resync.
func TestRunPlacesAPodOnceThePodItFollowsIsBound(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, readyNode("n0", "2", "4Gi", map[string]string{v1.LabelHostname: "n0"}))
	leader := map[string]string{"app": "leader"}
	p.create(t, withAffinity(labelled("follower", "", nil), requiredAffinity(term(leader, v1.LabelHostname))))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		NewScheduler(SchedulerConfig{Store: p.store, Proposer: p, Resync: time.Hour}).Run(ctx)
		close(done)
	}()
	waitFor(t, "follower marked unschedulable", func() bool {
		c := p.pod(t, "follower").Status.Condition(v1.PodScheduled)
		return c != nil && c.Status == v1.ConditionFalse && strings.Contains(c.Message, "didn't match pod affinity rules")
	})
	// Bound at creation (as by another scheduler): only this change can
	// wake the loop.
	p.create(t, on(labelled("leader", "", leader), "n0"))
	waitFor(t, "follower bound next to the leader", func() bool { return p.pod(t, "follower").Spec.NodeName == "n0" })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}

func TestRelevantBoundPodsWhenAPodWaitsForPods(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, on(pendingPod("bound", "1"), "n0"))
	evs, _, _, _, err := p.store().Feed().Since(0)
	if err != nil {
		t.Fatal(err)
	}
	if relevant(evs, waiting{pods: 1}) {
		t.Fatal("a bound pod woke the scheduler while no pod waits for pods")
	}
	if !relevant(evs, waiting{pods: 1, forPods: true}) {
		t.Fatal("a bound pod did not wake the scheduler while a pod waits for pods")
	}
}

// A pod held back by a DoNotSchedule spread constraint is placed as soon
// as a pod bound in another domain raises the minimum, without a resync.
func TestRunPlacesASpreadPodOnceAnotherDomainCatchesUp(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, zoned("a0", "a", nil))
	p.create(t, zoned("b0", "b", nil))
	web := map[string]string{"app": "web"}
	p.create(t, on(labelled("w-a", "", web), "a0"))
	ignore := v1.NodeInclusionPolicyIgnore
	c := spreadOn("zone", 1, v1.DoNotSchedule, web)
	c.NodeAffinityPolicy = &ignore
	pinned := withSpread(labelled("pinned", "", web), c)
	pinned.Spec.NodeSelector = map[string]string{"zone": "a"}
	p.create(t, pinned)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		NewScheduler(SchedulerConfig{Store: p.store, Proposer: p, Resync: time.Hour}).Run(ctx)
		close(done)
	}()
	waitFor(t, "pinned marked unschedulable", func() bool {
		c := p.pod(t, "pinned").Status.Condition(v1.PodScheduled)
		return c != nil && c.Status == v1.ConditionFalse && strings.Contains(c.Message, errReasonConstraintsNotMatch)
	})
	p.create(t, on(labelled("w-b", "", web), "b0"))
	waitFor(t, "pinned bound in zone a", func() bool { return p.pod(t, "pinned").Spec.NodeName == "a0" })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop after cancel")
	}
}
