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

// DefaultFeedBytes bounds the bytes the feed keeps alive by default: 128 MiB.
// With objects of up to 1.5 MiB (the API's limit) at least ~40 updates of
// the largest objects stay in the window (each update counts the object
// before and after, see FeedLimits), while ordinary objects of a few KiB reach the event count
// (DefaultFeedSize, 50,000 events of ~2.5 KiB are ~128 MiB) first, so the
// byte bound changes nothing for them.
const DefaultFeedBytes int64 = 128 << 20

// feedEventOverhead is what one event costs besides its objects' bytes: the
// Event, two Records and their index keys.
const feedEventOverhead = 512

// FeedLimits bound the change feed's window. The oldest events are evicted,
// in whole indexes, once either bound is passed; a watch from before the
// window gets 410 Gone.
type FeedLimits struct {
	// Events is the number of events kept: at least Events, and fewer than
	// 2*Events unless one index alone is larger (values < 1 count as 1).
	Events int
	// Bytes bounds the sum of the events' sizes (0: no byte bound). An
	// event's size is the JSON encoding of its object after and before the
	// change plus a fixed overhead. A record keeps its encoding, and its
	// decoded object only while a reader holds it (see Record); consecutive
	// events share a record, which both count, so the sum is at least the
	// memory the window keeps alive and at most about twice it. The events of the newest index are always kept, whatever their
	// size, so a watcher that is up to date keeps getting them.
	Bytes int64
}

// Feed is the store's change feed: the most recent events in index order.
// Watches read it from a resourceVersion; a resourceVersion older than the
// window it keeps is answered with Gone (410), as Kubernetes does once etcd
// has compacted.
type Feed struct {
	mu     sync.Mutex
	events []Event
	// sizes[i] is the size of events[i] (see FeedLimits.Bytes); bytes is their sum.
	sizes []int64
	bytes int64
	// eventsBase and sizesBase are the arrays events and sizes are
	// resliced from as drop evicts (see roomFor).
	eventsBase []Event
	sizesBase  []int64
	// floor is the highest index whose events are no longer all kept:
	// a watch may start from any rv >= floor.
	floor    uint64
	last     uint64
	max      int
	maxBytes int64
	notify   chan struct{}
	closed   bool
	// batch is the events of the last append as the FSM handed them over,
	// which nothing changes afterwards: a reader whose events since its
	// last read are exactly these (a leader loop woken per committed
	// batch) shares them instead of getting a copy (see isBatch).
	batch []Event
	// subs are the subscriptions by resource (feed_subscribe.go); handed
	// counts the events handed to them.
	subs   map[string]*subscribers
	handed uint64
}

// NewFeed returns a feed that keeps at least max events, with no byte
// bound, and serves watches from resourceVersions >= start.
func NewFeed(max int, start uint64) *Feed {
	return NewBoundedFeed(FeedLimits{Events: max}, start)
}

// NewBoundedFeed returns a feed bounded by lim that serves watches from
// resourceVersions >= start.
func NewBoundedFeed(lim FeedLimits, start uint64) *Feed {
	return &Feed{max: max(lim.Events, 1), maxBytes: max(lim.Bytes, 0), floor: start, last: start,
		notify: make(chan struct{})}
}

// eventSize is what an event counts against FeedLimits.Bytes. It asks each
// record for its JSON, which a record the FSM made from an object encodes
// once and keeps: the leader does so anyway for the write's answer, and
// watchers need it, so a follower's records now cost what the leader's do.
func eventSize(e Event) int64 {
	n := int64(feedEventOverhead)
	for _, r := range []*Record{e.Record, e.Prev} {
		if r == nil {
			continue
		}
		if raw, err := r.JSON(); err == nil {
			n += int64(len(raw))
		}
	}
	return n
}

