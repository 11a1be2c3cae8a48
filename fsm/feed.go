package fsm

import (
	"sort"
	"sync"

	v1 "orch.io/orch/api/v1"
)

// Event is one change of one object, as a watch delivers it.
type Event struct {
	// Index is the Raft index of the entry that made the change; it equals
	// the object's resourceVersion.
	Index uint64
	// Type is v1.Added, v1.Modified or v1.Deleted.
	Type string
	// Resource is the plural resource name, e.g. "pods".
	Resource string
	// Record is the object after the change (for a delete: its last state,
	// with resourceVersion set to the delete's index).
	Record *Record
	// Prev is the object before the change (nil for ADDED). Watches with a
	// selector use it to turn a change into ADDED or DELETED when the object
	// starts or stops matching.
	Prev *Record
}

// Feed is the store's change feed: the most recent events in index order.
// Watches read it from a resourceVersion; a resourceVersion older than the
// window it keeps is answered with Gone (410), as Kubernetes does once etcd
// has compacted.
type Feed struct {
	mu     sync.Mutex
	events []Event
	// floor is the highest index whose events are no longer all kept:
	// a watch may start from any rv >= floor.
	floor  uint64
	last   uint64
	max    int
	notify chan struct{}
	closed bool
}

// NewFeed returns a feed that keeps at least max events and serves watches
// from resourceVersions >= start.
func NewFeed(max int, start uint64) *Feed {
	if max < 1 {
		max = 1
	}
	return &Feed{max: max, floor: start, last: start, notify: make(chan struct{})}
}

// append adds the events of one applied batch (all with index <= last) and
// wakes the waiting watchers. last is the highest index applied.
func (f *Feed) append(evs []Event, last uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, evs...)
	if last > f.last {
		f.last = last
	}
	if n := len(f.events); n > 2*f.max {
		drop := n - f.max
		// Never split one index: drop whole indexes only, rounding down so
		// that at least max events stay (rounding up could drop the entry
		// just appended and send every up-to-date watcher away with Gone).
		for drop > 0 && f.events[drop].Index == f.events[drop-1].Index {
			drop--
		}
		if drop > 0 {
			f.floor = f.events[drop-1].Index
			f.events = append([]Event(nil), f.events[drop:]...)
		}
	}
	close(f.notify)
	f.notify = make(chan struct{})
}

// close wakes every watcher for the last time; Since then reports closed.
func (f *Feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.notify)
	}
}

// Since returns the events with index > rv, the highest index the feed has
// seen, and a channel closed when more arrive. It returns a Gone error when
// rv is older than the window, and closed=true once the feed was replaced
// (after a snapshot restore) so the watcher must end.
func (f *Feed) Since(rv uint64) (evs []Event, last uint64, wait <-chan struct{}, closed bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, f.last, nil, true, nil
	}
	if rv < f.floor {
		return nil, f.last, nil, false, v1.NewGone(
			"too old resource version: " + itoa(rv) + " (" + itoa(f.floor) + ")")
	}
	i := sort.Search(len(f.events), func(i int) bool { return f.events[i].Index > rv })
	if i < len(f.events) {
		evs = append([]Event(nil), f.events[i:]...)
	}
	return evs, f.last, f.notify, false, nil
}

// Window returns the lowest resourceVersion a watch may start from and the
// last index seen.
func (f *Feed) Window() (floor, last uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.floor, f.last
}
