package sched

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// unownedScaleEnvs are stores of n pods no controller owns (benchPod, in
// default), built once per size per test binary as scaleEnvs.
var unownedScaleEnvs = struct {
	sync.Mutex
	byN map[int]*scaleEnv
}{byN: map[int]*scaleEnv{}}

// useUnownedScaleEnv returns the shared store of n pods no controller owns,
// locked for t. Tests add their own objects under names of their own.
func useUnownedScaleEnv(t *testing.T, n int) *scaleEnv {
	t.Helper()
	unownedScaleEnvs.Lock()
	e := unownedScaleEnvs.byN[n]
	if e == nil {
		e = &scaleEnv{n: n}
		unownedScaleEnvs.byN[n] = e
	}
	unownedScaleEnvs.Unlock()
	e.mu.Lock()
	t.Cleanup(e.mu.Unlock)
	if e.p == nil {
		p := newFakeProposer(t)
		p.createPods(t, n, benchPod)
		inf := NewInformer("pods", nil)
		if err := inf.Sync(p.store()); err != nil {
			t.Fatal(err)
		}
		e.p, e.pods = p, inf
	}
	return e
}

// switchProposer is a proposer that refuses every command while fail is
// set (as a leader losing its term would), and commits through p otherwise.
type switchProposer struct {
	p    *fakeProposer
	fail atomic.Bool
}

func (s *switchProposer) Apply(ctx context.Context, cmd []byte) (any, error) {
	if s.fail.Load() {
		return nil, errors.New("switchProposer: refused")
	}
	return s.p.Apply(ctx, cmd)
}

// TestGarbageCollectorResyncCostIndependentOfUnownedPods: the collector's
// timed resync reads the objects with owners (and their owners) only, the
// same number of records beside 1,000 or 100,000 pods no controller owns;
// it read every object of every resource (1,000s vs 100,000s). Its first
// pass over a store still reads every object.
func TestGarbageCollectorResyncCostIndependentOfUnownedPods(t *testing.T) {
	var first []uint64
	assertCostIndependentOf(t, useUnownedScaleEnv, func(t *testing.T, e *scaleEnv) uint64 {
		p, ctx := e.p, context.Background()
		rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "gc-resync", Namespace: "default", UID: "uid-gc-resync"},
			Spec: v1.ReplicationControllerSpec{Replicas: ptrTo(int32(3)), Selector: map[string]string{"app": "gc-resync"}}}
		if _, err := p.store().Get("replicationcontrollers", "default", rc.Name); v1.IsNotFound(err) {
			p.create(t, rc)
			for i := range 3 {
				pod := nlPod(fmt.Sprintf("gc-resync-%d", i), "")
				pod.Labels = map[string]string{"app": "gc-resync"}
				pod.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: rc.Name,
					UID: rc.UID, Controller: ptrTo(true)}}
				p.create(t, pod)
			}
		}
		gc := NewGarbageCollector(GarbageCollectorConfig{Store: p.store, Proposer: p})
		first = append(first, readsOf(p.store(), func() {
			if err := gc.pass(ctx, p.store(), changes{full: true}); err != nil {
				t.Fatal(err)
			}
		}))
		return readsOf(p.store(), func() {
			if err := gc.pass(ctx, p.store(), changes{full: true}); err != nil {
				t.Fatal(err)
			}
		})
	})
	if first[1] < uint64(scaleSizes[1]) {
		t.Errorf("first passes read %v records beside %v unowned pods, want every object", first, scaleSizes)
	}
}

// assertCostIndependentOf is assertCostIndependent over the environments
// use returns.
func assertCostIndependentOf(t *testing.T, use func(*testing.T, int) *scaleEnv, measure func(t *testing.T, e *scaleEnv) uint64) {
	t.Helper()
	var reads []uint64
	for _, n := range scaleSizes {
		reads = append(reads, measure(t, use(t, n)))
	}
	for _, r := range reads[1:] {
		if r != reads[0] {
			t.Fatalf("records read beside %v other pods: %v (want the same at every size)", scaleSizes, reads)
		}
	}
	t.Logf("records read beside %v other pods: %v", scaleSizes, reads)
}

