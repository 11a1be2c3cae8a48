package cluster

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/raft"
	wal "github.com/hashicorp/raft-wal"
	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/metadb"
	"github.com/hashicorp/raft-wal/segment"
	"github.com/hashicorp/raft-wal/types"
)

// raft-wal on a full disk.
//
// raft-wal appends a batch of entries into a segment file preallocated
// (fallocate) to its full size, so an append never needs a new block and
// cannot fail for lack of room; a failed append is rolled back in memory
// (raft-wal >= v0.4.1). What needs room is starting the next segment when
// one is full: a commit of the meta database, then a new preallocated
// file. That happens in the background after the append that sealed the
// segment, and if it fails raft-wal logs it and keeps the sealed segment
// as the tail, refusing every later append ("segment is sealed") until the
// process restarts — and a restart on a still full disk may not get
// further. A master must not wedge like that because its disk filled.
//
// So a master keeps a reserve: a file in raft-wal/ preallocated to a
// segment's size and a little more. Starting a segment takes the reserve:
// its file becomes the segment, cut to the segment's size so the meta
// commit fits in the rest, or, while it is not filled yet (walfile.go),
// it is released and the new file made in its room. A master stores
// entries only while it holds a reserve: it makes a
// new one before the next append, and while it cannot, the append fails
// as a full disk (*DiskFullError) without reaching raft-wal. raft's term
// and vote go to the meta database, which writes into pages it freed
// before; should a write there still fail for room, the reserve is
// released and the write tried again (raft panics when it cannot persist
// a term or a vote).
//
// A full file system stops a master from storing entries even while its
// preallocated tail has room, as it does on bolt: an append fails as a
// full disk while statfs shows less than minFreeToCampaign free, the same
// room at which a full master campaigns again (disk.go).

const (
	// walSegmentSize is the size of a raft-wal segment file (raft-wal's
	// default is 64 MiB). Between two snapshots (SnapshotThreshold 16,384
	// entries of about a KiB) a master's log is some 20 MiB; a smaller
	// segment keeps the reserve, and the room a master needs for its log,
	// small.
	walSegmentSize = 16 << 20
	// walReserveSize is the reserve: a segment and room for the meta
	// database's commit beside it.
	walReserveSize = walSegmentSize + 1<<20
	// walReserveFile is the reserve's name in raft-wal/ (raft-wal lists
	// only files ending in .wal).
	walReserveFile = "reserve"
)

// walReserve is the room a master keeps for its next raft-wal segment.
//
// It is also the next segment's file, written ahead (walfile.go): once
// made, a goroutine writes its blocks with zeros and syncs them (fill),
// and the rotation renames a filled reserve to the new segment's name
// instead of allocating a file. fallocate leaves its blocks unwritten
// extents, and every append into such blocks changes the extent tree, so
// each sync after an append wrote metadata besides the entries; into
// written blocks an append is a plain overwrite and its fdatasync writes
// the entries alone (BenchmarkLogStore: the CPU per batch of 10 entries
// halves).
type walReserve struct {
	path string
	size int64

	mu   sync.Mutex
	held bool
	// fill writes the held reserve's blocks (nil: none held, or one left
	// by a fill that was stopped).
	fill *reserveFill
}

// reserveFill is one run of walReserve.runFill: err is set when done is
// closed.
type reserveFill struct {
	stop atomic.Bool
	done chan struct{}
	err  error
}

func newWALReserve(dir string) *walReserve {
	return &walReserve{path: filepath.Join(dir, walReserveFile), size: walReserveSize}
}

// ensure makes the reserve if it is not held: an error wrapping ENOSPC
// says the disk has no room for it.
func (r *walReserve) ensure() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held {
		return nil
	}
	if st, err := os.Stat(r.path); err != nil || st.Size() != r.size {
		// One left by an earlier run had its blocks allocated when made.
		if err := allocate(r.path, r.size); err != nil {
			os.Remove(r.path)
			return fmt.Errorf("keep %d bytes for the next raft log segment: %w", r.size, err)
		}
	}
	r.held = true
	f := &reserveFill{done: make(chan struct{})}
	r.fill = f
	go r.runFill(f)
	return nil
}

// runFill writes the reserve's blocks with zeros and syncs them, unless
// told to stop first.
func (r *walReserve) runFill(f *reserveFill) {
	f.err = r.writeFill(&f.stop)
	close(f.done)
}

// writeFill writes the reserve's blocks with zeros and syncs them.
//
// The zeros go through the page cache on purpose: an append then finds
// the page its last partial block is in cached. Written around the cache
// (O_DIRECT, less CPU for the fill itself), the first append into each
// page read it from disk first, which cost more than the fill saved (the
// appends' pwrite took longer than their fdatasync).
func (r *walReserve) writeFill(stop *atomic.Bool) error {
	file, err := os.OpenFile(r.path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer file.Close()
	// A buffer of 64 KiB, not of a MiB: the kernel's copy from a fresh
	// MiB (pages the runtime just had from the system) made six fills at
	// once cost about 60 ms of CPU each, against about 5 ms.
	buf := make([]byte, 64<<10)
	for off := int64(0); off < r.size; off += int64(len(buf)) {
		if stop.Load() {
			return errFillStopped
		}
		n := min(r.size-off, int64(len(buf)))
		if _, err := file.WriteAt(buf[:n], off); err != nil {
			return err
		}
	}
	return file.Sync() // the written extents and the size, not only the data
}

var errFillStopped = errors.New("stopped")

// readyLocked says the held reserve's blocks are written and synced.
func (r *walReserve) readyLocked() bool {
	if !r.held || r.fill == nil {
		return false
	}
	select {
	case <-r.fill.done:
		return r.fill.err == nil
	default:
		return false
	}
}

// stopFillLocked stops a fill under way and waits until it closed the
// file (after it the reserve's room is freed once the file is removed).
func (r *walReserve) stopFillLocked() {
	if f := r.fill; f != nil {
		f.stop.Store(true)
		<-f.done
		r.fill = nil
	}
}

// waitFill waits for a fill under way to end.
func (r *walReserve) waitFill() {
	r.mu.Lock()
	f := r.fill
	r.mu.Unlock()
	if f != nil {
		<-f.done
	}
}

// close stops a fill under way (the reserve stays for the next run).
func (r *walReserve) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopFillLocked()
}

