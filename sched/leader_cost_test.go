package sched

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// TestLeaderLoopsReadNothingPerUnownedPod: every change-fed leader loop,
// run as the leader runs them (one shared pod informer), decides about the
// create of a pod no controller owns from its summary alone: over all the
// loops, a batch of such creates costs per pod the allocations of one
// summary (made once, with the garbage collector off so no loop makes it
// again) and nothing more, where decoding the pod or reading it (or its
// owners, or its namespace's controllers) from the store per pod would
// cost allocations of their own. The cost per pod is the difference
// between a batch of 64 and one of 1,024 creates, so what a pass costs
// whatever its size (a list per namespace, the pass's maps) cancels out.
func TestLeaderLoopsReadNothingPerUnownedPod(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	p := newFakeProposer(t)
	probe := newPassProbe()
	// Each pass runs alone and counts what was allocated while it ran.
	var mu sync.Mutex
	allocs := map[int]uint64{}
	probe.around = func(id int, pass func()) {
		mu.Lock()
		defer mu.Unlock()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		pass()
		runtime.ReadMemStats(&after)
		allocs[id] += after.Mallocs - before.Mallocs
	}
	ctx, cancel := context.WithCancel(withPassProbe(context.Background(), probe))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	n := startLeaderLoops(t, ctx, &wg, p)
	settle := settleLoops(t, ctx, p, probe, n, time.Minute)

	created := 0
	batch := func(size int) map[int]uint64 {
		mu.Lock()
		clear(allocs)
		mu.Unlock()
		cmds := make([][]byte, size)
		for i := range cmds {
			cmd, err := fsm.NewCreate(benchPod(created))
			if err != nil {
				t.Fatal(err)
			}
			cmds[i], created = cmd, created+1
		}
		settle(p.applyEntries(t, cmds))
		mu.Lock()
		defer mu.Unlock()
		out := make(map[int]uint64, len(allocs))
		for id, a := range allocs {
			out[id] = a
		}
		return out
	}
	const small, large = 64, 1024
	a, b := batch(small), batch(large)
	var total float64
	for id := range n {
		per := (float64(b[id]) - float64(a[id])) / (large - small)
		total += per
		t.Logf("loop %d: %.2f allocations per pod (%d for %d pods, %d for %d)", id, per, a[id], small, b[id], large)
	}

	// What one summary and one store read of such a pod cost.
	rec, err := p.store().Get("pods", "default", benchPod(0).Name)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rec.JSON()
	if err != nil {
		t.Fatal(err)
	}
	res, _ := v1.ResourceByName("pods")
	summary := testing.AllocsPerRun(10, func() { fsm.NewLazyRecord(res, raw).Summary() })
	store := p.store()
	get := testing.AllocsPerRun(10, func() {
		if _, err := store.Get("pods", "default", benchPod(0).Name); err != nil {
			t.Fatal(err)
		}
	})
	decode := testing.AllocsPerRun(10, func() { fsm.NewLazyRecord(res, raw).Object() })
	t.Logf("all loops: %.2f allocations per pod; a summary takes %.0f, a store read %.0f, a decode %.0f", total, summary, get, decode)
	// Amortized growth of the informer's maps may add a fraction of an
	// allocation per pod; a store read or a decode adds several.
	if limit := summary + 1; total > limit {
		t.Fatalf("the loops allocate %.2f per unowned pod, want at most %.2f (one summary, %.0f, and no store read, %.0f, or decode, %.0f)",
			total, limit, summary, get, decode)
	}
}
