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
	return &FSM{feed: lim, store: s}, nil
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
func (f *FSM) ApplyBatch(logs []*raft.Log) []any {
	out := make([]any, len(logs))
	if len(logs) == 0 {
		return out
	}
	s := f.Store()
	w := &writeTxn{txn: s.db.Txn(true)}
	for i, l := range logs {
		if l.Type != raft.LogCommand {
			continue
		}
		w.index = l.Index
		out[i] = applyEntry(w, l.Data)
	}
	last := logs[len(logs)-1].Index
	if err := w.txn.Insert(tableIndex, &indexRow{ID: "last", Index: last}); err != nil {
		panic(fmt.Sprintf("fsm: write index %d: %v", last, err))
	}
	w.txn.Commit()
	s.feed.append(w.events, last)
	f.applied.Store(last)
	return out
}

// AppliedIndex returns the highest index this FSM has applied. Unlike
// raft.Raft.AppliedIndex, which moves when entries are queued for the FSM,
// the store reflects every command up to it.
func (f *FSM) AppliedIndex() uint64 { return f.applied.Load() }

// Snapshot returns a point-in-time snapshot of the store; Persist streams it.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	s := f.Store()
	return &snapshot{txn: s.db.Txn(false)}, nil
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
