package sched

import (
	"context"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// dsPodsOf returns the live pods the DaemonSet uid controls, by node.
func dsPodsOf(t *testing.T, s *fsm.Store, uid string) map[string]*v1.Pod {
	t.Helper()
	l, err := s.List("pods", fsm.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*v1.Pod{}
	for _, r := range l.Items {
		pod := r.Object().(*v1.Pod)
		if ref := pod.ControllerRef(); ref != nil && ref.UID == uid && pod.DeletionTimestamp == nil && !pod.Terminal() {
			out[daemonPodTarget(pod)] = pod
		}
	}
	return out
}

// A DaemonSet followed by incremental passes only: a new node gets a pod,
// a deleted pod is replaced.
func TestDaemonSetIncrementalPasses(t *testing.T) {
	p := newFakeProposer(t)
	now := dsT0
	ctx := context.Background()
	c := NewDaemonSetController(DaemonSetConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
	p.create(t, dsNode("n1", nil))
	ds := testDS(nil)
	p.create(t, ds)
	if err := c.pass(ctx, p.store(), changes{full: true}); err != nil {
		t.Fatal(err)
	}
	step := func(change func()) {
		t.Helper()
		seen := p.store().Index()
		change()
		if err := c.pass(ctx, p.store(), changesSince(t, p.store(), seen)); err != nil {
			t.Fatal(err)
		}
	}
	step(func() { p.create(t, dsNode("n2", nil)) })
	pods := dsPodsOf(t, p.store(), ds.UID)
	if len(pods) != 2 || pods["n2"] == nil {
		t.Fatalf("pods after a node joined: %v", pods)
	}
	step(func() { p.remove(t, "pods", pods["n1"].Name, ptrTo(int64(0))) })
	after := dsPodsOf(t, p.store(), ds.UID)
	if len(after) != 2 || after["n1"] == nil || after["n1"].Name == pods["n1"].Name {
		t.Fatalf("pods after n1's was deleted: %v", after)
	}
}

func TestDaemonSetChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p, s, ctx := e.p, e.store(), context.Background()
		now := dsT0
		ds := testDS(func(ds *v1.DaemonSet) {
			ds.Name, ds.UID = "ds-cost", "uid-ds-cost"
			ds.Spec.Selector.MatchLabels = map[string]string{"app": "ds-cost"}
			ds.Spec.Template.Labels = map[string]string{"app": "ds-cost"}
		})
		nodes := []string{"ds-cost-1", "ds-cost-2"}
		for _, n := range nodes {
			p.create(t, dsNode(n, nil))
		}
		p.create(t, ds)
		// Leave the shared store as it was: other tests place pods on nodes.
		t.Cleanup(func() {
			for _, pod := range dsPodsOf(t, s, ds.UID) {
				p.remove(t, "pods", pod.Name, ptrTo(int64(0)))
			}
			p.remove(t, "daemonsets", ds.Name, nil)
			for _, n := range nodes {
				cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "nodes", Name: n, Now: v1.NewTime(now)})
				p.apply(t, cmd, err)
			}
		})
		c := NewDaemonSetController(DaemonSetConfig{Store: p.store, Proposer: p, Pods: e.pods, Now: func() time.Time { return now }})
		if err := c.pass(ctx, s, changes{full: true}); err != nil {
			t.Fatal(err)
		}
		pods := dsPodsOf(t, s, ds.UID)
		if len(pods) != 2 {
			t.Fatalf("%d pods after the full pass, want 2", len(pods))
		}
		seen := s.Index()
		p.remove(t, "pods", pods[nodes[0]].Name, ptrTo(int64(0)))
		ch := changesSince(t, s, seen)
		reads := readsOf(s, func() {
			if err := c.pass(ctx, s, ch); err != nil {
				t.Fatal(err)
			}
		})
		if n := len(dsPodsOf(t, s, ds.UID)); n != 2 {
			t.Fatalf("%d pods after one was deleted, want 2", n)
		}
		return reads
	})
}
