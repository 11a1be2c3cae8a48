package cluster

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// fillTo writes a file in dir until statfs shows at most left bytes free
// (a short write at ENOSPC is fine).
func fillTo(t *testing.T, dir, name string, left uint64) {
	t.Helper()
	free, err := statfsFree(dir)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if free > left {
		if err := writeZeros(f, int64(free-left)); err != nil && !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("fill %s: %v", dir, err)
		}
	}
}

// TestWALOnFullDisk runs raft-wal as a master uses it (diskStore, the
// reserve, the log cache) on a real file system that fills: with room
// left but none for another segment, entries are stored until a segment
// is full, the next one starts in the reserve's room and appends then
// fail typed (never a wedged "segment is sealed"); on a full file system
// appends fail typed, the term and vote still fit, the log reopens with
// every entry, and appends, new segments included, succeed again once
// space is freed.
func TestWALOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=80m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs (needs root: CI runs as root with make deps): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	path := filepath.Join(dir, walDir)
	open := func() (*diskStore, raft.LogStore) {
		t.Helper()
		w, err := openWAL(path)
		if err != nil {
			t.Fatalf("open %s: %v", path, err)
		}
		s := &diskStore{raftStore: w, reserve: w.reserve,
			watch: newDiskWatch("m1", dir, slog.New(slog.NewTextHandler(io.Discard, nil)), prometheus.NewGauge(prometheus.GaugeOpts{Name: "g"}))}
		s.watch.need = w.reserve.needed
		cache, err := raft.NewLogCache(64, s)
		if err != nil {
			t.Fatal(err)
		}
		return s, typedLogStore{LogStore: cache, watch: s.watch}
	}
	s, logs := open()
	if !s.reserve.held {
		t.Fatalf("no reserve after opening a new log on an empty disk")
	}
	data := make([]byte, 32<<10)
	var stored uint64
	appendUntilError := func(max uint64) error {
		for stored < max {
			batch := []*raft.Log{}
			for i := uint64(1); i <= 8; i++ {
				batch = append(batch, &raft.Log{Index: stored + i, Term: 1, Type: raft.LogCommand, Data: data})
			}
			if err := logs.StoreLogs(batch); err != nil {
				return err
			}
			stored += 8
		}
		return nil
	}
	wantFull := func(what string, err error) {
		t.Helper()
		var df *DiskFullError
		if !errors.As(err, &df) || !errors.Is(err, syscall.ENOSPC) || !s.watch.Full() {
			t.Fatalf("%s after %d entries: %v (full %v), want a *DiskFullError wrapping ENOSPC", what, stored, err, s.watch.Full())
		}
	}

	// Room for entries, none for another reserve.
	fillTo(t, dir, "filler1", 2<<20)
	err := appendUntilError(4 * walSegmentSize / uint64(len(data)))
	wantFull("append with no room for another segment", err)
	if perSegment := uint64(walSegmentSize / len(data)); stored < perSegment {
		t.Fatalf("appends failed after %d entries, before the first segment (%d entries) was full", stored, perSegment)
	}
	err = appendUntilError(stored + 8)
	wantFull("the next append", err)

	// A full file system.
	fillTo(t, dir, "filler2", 0)
	wantFull("append to a full file system", appendUntilError(stored+8))
	for term := uint64(2); term < 50; term++ {
		if err := s.SetUint64([]byte("CurrentTerm"), term); err != nil {
			t.Fatalf("persist term %d on the full disk: %v (raft would panic)", term, err)
		}
		if err := s.Set([]byte("LastVoteCand"), []byte("m2")); err != nil {
			t.Fatalf("persist a vote on the full disk: %v", err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, logs = open()
	var l raft.Log
	if err := logs.GetLog(stored, &l); err != nil || l.Index != stored {
		t.Fatalf("after reopening: entry %d: %v", stored, err)
	}
	if last, err := logs.LastIndex(); err != nil || last != stored {
		t.Fatalf("after reopening: last index %d (%v), want %d", last, err, stored)
	}
	if term, err := s.GetUint64([]byte("CurrentTerm")); err != nil || term != 49 {
		t.Fatalf("after reopening: term %d, %v; want 49", term, err)
	}
	wantFull("append after reopening the full disk", appendUntilError(stored+8))

	for _, f := range []string{"filler1", "filler2"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if s.watch.Full() {
		t.Errorf("Full() with the fillers removed, want false (statfs shows room)")
	}
	// A segment's worth more: the next segment starts, the reserve is made again.
	if err := appendUntilError(stored + walSegmentSize/uint64(len(data)) + 16); err != nil {
		t.Fatalf("append once space is freed, after %d entries: %v", stored, err)
	}
	if df := s.watch.lastFailure(); df != nil {
		t.Errorf("still recorded full after appends succeeded: %v", df)
	}
	if !s.reserve.held {
		t.Errorf("no reserve once space is freed")
	}
	if err := logs.GetLog(stored, &l); err != nil || l.Index != stored {
		t.Fatalf("entry %d: %v", stored, err)
	}
	s.Close()
}

// TestWALReserveRoomIsNotTakenBackDuringUse makes a segment in the
// reserve's room while the writer keeps making the reserve again, as
// raft-wal's rotation goroutine and the next batch's check do at once on
// a nearly full disk: the segment must get the room every time (if the
// writer took it between the release and the creation, the rotation would
// fail and raft-wal would refuse every append until a restart).
func TestWALReserveRoomIsNotTakenBackDuringUse(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs (needs root: CI runs as root with make deps): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	const size = 4 << 20
	r := &walReserve{path: filepath.Join(dir, walReserveFile), size: size}
	t.Cleanup(r.close) // before the unmount
	if err := r.ensure(); err != nil {
		t.Fatal(err)
	}
	// Room for the reserve or a segment, not both.
	fillTo(t, dir, "filler", 1<<20)
	segment := filepath.Join(dir, "segment")
	for i := range 100 {
		stop := make(chan struct{})
		writer := make(chan struct{})
		go func() {
			defer close(writer)
			for {
				select {
				case <-stop:
					return
				default:
					_ = r.ensure() // fails for room while the segment holds it
				}
			}
		}()
		f, err := r.createSegment(segment, size)
		close(stop)
		<-writer
		if err != nil {
			t.Fatalf("round %d: the segment did not get the reserve's room: %v", i, err)
		}
		f.Close()
		if err := os.Remove(segment); err != nil {
			t.Fatal(err)
		}
		if err := r.ensure(); err != nil {
			t.Fatalf("round %d: the reserve could not be made again once the segment was gone: %v", i, err)
		}
	}
}
