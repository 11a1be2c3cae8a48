package cluster

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// A master whose data dir is full (ENOSPC, or EDQUOT under a quota) cannot
// store Raft entries. Raft fails the writes itself, and a leader that cannot
// store its own entries steps down; bolt rolls the failed transaction back,
// so the file stays whole, and raft-wal refuses entries before they reach
// it while it has no room for its next segment (walstore.go). What this
// file adds:
//
//   - the failure is typed (*DiskFullError) from the log store up to Apply,
//     which knows the write surely was not applied (a leader sends only what
//     it stored) and retries it on the next leader; when no leader takes it
//     in time the caller gets 503 naming the full disk, never an
//     outcome-unknown 504;
//   - while its disk is full a master does not campaign (its transport sends
//     no vote or pre-vote requests): winning would only fail its first entry
//     and start yet another election;
//   - a linearizable read on a master that cannot catch up fails at once with
//     503 (clients try the next master) instead of waiting out its deadline.
//
// Nothing needs an operator: the state clears with the next entries stored,
// and free space seen by statfs lets the master campaign again before that.
//
// Raft panics if it cannot persist a new term or vote. Those go to the same
// bolt file, but bolt writes them into pages freed by earlier transactions,
// so they succeed on a full disk (TestBoltOnFullDisk shows it on a tmpfs);
// only a data dir filled before its raft.db had ever been written to would
// lack such pages. raft-wal keeps them in its meta database, a bolt file
// too, and tries a write that failed for room again in its reserve's room.

// DiskFullError is the failure of a write that needed this master's disk
// while it was full. The write was not applied.
type DiskFullError struct {
	msg string
	err error
}

func newDiskFullError(master, dir string, err error) *DiskFullError {
	return &DiskFullError{err: err,
		msg: fmt.Sprintf("master %s cannot store the write: its data dir %s is full (%v)", master, dir, err)}
}

func (e *DiskFullError) Error() string { return e.msg }
func (e *DiskFullError) Unwrap() error { return e.err }

// isNoSpace reports whether err says the file system has no room left.
func isNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// minFreeToCampaign is the free space (statfs) at which a master whose last
// write failed for lack of room campaigns again, before any write succeeds.
const minFreeToCampaign = 1 << 20

// diskWatch follows whether this master's data dir has room for its writes.
type diskWatch struct {
	master, dir string
	log         *slog.Logger
	gauge       prometheus.Gauge
	// full holds the last write's failure while the disk is full, nil otherwise.
	full  atomic.Pointer[DiskFullError]
	since atomic.Int64 // unix nanoseconds of the first failure
	// free returns the bytes available in dir (syscall.Statfs; tests replace it).
	free func(dir string) (uint64, error)
	// need, if set, is the free space at which a full master campaigns
	// again (default minFreeToCampaign; raft-wal needs room for its
	// reserve too when it has none).
	need func() uint64
}

func newDiskWatch(master, dir string, log *slog.Logger, gauge prometheus.Gauge) *diskWatch {
	return &diskWatch{master: master, dir: dir, log: log, gauge: gauge, free: statfsFree}
}

