package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"unsafe"

	"github.com/hashicorp/raft"
)

// unwrittenExtents counts the extents of path that FIEMAP reports as
// allocated but never written (FIEMAP_EXTENT_UNWRITTEN): fallocate's,
// whose every first write changes the extent tree.
func unwrittenExtents(t *testing.T, path string) (unwritten, total int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const (
		fsIocFiemap      = 0xC020660B // _IOWR('f', 11, struct fiemap)
		fiemapFlagSync   = 0x1
		extentUnwritten  = 0x800
		extentLast       = 0x1
		headerLen        = 32
		extentLen        = 56
		extentsPerAnswer = 64
	)
	start := uint64(0)
	for {
		buf := make([]byte, headerLen+extentsPerAnswer*extentLen)
		binary.NativeEndian.PutUint64(buf[0:], start)
		binary.NativeEndian.PutUint64(buf[8:], ^uint64(0)-start)
		binary.NativeEndian.PutUint32(buf[16:], fiemapFlagSync)
		binary.NativeEndian.PutUint32(buf[24:], extentsPerAnswer)
		if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), fsIocFiemap, uintptr(unsafe.Pointer(&buf[0]))); e != 0 {
			t.Fatalf("FIEMAP %s (the test needs a disk file system such as ext4 or xfs in /var/tmp): %v", path, e)
		}
		n := int(binary.NativeEndian.Uint32(buf[20:]))
		if n == 0 {
			return unwritten, total
		}
		for i := range n {
			e := buf[headerLen+i*extentLen:]
			flags := binary.NativeEndian.Uint32(e[40:])
			total++
			if flags&extentUnwritten != 0 {
				unwritten++
			}
			if flags&extentLast != 0 {
				return unwritten, total
			}
			start = binary.NativeEndian.Uint64(e[0:]) + binary.NativeEndian.Uint64(e[16:])
		}
	}
}

// diskTempDir is a temporary directory on a disk file system (FIEMAP
// answers there, not on tmpfs).
func diskTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/var/tmp", "orch-walfile-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// TestSegmentFromReserve: a segment made from a filled reserve is the
// reserve's file, renamed and cut to the segment's size, every block
// written (an append into it changes no extent); without a filled
// reserve the segment is allocated by fallocate, its blocks unwritten
// extents; an existing segment is never replaced.
func TestSegmentFromReserve(t *testing.T) {
	const size = 2 << 20
	tests := []struct {
		name          string
		filled        bool
		wantUnwritten bool
	}{
		{"filled reserve", true, false},
		{"no reserve", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := diskTempDir(t)
			r := &walReserve{path: filepath.Join(dir, walReserveFile), size: size + 1<<20}
			t.Cleanup(r.close)
			if tt.filled {
				if err := r.ensure(); err != nil {
					t.Fatal(err)
				}
				r.waitFill()
			}
			seg := filepath.Join(dir, "00000000000000000001-0000000000000001.wal")
			f, err := r.createSegment(seg, size)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := os.Stat(r.path); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("the reserve is still there after the segment was made (%v)", err)
			}
			if st, err := os.Stat(seg); err != nil || st.Size() != size {
				t.Fatalf("segment: %v, size %d, want %d", err, st.Size(), size)
			}
			unwritten, total := unwrittenExtents(t, seg)
			if (unwritten > 0) != tt.wantUnwritten || total == 0 {
				t.Errorf("segment has %d unwritten extents of %d, want unwritten %v", unwritten, total, tt.wantUnwritten)
			}
			data := []byte("entries")
			if _, err := f.WriteAt(data, 4096); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, len(data))
			if _, err := f.ReadAt(got, 4096); err != nil || string(got) != string(data) {
				t.Fatalf("read back %q, %v", got, err)
			}
			if _, err := r.createSegment(seg, size); !errors.Is(err, fs.ErrExist) {
				t.Errorf("creating the segment again: %v, want it refused as existing", err)
			}
		})
	}
}

// TestWALSegmentsHaveWrittenBlocks stores entries through several
// segments of a master's raft-wal: each segment made from the filled
// reserve has no unwritten extent, and every entry reads back after the
// log is reopened.
func TestWALSegmentsHaveWrittenBlocks(t *testing.T) {
	dir := filepath.Join(diskTempDir(t), walDir)
	w, err := openWAL(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4000)
	for i := range data {
		data[i] = byte('a' + i%26)
	}
	const batch = 256
	next := uint64(1)
	// Through two rotations: the fresh log's first segment and two more
	// (entries carry a few bytes of framing: 3 segments' worth is plenty).
	for next < 3*walSegmentSize/uint64(len(data)) {
		// As diskStore does before each batch; then the rotation finds
		// the reserve filled.
		if err := w.reserve.ensure(); err != nil {
			t.Fatal(err)
		}
		w.reserve.waitFill()
		logs := make([]*raft.Log, batch)
		for i := range logs {
			logs[i] = &raft.Log{Index: next + uint64(i), Term: 1, Type: raft.LogCommand, Data: data}
		}
		if err := w.StoreLogs(logs); err != nil {
			t.Fatal(err)
		}
		next += batch
	}
	segs, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	if err != nil || len(segs) < 3 {
		t.Fatalf("segments %v (%v), want at least 3", segs, err)
	}
	for _, seg := range segs {
		if unwritten, total := unwrittenExtents(t, seg); unwritten > 0 {
			t.Errorf("%s: %d of %d extents unwritten", filepath.Base(seg), unwritten, total)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w, err = openWAL(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, i := range []uint64{1, next / 2, next - 1} {
		var l raft.Log
		if err := w.GetLog(i, &l); err != nil || l.Index != i || string(l.Data) != string(data) {
			t.Fatalf("entry %d after reopening: %v", i, fmt.Sprint(err, l.Index))
		}
	}
	if last, err := w.LastIndex(); err != nil || last != next-1 {
		t.Fatalf("last index %d (%v), want %d", last, err, next-1)
	}
}