// TestGarbageCollectorResyncRepairsFailedWrites: when the collector's
// writes for a change are refused and nothing changes afterwards, its next
// timed resync does them: the dependents of a deleted owner go, an owner
// deleted in the foreground loses its finalizer once they are gone, one
// deleted with the orphan policy once its dependents forgot it.
func TestGarbageCollectorResyncRepairsFailedWrites(t *testing.T) {
	block := func(uid, name string) v1.OwnerReference { return ownerRef("ConfigMap", name, uid, true) }
	tests := []struct {
		name   string
		policy string
		// after the resync: pods gone, pods kept with no owner left
		gone, orphaned []string
	}{
		{name: "background", policy: v1.PropagationBackground, gone: []string{"a", "b"}},
		{name: "foreground", policy: v1.PropagationForeground, gone: []string{"a", "b"}},
		{name: "orphan", policy: v1.PropagationOrphan, orphaned: []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			p := newFakeProposer(t)
			sp := &switchProposer{p: p}
			gc := NewGarbageCollector(GarbageCollectorConfig{Store: p.store, Proposer: sp,
				Now: func() time.Time { return time.Date(2024, 5, 17, 8, 0, 0, 0, time.UTC) }})
			p.create(t, &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "owner", Namespace: "default", UID: "uid-owner"}})
			p.create(t, gcPod("a", "", block("uid-owner", "owner")))
			p.create(t, gcPod("b", "", block("uid-owner", "owner")))
			if err := gc.pass(ctx, p.store(), changes{full: true}); err != nil {
				t.Fatal(err)
			}
			seen := p.store().Index()
			cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "configmaps", Namespace: "default", Name: "owner",
				Propagation: tc.policy, Now: v1.NewTime(time.Date(2024, 5, 17, 8, 0, 0, 0, time.UTC))})
			p.apply(t, cmd, err)
			sp.fail.Store(true)
			if err := gc.pass(ctx, p.store(), changesSince(t, p.store(), seen)); err == nil {
				t.Fatal("the pass over the owner's delete reported no refused write")
			}
			if got := len(mustList(t, p.store(), "pods")); got != 2 {
				t.Fatalf("%d pods left after the refused pass, want 2", got)
			}
			sp.fail.Store(false)
			for range 3 { // each resync drives the deletion one step on
				if err := gc.pass(ctx, p.store(), changes{full: true}); err != nil {
					t.Fatal(err)
				}
			}
			for _, n := range tc.gone {
				if r, err := p.store().Get("pods", "default", n); err == nil {
					t.Errorf("pod %s still stored: %+v", n, r.Meta())
				}
			}
			for _, n := range tc.orphaned {
				r, err := p.store().Get("pods", "default", n)
				if err != nil {
					t.Fatalf("pod %s: %v", n, err)
				}
				if m := r.Meta(); m.DeletionTimestamp != nil || len(m.OwnerReferences) != 0 {
					t.Errorf("pod %s = %+v, want kept without owners", n, m)
				}
			}
			if _, err := p.store().Get("configmaps", "default", "owner"); !v1.IsNotFound(err) {
				t.Errorf("the owner is still stored (err %v), want it gone with its finalizer", err)
			}
		})
	}
}

// TestGarbageCollectorViewMatchesRebuild applies random creates, updates
// (owner references, collector finalizers) and deletes (background,
// foreground, orphan, of owners and dependents) and checks after every
// batch that the view the collector keeps from the feed (its passes'
// events, then a resync's Feed.Since) is the one a rebuild from lists
// makes, and that a resync attends to the same objects as a rebuild's
// pass. The collector's own writes are refused, so only the test changes
// the store.
func TestGarbageCollectorViewMatchesRebuild(t *testing.T) {
	for seed := range uint64(8) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 17))
			ctx := context.Background()
			p := newFakeProposer(t)
			sp := &switchProposer{p: p}
			sp.fail.Store(true)
			gc := NewGarbageCollector(GarbageCollectorConfig{Store: p.store, Proposer: sp})
			_ = gc.pass(ctx, p.store(), changes{full: true})
			names := func(i int) string { return fmt.Sprintf("cm-%d", i) }
			ref := func() v1.OwnerReference {
				i := rng.IntN(12)
				uid := fmt.Sprintf("uid-cm-%d-%d", i, rng.IntN(2)) // a uid the name may or may not have now
				return ownerRef("ConfigMap", names(i), uid, rng.IntN(2) == 0)
			}
			refs := func() []v1.OwnerReference {
				var out []v1.OwnerReference
				for range rng.IntN(3) {
					out = append(out, ref())
				}
				return out
			}
			for round := range 40 {
				seen := p.store().Index()
				for range 1 + rng.IntN(6) {
					randomGCChange(t, p, rng, names(rng.IntN(12)), refs)
				}
				if rng.IntN(4) == 0 {
					_ = gc.pass(ctx, p.store(), changes{full: true})
				} else {
					evs, last, _, _, err := p.store().Feed().Since(seen)
					if err != nil {
						t.Fatal(err)
					}
					_ = gc.pass(ctx, p.store(), changes{events: evs, last: last})
				}
				fresh := NewGarbageCollector(GarbageCollectorConfig{Store: p.store, Proposer: sp})
				want := map[objKey]struct{}{}
				if err := fresh.rebuild(p.store(), want); err != nil {
					t.Fatal(err)
				}
				if !maps.EqualFunc(gc.dependents, fresh.dependents, maps.Equal) || !maps.Equal(gc.finalizing, fresh.finalizing) {
					t.Fatalf("round %d: view kept from the feed\n%v\n%v\nrebuilt\n%v\n%v", round, gc.dependents, gc.finalizing,
						fresh.dependents, fresh.finalizing)
				}
				got := map[objKey]struct{}{}
				if err := gc.resync(p.store(), got); err != nil {
					t.Fatal(err)
				}
				if !maps.Equal(got, want) {
					t.Fatalf("round %d: a resync attends to %v, a rebuild to %v", round,
						slices.SortedFunc(maps.Keys(got), compareObjKeys), slices.SortedFunc(maps.Keys(want), compareObjKeys))
				}
			}
		})
	}
}

