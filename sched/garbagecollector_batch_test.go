package sched

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// gcProposer proves every command round-trips (fsm.Verify, as the
// cluster does before proposing), counts the entries, then hands them to
// inner. before, if set, runs ahead of each entry (a change that races the
// collector's view).
type gcProposer struct {
	inner   Proposer
	mu      sync.Mutex
	entries int
	items   int
	before  func(n int)
}

func (p *gcProposer) Apply(ctx context.Context, cmd []byte) (any, error) {
	if err := fsm.Verify(cmd); err != nil {
		return nil, fmt.Errorf("proposed a command that does not round-trip: %w", err)
	}
	p.mu.Lock()
	p.entries++
	n := p.entries
	if fsm.CommandType(cmd[0]) == fsm.BatchCommand {
		var req fsm.BatchRequest
		if err := json.Unmarshal(cmd[1:], &req); err != nil {
			p.mu.Unlock()
			return nil, err
		}
		p.items += len(req.Items)
	} else {
		p.items++
	}
	before := p.before
	p.mu.Unlock()
	if before != nil {
		before(n)
	}
	return p.inner.Apply(ctx, cmd)
}

// count returns the entries and writes proposed so far.
func (p *gcProposer) count() (entries, items int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.entries, p.items
}

// TestGarbageCollectorCascadeEntries: deleting an owner of many pods with
// Background propagation costs the collector one entry per maxGCBatch
// dependents, not one per dependent; every pod is deleted (the bound ones
// gracefully). It logs the entries and the wall time of the cascade.
func TestGarbageCollectorCascadeEntries(t *testing.T) {
	yes := true
	rcOwner := v1.OwnerReference{APIVersion: "v1", Kind: "ReplicationController", Name: "web", UID: rcUID, Controller: &yes, BlockOwnerDeletion: &yes}
	rsOwner := v1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: rsUID, Controller: &yes, BlockOwnerDeletion: &yes}
	tests := []struct {
		name     string
		resource string
		owner    func() v1.Object
		ref      v1.OwnerReference
		pods     int
		entries  int
	}{
		{"rc of 1 pod", "replicationcontrollers", func() v1.Object { return testRC(1) }, rcOwner, 1, 1},
		{"rc of 500 pods", "replicationcontrollers", func() v1.Object { return testRC(500) }, rcOwner, maxGCBatch, 1},
		{"rc of 501 pods", "replicationcontrollers", func() v1.Object { return testRC(501) }, rcOwner, maxGCBatch + 1, 2},
		{"rc of 1000 pods", "replicationcontrollers", func() v1.Object { return testRC(1000) }, rcOwner, 1000, 2},
		{"replicaset of 1000 pods", "replicasets", func() v1.Object { return testRS(1000) }, rsOwner, 1000, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newGCEnv(t)
			e.p.create(t, tc.owner())
			for i := range tc.pods {
				node := ""
				if i%2 == 0 {
					node = "n1" // half bound (deleted gracefully), half not (removed)
				}
				e.p.create(t, gcPod(fmt.Sprintf("p%04d", i), node, tc.ref))
			}
			e.settle()
			cp := &gcProposer{inner: e.p}
			e.gc.cfg.Proposer = cp
			seen := e.index()
			e.del(tc.resource, "default", "web", v1.PropagationBackground, nil)
			start := time.Now()
			e.follow(seen)
			took := time.Since(start)
			entries, items := cp.count()
			t.Logf("%d pods: %d entries, %d writes, %v", tc.pods, entries, items, took)
			if entries != tc.entries || items != tc.pods {
				t.Errorf("the collector proposed %d entries of %d writes, want %d of %d", entries, items, tc.entries, tc.pods)
			}
			for i := range tc.pods {
				m := e.get("pods", "default", fmt.Sprintf("p%04d", i))
				if (i%2 == 0) != (m != nil) || (m != nil && m.DeletionTimestamp == nil) {
					t.Fatalf("pod p%04d after the cascade: %+v", i, m)
				}
			}
		})
	}
}