// append adds the events of one applied batch (all with index <= last) and
// wakes the waiting watchers. last is the highest index applied. The feed
// keeps evs itself too (see batch): the caller must not change it.
func (f *Feed) append(evs []Event, last uint64) {
	// Sized before taking the lock: sizing may encode a record.
	sizes := make([]int64, len(evs))
	for i, e := range evs {
		sizes[i] = eventSize(e)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	// The window's arrays are reused once drop evicted enough of them:
	// reallocating them (MBs) as appends ran past their end cost ~5% of
	// an apply.
	f.events = appendWindow(&f.eventsBase, f.events, evs)
	f.sizes = appendWindow(&f.sizesBase, f.sizes, sizes)
	f.batch = evs[:len(evs):len(evs)]
	for _, sz := range sizes {
		f.bytes += sz
	}
	if last > f.last {
		f.last = last
	}
	for _, e := range evs {
		f.dispatch(e)
	}
	if n := len(f.events); n > 2*f.max {
		drop := n - f.max
		// Never split one index: drop whole indexes only, rounding down so
		// that at least max events stay (rounding up could drop the entry
		// just appended and send every up-to-date watcher away with Gone).
		for drop > 0 && f.events[drop].Index == f.events[drop-1].Index {
			drop--
		}
		f.drop(drop)
	}
	if f.maxBytes > 0 && f.bytes > f.maxBytes {
		f.drop(f.dropForBytes())
	}
	close(f.notify)
	f.notify = make(chan struct{})
}

// dropForBytes returns how many of the oldest events to drop to bring the
// feed within its byte bound: whole indexes, never the newest index.
func (f *Feed) dropForBytes() int {
	n := len(f.events)
	if n == 0 {
		return 0
	}
	newest := f.events[n-1].Index
	drop, bytes := 0, f.bytes
	for drop < n && bytes > f.maxBytes && f.events[drop].Index != newest {
		// Take the whole index.
		idx := f.events[drop].Index
		for drop < n && f.events[drop].Index == idx {
			bytes -= f.sizes[drop]
			drop++
		}
	}
	return drop
}

// drop evicts the n oldest events, which must end at an index boundary, and
// raises the floor to their last index. The evicted slots are cleared so
// that their records can be collected; the next append that finds no room
// after the window moves it back to its array's front (roomFor).
func (f *Feed) drop(n int) {
	if n <= 0 {
		return
	}
	f.floor = f.events[n-1].Index
	for i := range n {
		f.bytes -= f.sizes[i]
		f.events[i] = Event{}
	}
	f.events, f.sizes = f.events[n:], f.sizes[n:]
	if len(f.events) == 0 {
		f.events, f.sizes, f.eventsBase, f.sizesBase = nil, nil, nil, nil
	}
}

// appendWindow appends add to s, a window resliced from *base by drop,
// moving s to base's front first when that makes room (roomFor); when
// append needs a new array, that becomes *base.
func appendWindow[T any](base *[]T, s, add []T) []T {
	s = roomFor(*base, s, len(add))
	if len(s)+len(add) > cap(s) {
		s = append(s, add...)
		*base = s
		return s
	}
	return append(s, add...)
}

// roomFor returns s with room for n more elements in base, the array s was
// resliced from as drop evicted its first elements (s ends where base's
// capacity does): when s is short of room, its elements move to base's
// front if base holds them and n more and the evicted slots before s are
// at least a quarter of len(s), so that the move's copy is paid for by the
// evictions since the last one. Otherwise it returns s and append grows it
// into a new array. The slots the elements leave are cleared.
func roomFor[T any](base, s []T, n int) []T {
	if len(s)+n <= cap(s) {
		return s
	}
	base = base[:cap(base)]
	dead := cap(base) - cap(s)
	if dead <= 0 || len(s)+n > len(base) || dead < len(s)/4 {
		return s
	}
	live := copy(base, s)
	clear(base[live : dead+live])
	return base[:live]
}

// Bytes returns the sum of the sizes of the events kept (see FeedLimits.Bytes).
func (f *Feed) Bytes() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.bytes
}

// close wakes every watcher for the last time; Since then reports closed.
func (f *Feed) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.closed {
		f.closed = true
		close(f.notify)
		f.closeSubscriptions()
	}
}

// Since returns the events with index > rv (read-only: they may be shared
// with other readers), the highest index the feed has seen, and a channel
// closed when more arrive. It returns a Gone error when rv is older than
// the window, and closed=true once the feed was replaced (after a snapshot
// restore) so the watcher must end.
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
		if f.isBatch(f.events[i:]) {
			evs = f.batch
		} else {
			evs = append([]Event(nil), f.events[i:]...)
		}
	}
	return evs, f.last, f.notify, false, nil
}

// isBatch reports whether after, a non-empty tail of the window, holds
// the events of the last append (batch), which the caller may then hand
// out instead of a copy. The window holds the batch at its end unless an
// eviction took some of it, which leaves fewer events than the batch has.
// The caller holds f.mu.
func (f *Feed) isBatch(after []Event) bool {
	return len(after) == len(f.batch) && len(after) > 0
}

// Window returns the lowest resourceVersion a watch may start from and the
// last index seen.
func (f *Feed) Window() (floor, last uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.floor, f.last
}