// needed is the free space a master needs to store entries: a little,
// and room for the reserve when it holds none.
func (r *walReserve) needed() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held {
		return minFreeToCampaign
	}
	return minFreeToCampaign + uint64(r.size)
}

// releaseFor frees the reserve's room and, when it was held, runs use in
// it before anything can take the room back: raft-wal commits its state
// on its own goroutine while the writer's next batch makes the reserve
// again (ensure). It returns use's error, and whether use ran.
func (r *walReserve) releaseFor(use func() error) (ran bool, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.releaseLocked() {
		return false, nil
	}
	return true, use()
}

func (r *walReserve) releaseLocked() bool {
	r.stopFillLocked()
	had := r.held
	r.held = false
	if err := os.Remove(r.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return had
	}
	return had
}

// allocate creates path with size bytes of blocks allocated to it.
func allocate(path string, size int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	return errors.Join(allocateFile(f, size), f.Close())
}

// allocateFile allocates size bytes of blocks to the empty file f.
func allocateFile(f *os.File, size int64) error {
	err := syscall.Fallocate(int(f.Fd()), 0, 0, size)
	if errors.Is(err, syscall.EOPNOTSUPP) || errors.Is(err, syscall.EINTR) {
		err = writeZeros(f, size) // a file system without fallocate
	}
	return err
}

func writeZeros(w io.Writer, size int64) error {
	buf := make([]byte, 1<<20)
	for size > 0 {
		n := min(size, int64(len(buf)))
		if _, err := w.Write(buf[:n]); err != nil {
			return err
		}
		size -= n
	}
	return nil
}

// reserveMeta is raft-wal's meta database (segments, raft's term and
// vote) with writes that failed for room tried again in the reserve's.
type reserveMeta struct {
	*metadb.BoltMetaDB
	reserve *walReserve
}

// CommitState commits the segments' state.
func (m reserveMeta) CommitState(s types.PersistentState) error {
	err := m.BoltMetaDB.CommitState(s)
	if isNoSpace(err) {
		if ran, retry := m.reserve.releaseFor(func() error { return m.BoltMetaDB.CommitState(s) }); ran {
			err = retry
		}
	}
	return err
}

// SetStable stores one of raft's stable values (term, vote).
func (m reserveMeta) SetStable(key, value []byte) error {
	err := m.BoltMetaDB.SetStable(key, value)
	if isNoSpace(err) {
		if ran, retry := m.reserve.releaseFor(func() error { return m.BoltMetaDB.SetStable(key, value) }); ran {
			err = retry
		}
	}
	return err
}

// walStore is the raft-wal log store with its reserve. Entries are
// stored through its StoreLogs, not the WAL's (walCodec).
type walStore struct {
	*wal.WAL
	reserve *walReserve
	codec   *walCodec
}

// StoreLog stores one entry.
func (s walStore) StoreLog(l *raft.Log) error {
	return s.StoreLogs([]*raft.Log{l})
}

// StoreLogs stores entries, durably when it returns.
func (s walStore) StoreLogs(logs []*raft.Log) error {
	return s.codec.storeLogs(func() error { return s.WAL.StoreLogs(logs) })
}

// openWAL opens (or creates) the raft-wal log in dir and makes its
// reserve. A disk too full for the reserve does not stop the master: it
// stores no entries until there is room (diskStore).
func openWAL(dir string) (walStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return walStore{}, fmt.Errorf("create raft log dir %s: %w", dir, err)
	}
	reserve := newWALReserve(dir)
	if fresh, err := walIsNew(dir); err == nil && fresh && reserve.ensure() == nil {
		// raft-wal creates the first segment as it opens: let it have
		// written blocks too.
		reserve.waitFill()
	}
	meta := reserveMeta{BoltMetaDB: &metadb.BoltMetaDB{}, reserve: reserve}
	filer := walFiler{segment.NewFiler(dir, walFS{FS: walfs.New(), reserve: reserve})}
	codec := &walCodec{}
	s, err := wal.Open(dir, wal.WithMetaStore(walMeta{meta}), wal.WithSegmentFiler(filer),
		wal.WithCodec(codec), wal.WithSegmentSize(walSegmentSize))
	if err != nil {
		reserve.close()
		meta.Close()
		return walStore{}, fmt.Errorf("open raft log %s: %w", dir, err)
	}
	_ = reserve.ensure() // see above
	return walStore{WAL: s, reserve: reserve, codec: codec}, nil
}

// walIsNew says dir holds no raft-wal segment yet.
func walIsNew(dir string) (bool, error) {
	segs, err := filepath.Glob(filepath.Join(dir, "*.wal"))
	return len(segs) == 0, err
}

// Close stops the reserve's fill and closes the log.
func (s walStore) Close() error {
	s.reserve.close()
	return s.WAL.Close()
}