// TestGarbageCollectorBatchRaces: a dependent that changes between the
// collector's read and its batch is refused alone; the others in the same
// entry are written; the change brings the refused one back, and the
// cascade ends as without the race. An owner being orphaned keeps its
// finalizer until every dependent has been orphaned.
func TestGarbageCollectorBatchRaces(t *testing.T) {
	rc := func(block bool) v1.OwnerReference { return ownerRef("ReplicationController", "web", "uid-web", block) }
	tests := []struct {
		name   string
		policy string
		// race changes pod b before the collector's first entry.
		race func(e *gcEnv)
		// after the first entry: pods gone, pods kept with their number
		// of owner references, whether the RC is still stored.
		firstGone []string
		firstKept map[string]int
		firstRC   bool
		// after settling
		gone []string
		kept map[string]int
	}{
		{name: "background: b replaced by a new pod of the same name", policy: v1.PropagationBackground,
			race: func(e *gcEnv) {
				e.del("pods", "default", "b", "", nil)
				nb := gcPod("b", "", rc(true))
				nb.UID = "uid-b2"
				e.p.create(e.t, nb)
			},
			firstGone: []string{"a", "c"}, firstKept: map[string]int{"b": 1},
			gone: []string{"a", "b", "c"}},
		{name: "background: b gone meanwhile", policy: v1.PropagationBackground,
			race:      func(e *gcEnv) { e.del("pods", "default", "b", "", nil) },
			firstGone: []string{"a", "b", "c"},
			gone:      []string{"a", "b", "c"}},
		{name: "orphan: b relabelled", policy: v1.PropagationOrphan,
			race: func(e *gcEnv) {
				p := e.p.pod(e.t, "b")
				p.Labels = map[string]string{"app": "moved"}
				cmd, err := fsm.NewUpdate(p, false)
				if err != nil {
					e.t.Fatal(err)
				}
				if _, err := e.p.Apply(context.Background(), cmd); err != nil {
					e.t.Fatal(err)
				}
			},
			firstKept: map[string]int{"a": 0, "b": 1, "c": 0}, firstRC: true,
			gone: []string{"rc/web"}, kept: map[string]int{"a": 0, "b": 0, "c": 0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newGCEnv(t)
			owner := testRC(1)
			owner.Name, owner.UID, owner.Spec.Selector = "web", "uid-web", map[string]string{"app": "none"}
			owner.Spec.Template.Labels = map[string]string{"app": "none"}
			e.p.create(t, owner)
			for _, n := range []string{"a", "b", "c"} {
				e.p.create(t, gcPod(n, "", rc(true)))
			}
			e.settle()
			seen := e.index()
			e.del("replicationcontrollers", "default", "web", tc.policy, nil)
			evs, _, _, _, err := e.p.store().Feed().Since(seen)
			if err != nil {
				t.Fatal(err)
			}
			cp := &gcProposer{inner: e.p, before: func(n int) {
				if n == 1 {
					tc.race(e)
				}
			}}
			e.gc.cfg.Proposer = cp
			seen = e.index()
			if err := e.gc.pass(context.Background(), e.p.store(), changes{events: evs}); err != nil {
				t.Fatalf("first pass: %v", err)
			}
			if n, _ := cp.count(); n != 1 {
				t.Fatalf("the first pass proposed %d entries, want 1", n)
			}
			for _, n := range tc.firstGone {
				if m := e.get("pods", "default", n); m != nil && m.DeletionTimestamp == nil {
					t.Errorf("after the first entry %s = %+v, want gone", n, m)
				}
			}
			for n, refs := range tc.firstKept {
				if m := e.get("pods", "default", n); m == nil || len(m.OwnerReferences) != refs {
					t.Errorf("after the first entry %s = %+v, want kept with %d owner references", n, m, refs)
				}
			}
			if got := e.get("replicationcontrollers", "default", "web") != nil; got != tc.firstRC {
				t.Errorf("after the first entry the rc is stored: %v, want %v", got, tc.firstRC)
			}
			e.follow(seen)
			for _, n := range tc.gone {
				kind, name := "pods", n
				if n == "rc/web" {
					kind, name = "replicationcontrollers", "web"
				}
				if m := e.get(kind, "default", name); m != nil {
					t.Errorf("after settling %s = %+v, want gone", n, m)
				}
			}
			for n, refs := range tc.kept {
				if m := e.get("pods", "default", n); m == nil || m.DeletionTimestamp != nil || len(m.OwnerReferences) != refs {
					t.Errorf("after settling %s = %+v, want kept with %d owner references", n, m, refs)
				}
			}
		})
	}
}