// randomGCChange makes one random change of the config map name: creates
// it (with random owners, maybe a collector finalizer), sets its owners or
// finalizers, or deletes it with a random propagation policy.
func randomGCChange(t *testing.T, p *fakeProposer, rng *rand.Rand, name string, refs func() []v1.OwnerReference) {
	t.Helper()
	rec, err := p.store().Get("configmaps", "default", name)
	if v1.IsNotFound(err) {
		cm := &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default",
			UID: fmt.Sprintf("uid-%s-%d", name, rng.IntN(2)), OwnerReferences: refs()}}
		if rng.IntN(3) == 0 {
			cm.Finalizers = []string{v1.FinalizerOrphanDependents}
		}
		p.create(t, cm)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	switch rng.IntN(3) {
	case 0:
		cm := v1.DeepCopy(rec.Object().(*v1.ConfigMap))
		cm.OwnerReferences = refs()
		cm.Finalizers = nil
		if rng.IntN(2) == 0 {
			cm.Finalizers = []string{[]string{v1.FinalizerOrphanDependents, v1.FinalizerDeleteDependents, "example.com/x"}[rng.IntN(3)]}
		}
		cmd, err := fsm.NewUpdate(cm, false)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = p.Apply(context.Background(), cmd) // the FSM may refuse a change of a deleting object: no change
	default:
		policy := []string{v1.PropagationBackground, v1.PropagationForeground, v1.PropagationOrphan}[rng.IntN(3)]
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "configmaps", Namespace: "default", Name: name,
			Propagation: policy, Now: v1.NewTime(time.Date(2024, 5, 17, 8, 0, 0, 0, time.UTC))})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = p.Apply(context.Background(), cmd) // an object being deleted may refuse another policy; that is no change
	}
}

// TestGarbageCollectorObservesEveryChangeOfOneEntry: one committed entry
// may hold many changes (a BatchCommand, as the replication controller
// creates its pods), all with the entry's index. A pass of those events
// files every one of them in the view: a dependent left out would not be
// collected when its owner goes (make test: a ReplicaSet's pod outlived
// the set).
func TestGarbageCollectorObservesEveryChangeOfOneEntry(t *testing.T) {
	ctx := context.Background()
	p := newFakeProposer(t)
	gc := NewGarbageCollector(GarbageCollectorConfig{Store: p.store, Proposer: p})
	p.create(t, &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "owner", Namespace: "default", UID: "uid-owner"}})
	if err := gc.pass(ctx, p.store(), changes{full: true}); err != nil {
		t.Fatal(err)
	}
	seen := p.store().Index()
	var items []fsm.BatchItem
	for i := range 3 {
		cmd := mustCreate(t, gcPod(fmt.Sprintf("dep-%d", i), "", ownerRef("ConfigMap", "owner", "uid-owner", false)))
		items = append(items, fsm.BatchItem{Type: fsm.CommandType(cmd[0]), Body: cmd[1:]})
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	evs, last, _, _, err := p.store().Feed().Since(seen)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 || evs[0].Index != evs[2].Index {
		t.Fatalf("want 3 events of one entry, got %d", len(evs))
	}
	if err := gc.pass(ctx, p.store(), changes{events: evs, last: last}); err != nil {
		t.Fatal(err)
	}
	if got := len(gc.dependents["uid-owner"]); got != 3 {
		t.Fatalf("the view files %d of the entry's 3 dependents: %v", got, gc.dependents["uid-owner"])
	}
}
