package fsm

import (
	"fmt"
	"io"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// BenchmarkSnapshotPersist measures what one master spends writing a
// snapshot of a store holding 10,000 and 100,000 of orchbench's pods (as
// raft does every SnapshotInterval once SnapshotThreshold entries were
// applied), per pod written.
func BenchmarkSnapshotPersist(b *testing.B) {
	for _, pods := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			f := NewTestFSM(b)
			MustCreate(b, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
			cmds := make([][]byte, pods)
			for i := range cmds {
				cmd, err := NewCreate(benchPod(fmt.Sprintf("p%08d", i)))
				if err != nil {
					b.Fatal(err)
				}
				cmds[i] = cmd
			}
			applyInBatches(b, f, 2, cmds, 64)
			b.ReportAllocs()
			b.ResetTimer()
			start := processCPU(b)
			var written int64
			for range b.N {
				snap, err := f.Snapshot()
				if err != nil {
					b.Fatal(err)
				}
				w := &countingWriter{}
				if err := WriteSnapshot(snap.(*snapshot).txn, snap.(*snapshot).index, w); err != nil {
					b.Fatal(err)
				}
				written = w.n
			}
			b.ReportMetric(float64(processCPU(b)-start)/float64(b.N)/float64(pods), "cpu-ns/pod")
			b.ReportMetric(float64(written)/float64(pods), "bytes/pod")
		})
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)
