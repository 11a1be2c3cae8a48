package fsm

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// FSM is orch's raft.FSM. It applies committed entries to the current Store
// and swaps in a fresh Store on snapshot restore.
type FSM struct {
	feed FeedLimits

	mu    sync.RWMutex
	store *Store
	// applied is the highest index of an entry this FSM has applied (commands
	// and configuration entries; raft keeps no-ops and barriers from it).
	applied atomic.Uint64
	// rejects counts and keeps the entries that could not be applied.
	rejects *rejections
	// funcs replaces the command registry in tests of the panic guard.
	funcs func(CommandType) (applyFunc, bool)
}

var _ raft.BatchingFSM = (*FSM)(nil)

// New returns an FSM with an empty store whose feed keeps feedSize events
// and at most DefaultFeedBytes.
func New(feedSize int) (*FSM, error) {
	return NewWithFeed(FeedLimits{Events: feedSize, Bytes: DefaultFeedBytes})
}

// NewWithFeed returns an FSM with an empty store whose feed is bounded by
// lim; zero fields take DefaultFeedSize and DefaultFeedBytes.
func NewWithFeed(lim FeedLimits) (*FSM, error) {
	if lim.Events <= 0 {
		lim.Events = DefaultFeedSize
	}
	if lim.Bytes <= 0 {
		lim.Bytes = DefaultFeedBytes
	}
	s, err := newStore(lim)
	if err != nil {
		return nil, err
	}
	return &FSM{feed: lim, store: s, rejects: newRejections()}, nil
}

// Store returns the current store. Hold on to it only for one request: a
// restore replaces it (and closes Abandoned on the old one).
func (f *FSM) Store() *Store {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.store
}

// Apply applies one committed entry.
func (f *FSM) Apply(l *raft.Log) any {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch applies committed entries in one go-memdb transaction, so a
// burst of writes costs one commit and one wake-up of the watchers. Each
// entry's objects get that entry's index as resourceVersion. The store's
// index becomes the batch's last entry (commands and configuration entries
// alike), so after a restore it still names everything applied.
//
// An entry whose apply panics (a defect that bad input reached) must not
// take the master down, nor leave half its changes behind: the transaction
// is thrown away and the batch applied again with that entry answered by
// entryError. The same bytes panic the same way on every master, so every
// master makes the same choice. Only a skew panic (an entry this binary does
// not understand but a newer one may) goes on up.
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	if len(logs) == 0 {
		return out
	}
	s := f.Store()
	failed := map[int]Result{}
	for {
		s.applyMu.Lock()
		w, at, p := applyLogs(s, logs, out, failed, f.funcs)
		if w == nil {
			s.applyMu.Unlock()
			failed[at] = Result{Err: entryError(logs[at].Index, "applying it failed: %v", p)}
			continue
		}
		for i, res := range failed {
			out[i] = res
			w.rejected = append(w.rejected, Rejection{Index: logs[i].Index, Err: res.Err})
		}
		last := logs[len(logs)-1].Index
		// The uids the batch gave go in before the commit, the ones it
		// freed after (see uidIndex).
		s.uids.store(w.rows.byUID)
		w.txn.Commit()
		s.cache.committed(w)
		s.publish(last)
		s.uids.remove(w.rows.byUID)
		s.cache.recycle(w.rows)
		s.applyMu.Unlock()
		s.feed.append(w.events, last)
		f.applied.Store(last)
		f.rejects.add(w.rejected)
		return out
	}
}

// applyLogs applies logs in one write transaction, answering the entries in
// failed with their result. If an entry panics it aborts the transaction
// and returns a nil writeTxn with the entry's position and the panic value.
func applyLogs(s *Store, logs []*raft.Log, out []any, failed map[int]Result, funcs func(CommandType) (applyFunc, bool)) (w *writeTxn, at int, p any) {
	w = newWriteTxn(s)
	s.cache.start(w)
	w.funcs = funcs
	w.entries = len(logs)
	w.events = make([]Event, 0, len(logs))
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		if _, ok := failed[i]; ok {
			continue
		}
		w.index = l.Index
		if p := applyGuarded(w, l.Data, &out[i]); p != nil {
			w.txn.Abort()
			return nil, i, p
		}
	}
	return w, 0, nil
}

// applyGuarded applies one entry into *res and returns what it panicked
// with, if it did; a skew panic is not caught.
func applyGuarded(w *writeTxn, data []byte, res *any) (p any) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(skew); ok {
				panic(r)
			}
			p = r
		}
	}()
	*res = applyEntry(w, data)
	return nil
}

// AppliedIndex returns the highest index this FSM has applied. Unlike
// raft.Raft.AppliedIndex, which moves when entries are queued for the FSM,
// the store reflects every command up to it.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Snapshot returns a point-in-time snapshot of the store; Persist streams it.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	s := f.Store()
	txn, index := s.read()
	return &snapshot{txn: txn, index: index}, nil
}

// Restore replaces the store with the one in the snapshot. Watchers of the
// old store are woken and end; clients resume from their resourceVersion.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	s, err := newStore(f.feed)
	if err != nil {
		return err
	}
	idx, err := restoreInto(s, rc)
	if err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	s.feed = NewBoundedFeed(f.feed, idx)
	f.mu.Lock()
	old := f.store
	f.store = s
	f.mu.Unlock()
	f.applied.Store(idx)
	old.abandonStore()
	return nil
}
