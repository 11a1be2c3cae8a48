package sched

import (
	"context"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// costSTS is an OrderedReady set of two pods, named and labelled name.
func costSTS(name string) *v1.StatefulSet {
	ss := testSTS(2, v1.OrderedReadyPodManagement)
	ss.Name, ss.UID = name, "uid-"+name
	ss.Spec.Selector.MatchLabels = map[string]string{"app": name}
	ss.Spec.Template.Labels = map[string]string{"app": name}
	return ss
}

// An ordered set followed by incremental passes only: its second pod is
// made once the first becomes ready, and a deleted pod is made again.
func TestStatefulSetIncrementalPasses(t *testing.T) {
	p := newFakeProposer(t)
	ctx := context.Background()
	p.create(t, costSTS("inc"))
	c := NewStatefulSetController(StatefulSetConfig{Store: p.store, Proposer: p})
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
	step(func() { markReady(t, p, "inc-0") })
	first := p.pod(t, "inc-1")
	step(func() { p.remove(t, "pods", "inc-1", ptrTo(int64(0))) })
	if again := p.pod(t, "inc-1"); again.UID == first.UID {
		t.Fatal("inc-1 was not made again")
	}
}

func TestStatefulSetChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p, s, ctx := e.p, e.store(), context.Background()
		if _, err := s.Get("statefulsets", "default", "ss-cost"); v1.IsNotFound(err) {
			p.create(t, costSTS("ss-cost"))
		}
		c := NewStatefulSetController(StatefulSetConfig{Store: p.store, Proposer: p, Pods: e.pods})
		if err := c.pass(ctx, s, changes{full: true}); err != nil {
			t.Fatal(err)
		}
		seen := s.Index()
		markReady(t, p, "ss-cost-0")
		ch := changesSince(t, s, seen)
		reads := readsOf(s, func() {
			if err := c.pass(ctx, s, ch); err != nil {
				t.Fatal(err)
			}
		})
		if _, err := s.Get("pods", "default", "ss-cost-1"); err != nil {
			t.Fatalf("ss-cost-1 after ss-cost-0 became ready: %v", err)
		}
		return reads
	})
}
