package sched

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// TestNodeLifecycleChangeCostIndependentOfOtherNodesAndPods checks that,
// between the full checks every Interval, one node's heartbeat (status or
// lease) or a pod's change costs the same reads beside 10 or 500 other
// nodes with 10 pods each.
func TestNodeLifecycleChangeCostIndependentOfOtherNodesAndPods(t *testing.T) {
	cases := []struct {
		name   string
		change func(e *nlEnv)
		// check is what the pass must have done, read after it.
		check func(t *testing.T, e *nlEnv)
	}{
		{name: "status heartbeat", change: func(e *nlEnv) { e.heartbeat("mine") },
			check: func(t *testing.T, e *nlEnv) { assertHealthy(t, e.node("mine")) }},
		{name: "lease renewal", change: func(e *nlEnv) { e.renewLease("mine", "mine") },
			check: func(t *testing.T, e *nlEnv) { assertHealthy(t, e.node("mine")) }},
		{name: "pod relabelled", change: func(e *nlEnv) {
			q := v1.DeepCopy(e.p.pod(e.t, "mine-0"))
			q.Labels = map[string]string{"relabelled": "yes"}
			cmd, err := fsm.NewUpdate(q, false)
			e.p.apply(e.t, cmd, err)
		}, check: func(t *testing.T, e *nlEnv) {}},
		{name: "unreachable node heartbeats again", change: func(e *nlEnv) {
			// The taint a silence left, then the node's heartbeat.
			q := v1.DeepCopy(e.node("mine"))
			q.Spec.Taints = []v1.Taint{{Key: UnreachableTaintKey, Effect: v1.TaintNoSchedule}}
			cmd, err := fsm.NewUpdate(q, false)
			e.p.apply(e.t, cmd, err)
			e.heartbeat("mine")
		}, check: func(t *testing.T, e *nlEnv) { assertHealthy(t, e.node("mine")) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var reads []uint64
			for _, others := range []int{10, 500} {
				e := newNLEnv(t)
				for i := range others {
					e.addNode(fmt.Sprintf("other-%d", i), true)
				}
				e.p.createPods(t, others*10, func(i int) *v1.Pod { return nlPod(fmt.Sprintf("other-%d", i), fmt.Sprintf("other-%d", i/10)) })
				e.addNode("mine", true)
				for i := range 3 {
					e.p.create(t, nlPod(fmt.Sprintf("mine-%d", i), "mine"))
				}
				c := e.controller()
				e.pass(c)
				seen := e.p.store().Index()
				tc.change(e)
				ch := changesSince(t, e.p.store(), seen)
				e.writes = 0
				reads = append(reads, readsOf(e.p.store(), func() {
					if err := c.pass(context.Background(), e.p.store(), ch); err != nil {
						t.Fatal(err)
					}
				}))
				tc.check(t, e)
				if tc.name != "unreachable node heartbeats again" && e.writes != 0 {
					t.Fatalf("%d writes, want none", e.writes)
				}
			}
			if reads[0] != reads[1] {
				t.Fatalf("records read beside 10 and 500 other nodes: %v (want the same)", reads)
			}
			t.Logf("records read beside 10 and 500 other nodes: %v", reads)
		})
	}
}

// TestNodeLifecyclePassChecksEveryNodeOnceIntervalHasPassed checks that
// heartbeats waking the loop more often than Interval do not keep it from
// the full check a silent node needs: a pass with events checks every
// node once Interval has passed since the last full check, and only the
// changed nodes before.
func TestNodeLifecyclePassChecksEveryNodeOnceIntervalHasPassed(t *testing.T) {
	cases := []struct {
		name string
		// sinceFull is the time since the last full check.
		sinceFull   time.Duration
		unreachable bool
	}{
		{name: "within the interval: only the heartbeating node", sinceFull: 0},
		{name: "interval passed: every node", sinceFull: nlGrace + time.Second, unreachable: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newNLEnv(t)
			e.addNode("busy", true)
			e.addNode("silent", true)
			c := e.controller()
			e.pass(c)
			// The silent node's grace is over; the last full check was
			// sinceFull ago.
			e.now = e.now.Add(nlGrace + time.Second)
			c.mu.Lock()
			c.lastFull = e.now.Add(-tc.sinceFull)
			c.mu.Unlock()
			seen := e.p.store().Index()
			e.heartbeat("busy")
			if err := c.pass(context.Background(), e.p.store(), changesSince(t, e.p.store(), seen)); err != nil {
				t.Fatal(err)
			}
			assertHealthy(t, e.node("busy"))
			if tc.unreachable {
				assertUnreachable(t, e.node("silent"))
			} else if hasUnreachableTaint(e.node("silent")) {
				t.Fatal("the silent node was checked by a pass within the interval")
			}
		})
	}
}

// TestNodeLifecycleIntervalCostIndependentOfHealthyNodes checks that the
// check every Interval reads only the nodes silent past their grace: the
// same records beside 10 or 500 healthy nodes, and the silent node is
// marked; a resync (or a node's deletion) still reads every node.
func TestNodeLifecycleIntervalCostIndependentOfHealthyNodes(t *testing.T) {
	var interval, full []uint64
	for _, others := range []int{10, 500} {
		e := newNLEnv(t)
		for i := range others {
			e.addNode(fmt.Sprintf("other-%d", i), true)
		}
		e.addNode("silent", true)
		c := e.controller()
		e.pass(c)
		// The silent node was last seen a grace ago; the others just now.
		e.now = e.now.Add(nlGrace + time.Second)
		c.mu.Lock()
		for name, h := range c.nodes {
			if name != "silent" {
				h.observed = e.now
			}
		}
		c.mu.Unlock()
		interval = append(interval, readsOf(e.p.store(), func() {
			if err := c.pass(context.Background(), e.p.store(), changes{full: true, woken: true}); err != nil {
				t.Fatal(err)
			}
		}))
		assertUnreachable(t, e.node("silent"))
		for i := range others {
			if hasUnreachableTaint(e.node(fmt.Sprintf("other-%d", i))) {
				t.Fatalf("healthy node other-%d tainted", i)
			}
		}
		full = append(full, readsOf(e.p.store(), func() {
			if err := c.pass(context.Background(), e.p.store(), changes{full: true}); err != nil {
				t.Fatal(err)
			}
		}))
		if full[len(full)-1] <= uint64(others) {
			t.Fatalf("a resync beside %d nodes read %d records, want every node", others, full[len(full)-1])
		}
	}
	t.Logf("records read by the interval's check beside 10 and 500 healthy nodes: %v; by a resync: %v", interval, full)
	if interval[0] != interval[1] {
		t.Fatalf("records read by the interval's check beside 10 and 500 healthy nodes: %v, want the same", interval)
	}
}
