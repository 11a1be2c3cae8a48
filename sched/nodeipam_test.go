package sched

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// A cluster CIDR of two subnets and four nodes: the two registered past
// it wait with CIDRNotAvailable (told once per period, not per pass); when
// a node goes, the lowest waiting one gets its subnet.
func TestNodeIPAMPass(t *testing.T) {
	p := newFakeProposer(t)
	register := func(name string) {
		t.Helper()
		cmd, err := fsm.NewCreateNode(&v1.Node{ObjectMeta: v1.ObjectMeta{Name: name, UID: "uid-" + name}}, "10.9.0.0/23", 24)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Apply(context.Background(), cmd); err != nil {
			t.Fatalf("register %s: %v", name, err)
		}
	}
	for _, n := range []string{"a", "b", "c", "d"} {
		register(n)
	}
	now := t0
	rec := events.New(events.Config{Component: "cidrAllocator", Sink: EventSink{Proposer: p}, QPS: 1000, Burst: 1000, MaxBatch: 50})
	c := NewNodeIPAM(NodeIPAMConfig{Store: p.store, Proposer: p, ClusterCIDR: "10.9.0.0/23", MaskSize: 24, Recorder: rec,
		Now: func() time.Time { return now }})
	pass := func() {
		t.Helper()
		if err := c.Pass(context.Background(), p.store()); err != nil {
			t.Fatal(err)
		}
		for rec.Flush(context.Background()) {
		}
	}
	cidrs := func() map[string]string {
		out := map[string]string{}
		list, err := p.store().List("nodes", fsm.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.Items {
			n := r.Object().(*v1.Node)
			out[n.Name] = n.Spec.PodCIDR
		}
		return out
	}
	told := func() map[string]int32 {
		out := map[string]int32{}
		for _, e := range storedEvents(t, p.store()) {
			if e.Reason == CIDRNotAvailable && e.Message == "Node "+e.InvolvedObject.Name+" status is now: CIDRNotAvailable" &&
				e.Source.Component == "cidrAllocator" && e.InvolvedObject.Kind == "Node" {
				out[e.InvolvedObject.Name] += e.Count
			}
		}
		return out
	}
	pass()
	pass()
	if got := cidrs(); got["a"] != "10.9.0.0/24" || got["b"] != "10.9.1.0/24" || got["c"] != "" || got["d"] != "" {
		t.Fatalf("pod CIDRs %v", got)
	}
	if got := told(); got["c"] != 1 || got["d"] != 1 || len(got) != 2 {
		t.Fatalf("CIDRNotAvailable counts %v, want c and d once", got)
	}
	now = now.Add(cidrEventEvery)
	pass()
	if got := told(); got["c"] != 2 || got["d"] != 2 {
		t.Fatalf("CIDRNotAvailable counts %v after a period, want 2 each", got)
	}

	cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "nodes", Name: "b", Now: v1.NewTime(t0)})
	p.apply(t, cmd, err)
	idx := p.store().Index()
	pass()
	if got := cidrs(); got["c"] != "10.9.1.0/24" || got["d"] != "" {
		t.Fatalf("after b went: pod CIDRs %v, want c in b's subnet", got)
	}
	if got := p.store().Index(); got != idx+1 {
		t.Fatalf("%d entries for one allocation, want 1", got-idx)
	}
	// An idle pass (d still waits, told recently) writes nothing.
	idx = p.store().Index()
	pass()
	if got := p.store().Index(); got != idx {
		t.Fatalf("an idle pass wrote %d entries", got-idx)
	}
}

// A pass of the node IPAM reads the same records beside 100 and 2,000
// nodes that have a subnet: none when no node waits, and the waiting node
// and the index entries from the FSM's hint when one does (which gets the
// lowest free subnet).
func TestNodeIPAMPassCostIndependentOfNodes(t *testing.T) {
	var idle, busy []uint64
	for _, n := range []int{100, 2000} {
		p := newFakeProposer(t)
		for i := range n {
			cmd, err := fsm.NewCreateNode(&v1.Node{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("n%05d", i), UID: fmt.Sprintf("uid-n%d", i)}}, "10.0.0.0/8", 24)
			p.apply(t, cmd, err)
		}
		c := NewNodeIPAM(NodeIPAMConfig{Store: p.store, Proposer: p, ClusterCIDR: "10.0.0.0/8", MaskSize: 24})
		pass := func() {
			t.Helper()
			if err := c.Pass(context.Background(), p.store()); err != nil {
				t.Fatal(err)
			}
		}
		idle = append(idle, readsOf(p.store(), pass))
		// A node stored without a subnet (as an older orch created them).
		cmd, err := fsm.NewCreate(&v1.Node{ObjectMeta: v1.ObjectMeta{Name: "late", UID: "uid-late"}})
		p.apply(t, cmd, err)
		busy = append(busy, readsOf(p.store(), pass))
		rec, err := p.store().Get("nodes", "", "late")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := rec.Object().(*v1.Node).Spec.PodCIDR, fmt.Sprintf("10.%d.%d.0/24", n/256, n%256); got != want {
			t.Fatalf("beside %d nodes the waiting node got %q, want %q", n, got, want)
		}
	}
	t.Logf("records read by an idle pass %v, by a pass with one waiting node %v", idle, busy)
	if idle[0] != 0 || idle[1] != 0 || busy[0] != busy[1] {
		t.Fatalf("records read beside 100 and 2,000 nodes: idle %v, with one waiting %v; want none and the same", idle, busy)
	}
}