func statfsFree(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// observe records the outcome of a write to the data dir and returns err,
// as a *DiskFullError when the disk is full. Only appended entries show
// that there is room again (entriesStored): a term or a deletion fits in
// pages bolt freed earlier even when the disk is full.
func (d *diskWatch) observe(err error, entriesStored bool) error {
	switch {
	case err == nil && !entriesStored:
		return nil
	case err == nil:
		if d.full.Swap(nil) != nil {
			d.gauge.Set(0)
			d.log.Info("data dir has room again: storing Raft entries", "dir", d.dir,
				"full for", time.Since(time.Unix(0, d.since.Load())).Round(time.Millisecond))
		}
		return nil
	case isNoSpace(err):
		df := newDiskFullError(d.master, d.dir, err)
		if d.full.Swap(df) == nil {
			d.since.Store(time.Now().UnixNano())
			d.gauge.Set(1)
			d.log.Error("data dir is full: this master cannot store Raft entries; it will not lead and refuses writes that need its disk until space is freed",
				"dir", d.dir, "err", err)
		}
		return df
	}
	return err
}

// lastFailure returns the last write's failure while the disk is full.
func (d *diskWatch) lastFailure() *DiskFullError { return d.full.Load() }

// Full reports whether this master should not count on its disk: its last
// write failed for lack of room and statfs does not show room again.
func (d *diskWatch) Full() bool {
	if d.full.Load() == nil {
		return false
	}
	free, err := d.free(d.dir)
	need := uint64(minFreeToCampaign)
	if d.need != nil {
		need = d.need()
	}
	return err != nil || free < need
}

// diskStore is the log store (bolt or raft-wal) with every write's outcome
// reported to the watch. It sits under raft's LogCache and is raft's
// StableStore.
type diskStore struct {
	raftStore
	watch *diskWatch
	// reserve, for raft-wal, is the room kept for its next segment
	// (walstore.go): entries are stored only while it is held and the file
	// system is not full.
	reserve *walReserve
	// room is the last statfs of roomForEntries.
	room roomCache
	// failLogs, when set, fails StoreLogs with this error before bolt sees
	// the entries: tests simulate a log store out of room (small stable
	// writes still fit, as they do in bolt's freed pages).
	failLogs atomic.Pointer[error]
}

func (s *diskStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s *diskStore) StoreLogs(logs []*raft.Log) error {
	if p := s.failLogs.Load(); p != nil {
		return s.watch.observe(*p, true)
	}
	if s.reserve != nil {
		if err := s.roomForEntries(logs); err != nil {
			return s.watch.observe(err, true)
		}
	}
	return s.watch.observe(s.raftStore.StoreLogs(logs), true)
}

// roomForEntries checks, for raft-wal, that a batch of entries may be
// stored: the file system is not full (statfs shows at least
// minFreeToCampaign free) and the reserve is held or can be made again.
// Its errors wrap ENOSPC when there is no room.
func (s *diskStore) roomForEntries(logs []*raft.Log) error {
	now, size := time.Now(), batchBytes(logs)
	if !s.room.covers(now, size) {
		free, err := s.watch.free(s.watch.dir)
		if err == nil && free < minFreeToCampaign {
			return fmt.Errorf("%d bytes free, under the %d a master needs to store entries: %w", free, minFreeToCampaign, syscall.ENOSPC)
		}
		if err == nil {
			s.room.saw(now, free, size)
		}
	}
	return s.reserve.ensure()
}

// batchBytes is about what storing logs takes on disk: their data and
// raft-wal's frame of each.
func batchBytes(logs []*raft.Log) uint64 {
	var n uint64
	for _, l := range logs {
		n += uint64(len(l.Data)+len(l.Extensions)) + 64
	}
	return n
}

// roomCache spares most batches their statfs, which costs ~9 µs on the
// masters' machines and was made for every stored batch on every master
// (hundreds a second under load): a batch goes on the last statfs while it
// is recent (roomCacheFor) and showed, less what was stored since, far
// more room than a master needs (roomCacheMargin). On a small or nearly
// full file system every batch is checked, as before.
type roomCache struct {
	mu    sync.Mutex
	at    time.Time // of the last statfs; zero: none
	free  uint64
	since uint64 // bytes stored since
}

const (
	roomCacheFor    = 50 * time.Millisecond
	roomCacheMargin = 256 << 20
)

// covers reports whether a batch of size bytes may go on the last statfs,
// and counts it if so.
func (c *roomCache) covers(now time.Time, size uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.at.IsZero() || now.Sub(c.at) >= roomCacheFor || c.since+size+roomCacheMargin > c.free {
		return false
	}
	c.since += size
	return true
}

// saw records a statfs that found free bytes, before a batch of size.
func (c *roomCache) saw(now time.Time, free, size uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.at, c.free, c.since = now, free, size
}

func (s *diskStore) DeleteRange(lo, hi uint64) error {
	return s.watch.observe(s.raftStore.DeleteRange(lo, hi), false)
}

func (s *diskStore) Set(k, v []byte) error { return s.watch.observe(s.raftStore.Set(k, v), false) }

func (s *diskStore) SetUint64(k []byte, v uint64) error {
	return s.watch.observe(s.raftStore.SetUint64(k, v), false)
}

// typedLogStore is the log store raft uses (the log cache over diskStore):
// a write that failed for lack of room is answered with the watch's
// *DiskFullError, whatever the layers below made of the error.
type typedLogStore struct {
	raft.LogStore
	watch *diskWatch
}

func (s typedLogStore) StoreLog(l *raft.Log) error { return s.StoreLogs([]*raft.Log{l}) }

func (s typedLogStore) StoreLogs(logs []*raft.Log) error {
	err := s.LogStore.StoreLogs(logs)
	if err != nil {
		if df := s.watch.lastFailure(); df != nil {
			return df
		}
	}
	return err
}

// errNoCampaign fails the vote requests of a master whose disk is full.
var errNoCampaign = errors.New("this master's data dir is full: it does not campaign")

// campaignTransport is the Raft transport of a master that does not
// campaign while its disk is full: it would win elections only to fail its
// first entry and step down again, keeping the cluster without a leader.
// Votes it grants others and everything else go through unchanged.
type campaignTransport struct {
	*raft.NetworkTransport
	full func() bool
}

func (t *campaignTransport) RequestVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	if t.full() {
		return errNoCampaign
	}
	return t.NetworkTransport.RequestVote(id, target, args, resp)
}

func (t *campaignTransport) RequestPreVote(id raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	if t.full() {
		return errNoCampaign
	}
	return t.NetworkTransport.RequestPreVote(id, target, args, resp)
}
