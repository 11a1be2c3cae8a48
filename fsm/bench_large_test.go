package fsm

import (
	"context"
	"fmt"
	"runtime"
	"runtime/pprof"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// largeStorePods is how many pods BenchmarkApplyCreatePodLargeStore's
// store holds before it measures: the write benchmark's cluster holds
// 40,000 to 130,000.
const largeStorePods = 100000

// BenchmarkApplyCreatePodLargeStore measures what every master spends
// applying one committed create of an unbound pod into a store already
// holding 100,000 pods, in batches of 16 and 64 entries as raft hands them
// over, with the process's CPU per create (cpu-ns/op). Filling the store
// takes a few seconds per run: use a fixed -benchtime (e.g. 20000x).
func BenchmarkApplyCreatePodLargeStore(b *testing.B) {
	for _, batch := range []int{16, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			f := NewTestFSM(b)
			MustCreate(b, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
			applyInBatches(b, f, 2, benchCreates(b, 0, largeStorePods), 64)
			cmds := benchCreates(b, largeStorePods, b.N)
			// Collected now, the filling's garbage does not land a
			// collection, whose cost is the heap's size, in one run and not
			// in another: each run's collector work is that of its own
			// allocations (B/op).
			runtime.GC()
			b.ReportAllocs()
			b.ResetTimer()
			start := processCPU(b)
			// Labelled so that a profile (-cpuprofile) shows the creates
			// without the filling: pprof -tagfocus phase=measure.
			pprof.Do(context.Background(), pprof.Labels("phase", "measure"), func(context.Context) {
				applyInBatches(b, f, 2+largeStorePods, cmds, batch)
			})
			b.ReportMetric(float64(processCPU(b)-start)/float64(b.N), "cpu-ns/op")
		})
	}
}

// benchCreates returns the creates of n benchPods numbered from first on.
func benchCreates(b *testing.B, first, n int) [][]byte {
	b.Helper()
	cmds := make([][]byte, n)
	for i := range cmds {
		cmd, err := NewCreate(benchPod(fmt.Sprintf("p%08d", first+i)))
		if err != nil {
			b.Fatal(err)
		}
		cmds[i] = cmd
	}
	return cmds
}
