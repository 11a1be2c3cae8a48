package e2e

import (
	"fmt"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/sched"
	"orch.io/orch/test/harness"
)

// A simulated node stops heartbeating: Ready=Unknown and tainted after the
// grace, its pods replaced on the others after the eviction timeout. A
// leader failover alone evicts nothing.
func TestSilentNodeIsEvictedButAFailoverEvictsNothing(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{MasterArgs: []string{"--node-grace", "10s", "--node-eviction-timeout", "20s"}})
	cl := c.Client()
	nodes := nodeNames(3)
	for _, n := range nodes {
		if err := cl.Create(ctxT(t, 10*time.Second), simulatedNode(n, "8")); err != nil {
			t.Fatal(err)
		}
	}
	hb := startHeartbeats(t, cl, nodes, 300*time.Millisecond)
	if err := cl.Create(ctxT(t, 10*time.Second), rcOf("app", 6)); err != nil {
		t.Fatal(err)
	}
	var before map[string][]v1.Pod
	eventually(t, 20*time.Second, "6 pods, 2 per node", func() error {
		var err error
		if before, err = podsByNode(t, cl, "app=app"); err != nil {
			return err
		}
		for _, n := range nodes {
			if len(before[n]) != 2 {
				return fmt.Errorf("per node: %d %d %d", len(before[nodes[0]]), len(before[nodes[1]]), len(before[nodes[2]]))
			}
		}
		return nil
	})

	// Every node goes silent across a failover for longer than the grace,
	// then heartbeats again before the new leader's own grace has passed. A
	// controller that trusted the nodes' heartbeat timestamps would mark them
	// all at T0+grace; one that starts its clocks at its election must not.
	t0 := time.Now()
	for _, n := range nodes {
		hb.silence(n)
	}
	leader := c.WaitLeader(10 * time.Second)
	// The scenario's clock (grace 10 s): kill at T0+6, 4 s before the old
	// leader would mark; resume at T0+11, after a controller trusting the
	// nodes' timestamps would have marked them (T0+10), and ~5.5 s before the
	// new leader's own grace (from its election at ~T0+6.5) runs out, so
	// heartbeats that land slowly on a loaded machine still count.
	time.Sleep(time.Until(t0.Add(6 * time.Second)))
	c.Kill(leader)
	c.WaitLeader(15 * time.Second)
	time.Sleep(time.Until(t0.Add(11 * time.Second)))
	for _, n := range nodes {
		hb.resume(n)
	}
	c.Start(leader)
	// Watch an invariant over a window longer than a grace and an eviction.
	for end := time.Now().Add(12 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		after, err := podsByNode(t, cl, "app=app")
		if err != nil {
			continue // a read during the failover; the next one counts
		}
		for _, n := range nodes {
			if len(after[n]) != 2 || after[n][0].UID != before[n][0].UID || after[n][1].UID != before[n][1].UID {
				t.Fatalf("a failover changed the pods on %s: %d pods", n, len(after[n]))
			}
		}
		for _, n := range nodes {
			var node v1.Node
			if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", n, &node); err != nil {
				continue
			}
			if len(node.Spec.Taints) != 0 {
				t.Fatalf("node %s tainted across a failover: %+v", n, node.Spec.Taints)
			}
		}
	}

	// Node 2 goes silent.
	silent := nodes[2]
	hb.silence(silent)
	eventually(t, 30*time.Second, "silent node marked", func() error {
		var node v1.Node
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", silent, &node); err != nil {
			return err
		}
		ready := node.Status.Condition(v1.NodeReady)
		tainted := false
		for _, tt := range node.Spec.Taints {
			tainted = tainted || tt.Key == sched.UnreachableTaintKey && tt.Effect == v1.TaintNoSchedule
		}
		if ready == nil || ready.Status != v1.ConditionUnknown || !tainted {
			return fmt.Errorf("ready %+v taints %+v", ready, node.Spec.Taints)
		}
		return nil
	})
	eventually(t, 90*time.Second, "its pods replaced on the others", func() error {
		after, err := podsByNode(t, cl, "app=app")
		if err != nil {
			return err
		}
		if len(after[silent]) != 0 || len(after[nodes[0]])+len(after[nodes[1]]) != 6 {
			return fmt.Errorf("silent %d, others %d+%d", len(after[silent]), len(after[nodes[0]]), len(after[nodes[1]]))
		}
		return nil
	})
}
