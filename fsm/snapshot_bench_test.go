package fsm

import (
	"bytes"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// benchSnapshotFSM returns an FSM holding pods of orchbench's size, created
// as the API creates them.
func benchSnapshotFSM(b *testing.B, pods int) *FSM {
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
	return f
}

// forgetForms makes every record of f know of its bytes only what it knew
// when it was stored (valid JSON), as a record no snapshot wrote yet.
func forgetForms(b *testing.B, f *FSM) {
	txn, _ := f.Store().read()
	for _, r := range v1.Resources() {
		it, err := txn.Get(r.Name, indexID)
		if err != nil {
			b.Fatal(err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			raw.(*Record).form.Store(rawValid)
		}
	}
}

// BenchmarkSnapshotPersist measures what one master spends writing a
// snapshot of a store holding 10,000 and 100,000 of orchbench's pods (as
// raft does every SnapshotInterval once SnapshotThreshold entries were
// applied), per pod written. No snapshot wrote the pods before (each run
// starts from records as the creates stored them), as for pods created
// since the last snapshot; BenchmarkSnapshotPersistAgain measures the
// pods an earlier snapshot wrote.
func BenchmarkSnapshotPersist(b *testing.B) {
	benchSnapshotPersist(b, true)
}

// BenchmarkSnapshotPersistAgain is BenchmarkSnapshotPersist for pods an
// earlier snapshot wrote: what a record learnt of its bytes then is kept.
func BenchmarkSnapshotPersistAgain(b *testing.B) {
	benchSnapshotPersist(b, false)
}

func benchSnapshotPersist(b *testing.B, fresh bool) {
	for _, pods := range []int{10000, 100000} {
		b.Run(fmt.Sprintf("pods=%d", pods), func(b *testing.B) {
			f := benchSnapshotFSM(b, pods)
			if !fresh {
				writeBenchSnapshot(b, f, &countingWriter{})
			}
			b.ReportAllocs()
			var cpu time.Duration
			var written int64
			for b.Loop() {
				if fresh {
					b.StopTimer()
					forgetForms(b, f)
					b.StartTimer()
				}
				start := processCPU(b)
				w := &countingWriter{}
				writeBenchSnapshot(b, f, w)
				cpu += processCPU(b) - start
				written = w.n
			}
			b.ReportMetric(float64(cpu)/float64(b.N)/float64(pods), "cpu-ns/pod")
			b.ReportMetric(float64(written)/float64(pods), "bytes/pod")
		})
	}
}

// writeBenchSnapshot writes a snapshot of f to w as Persist does.
func writeBenchSnapshot(b *testing.B, f *FSM, w io.Writer) {
	snap, err := f.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	if err := WriteSnapshot(snap.(*snapshot).txn, snap.(*snapshot).index, w); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSnapshotFileStore measures a snapshot of 100,000 pods persisted
// into the raft.FileSnapshotStore a master uses (a temporary directory):
// the snapshot's CPU and hashicorp/raft's (a CRC-64 of every byte, a 4 KiB
// bufio.Writer, the file's writes and its fsync), per pod, against
// BenchmarkSnapshotPersistAgain's writes to nowhere.
func BenchmarkSnapshotFileStore(b *testing.B) {
	const pods = 100000
	f := benchSnapshotFSM(b, pods)
	writeBenchSnapshot(b, f, &countingWriter{})
	store, err := raft.NewFileSnapshotStoreWithLogger(b.TempDir(), 1, hclog.NewNullLogger())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var cpu time.Duration
	for i := 0; b.Loop(); i++ {
		start := processCPU(b)
		sink, err := store.Create(raft.SnapshotVersionMax, uint64(i+1), 1, raft.Configuration{}, 1, nil)
		if err != nil {
			b.Fatal(err)
		}
		snap, err := f.Snapshot()
		if err != nil {
			b.Fatal(err)
		}
		if err := snap.Persist(sink); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - start
	}
	b.ReportMetric(float64(cpu)/float64(b.N)/float64(pods), "cpu-ns/pod")
}

// BenchmarkSnapshotRestore measures what a master spends loading a
// snapshot of 100,000 of orchbench's pods (at its start, or when it
// installs the leader's snapshot), per pod.
func BenchmarkSnapshotRestore(b *testing.B) {
	const pods = 100000
	var data bytes.Buffer
	writeBenchSnapshot(b, benchSnapshotFSM(b, pods), &data)
	b.ReportAllocs()
	var cpu time.Duration
	for b.Loop() {
		start := processCPU(b)
		s, err := newStore(FeedLimits{Events: DefaultFeedSize})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := restoreInto(s, bytes.NewReader(data.Bytes())); err != nil {
			b.Fatal(err)
		}
		cpu += processCPU(b) - start
	}
	b.ReportMetric(float64(cpu)/float64(b.N)/float64(pods), "cpu-ns/pod")
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)
