package cluster

import (
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
)

// BenchmarkLogStore compares raft's log stores alone on the write a
// leader makes for every batch of commands: StoreLogs of n entries of
// ~1 KiB (the bench pod's create command), made durable before it returns
// (bolt: one commit, which syncs its pages and then its meta page;
// raft-wal: one append and one fsync of the segment), with the log
// truncated behind a snapshot every 10,240 entries as orchd's snapshots
// do. Besides the allocations it reports cpu-ns/op, the process's CPU
// time per batch (user and system, from getrusage): the leader's CPU is
// what the write rate is bound by, and unlike ns/op it does not count the
// time waiting on the disk.
//
// On a loaded 2-core machine (2026-12-05, -count 6, 64 entries):
// raft-boltdb 1.0-1.3 ms cpu-ns/op and ~2,110 allocs; raft-wal and
// master-wal (as a master has it, with the reserve and the statfs check)
// 0.28-0.41 ms and 451/452 allocs. With segments made from the filled
// reserve and synced by fdatasync (walfile.go), master-wal at 16 entries
// 145 -> 89 us cpu-ns/op and 1.14 -> 0.20 ms ns/op (benchstat, -count 6,
// same machine state, ext4 without a journal); with the disk busy with
// other work, 164 -> 130 us cpu-ns/op and ns/op alike at ~1 ms (medians
// of 6 alternating runs). With entries encoded by walCodec into its
// arena (walcodec.go) instead of raft-wal's BinaryCodec into a grown
// buffer each, master-wal at 64 and 256 entries 362 -> 194 and 1,172 ->
// 541 us cpu-ns/op, 452 -> 197 and 1,800 -> 776 allocs (medians of 8
// alternating runs, loaded machine).
func BenchmarkLogStore(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B, dir string) raft.LogStore
	}{
		{"raft-boltdb", func(b *testing.B, dir string) raft.LogStore {
			s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		{"raft-wal", func(b *testing.B, dir string) raft.LogStore {
			s, err := wal.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { s.Close() })
			return s
		}},
		// As a master has it: the store openRaftStore makes (raft-wal with
		// its reserve and 16 MiB segments) under diskStore, which checks
		// for room (statfs) before a batch.
		{"master-wal", func(b *testing.B, dir string) raft.LogStore { return masterWALStore(b, dir) }},
	}
	for _, n := range []int{1, 16, 64, 256} {
		for _, st := range stores {
			b.Run(fmt.Sprintf("%s/entries=%d", st.name, n), func(b *testing.B) {
				benchStoreLogs(b, st.open(b, b.TempDir()), n, 1200)
			})
		}
	}
}

func benchStoreLogs(b *testing.B, s raft.LogStore, n, size int) {
	const keep = 10240
	data := make([]byte, size)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	next := uint64(1)
	b.ReportAllocs()
	b.SetBytes(int64(n * size))
	before, batches := processCPU(b), 0
	for b.Loop() {
		logs := make([]*raft.Log, n)
		for i := range logs {
			logs[i] = &raft.Log{Index: next + uint64(i), Term: 1, Type: raft.LogCommand, Data: data}
		}
		if err := s.StoreLogs(logs); err != nil {
			b.Fatal(err)
		}
		next += uint64(n)
		batches++
		if next > 2*keep && next%keep < uint64(n) {
			if err := s.DeleteRange(1, next-keep); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(processCPU(b)-before)/float64(batches), "cpu-ns/op")
}

// processCPU is the CPU time the process has used, user and system.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
