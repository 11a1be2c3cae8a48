package fsm

import (
	"slices"
	"sort"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// The fields a WatchFilter can name besides the resource, as Kubernetes'
// watch cache dispatches pod events by spec.nodeName (its trigger index)
// instead of offering each to every watcher.
const (
	// FieldNodeName is a pod's spec.nodeName (Record.NodeName).
	FieldNodeName = "spec.nodeName"
	// FieldName is an object's metadata.name.
	FieldName = "metadata.name"
	// FieldNamespace is an object's metadata.namespace ("" when cluster-scoped).
	FieldNamespace = "metadata.namespace"
)

// AllResources, as a WatchFilter's Resource, lets every event through, of
// every resource (a leader loop that looks at everything, such as the
// garbage collector, follows it).
const AllResources = "*"

// noResource is the Resource of a filter no event passes (every event has
// a resource).
const noResource = ""

// subscriptionQueue bounds the events a subscription holds for its reader.
// Past it the subscription drops them and its next Next reads the feed's
// window instead (see Subscription), so a slow watcher costs the feed no
// more than this many events' slots.
const subscriptionQueue = 1024

// WatchFilter says which events a Subscription gets: every event of
// Resource, or, with Field set, those whose object after or before the
// change has Value in Field. It is a coarse filter: a watch still matches
// its own selectors against each event it gets; the filter only spares the
// feed from handing every event to every watcher.
type WatchFilter struct {
	Resource string
	// Field is "", FieldNodeName, FieldName or FieldNamespace.
	Field, Value string
}

// matches reports whether the filter lets e through.
func (w WatchFilter) matches(e Event) bool {
	if w.Resource == AllResources {
		return true
	}
	if e.Resource != w.Resource {
		return false
	}
	if w.Field == "" {
		return true
	}
	return fieldValue(w.Field, e.Record) == w.Value || e.Prev != nil && fieldValue(w.Field, e.Prev) == w.Value
}

// fieldValue returns r's value of field (a WatchFilter field).
func fieldValue(field string, r *Record) string {
	switch field {
	case FieldNodeName:
		return r.NodeName()
	case FieldName:
		k := r.Key()
		return k[strings.LastIndexByte(k, '/')+1:]
	case FieldNamespace:
		k := r.Key()
		if i := strings.LastIndexByte(k, '/'); i >= 0 {
			return k[:i]
		}
		return ""
	}
	return ""
}

// Subscription is one watcher's view of the feed: the feed hands it the
// events its filter lets through as they are appended, so an event costs
// the feed one step per watcher it concerns, not one per watcher (a node's
// watch of its own pods is not woken by another node's Lease). Its methods
// are safe for one reader; Stop may be called from anywhere.
//
// The subscription holds at most subscriptionQueue events. A reader that
// falls further behind, and a new subscription from an older
// resourceVersion, read the feed's window on their next Next, filtered, as
// Since does: a lagging reader loses nothing while its resourceVersion is
// in the window, and gets Gone once it is not.
type Subscription struct {
	feed *Feed
	// filters are what the subscription takes: an event any of them lets
	// through. Those of one subscription never let one event through twice
	// (Subscribe has one; Follow's name distinct resources without fields).
	filters []WatchFilter
	wake    chan struct{}

	// window: the subscription queues nothing and Next reads its events
	// from the feed's window (Follow's).
	window bool

	// Guarded by feed.mu.
	queue  []Event
	sent   uint64 // the feed's last index when the reader last took events
	lag    bool   // queue is incomplete: read the window after sent
	due    bool   // (window) an event was let through since sent
	closed bool
}

// subscribers are a resource's subscriptions: those that take every event
// and those keyed by a field's value.
type subscribers struct {
	all map[*Subscription]struct{}
	by  map[string]map[string]map[*Subscription]struct{} // field -> value -> set
}

// Subscribe starts a subscription to the events after rv that filter lets
// through. It returns a Gone error when rv is older than the window. Stop
// it when done.
func (f *Feed) Subscribe(rv uint64, filter WatchFilter) (*Subscription, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subscribe(rv, []WatchFilter{filter})
}

// Follow starts a subscription to every event of the named resources
// (AllResources: of every resource) from now on, and returns it with the
// feed's last index: every event after it that concerns the resources
// reaches the subscription. A leader loop follows what its passes look at,
// so a change of anything else neither wakes it nor costs it a copy.
//
// The subscription queues nothing: an event it takes only marks it due
// and wakes its reader (once until the next Next), and Next reads the
// events from the feed's window, as after a lag, into one slice of their
// number. A reader that falls behind the window gets Gone.
// Follow with no resources takes no event (its reader waits for the feed's
// end only). Stop it when done.
func (f *Feed) Follow(resources ...string) (*Subscription, uint64) {
	var filters []WatchFilter
	for _, r := range resources {
		if r == AllResources {
			filters = []WatchFilter{{Resource: AllResources}}
			break
		}
		if !slices.ContainsFunc(filters, func(w WatchFilter) bool { return w.Resource == r }) {
			filters = append(filters, WatchFilter{Resource: r})
		}
	}
	if len(filters) == 0 {
		// Filed under no resource's name, so that the feed's end still
		// reaches it.
		filters = []WatchFilter{{Resource: noResource}}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	s, _ := f.subscribe(f.last, filters) // from f.last: never Gone
	s.window = true
	return s, f.last
}

// subscribe is Subscribe with several filters. The caller holds f.mu.
func (f *Feed) subscribe(rv uint64, filters []WatchFilter) (*Subscription, error) {
	s := &Subscription{feed: f, filters: filters, wake: make(chan struct{}, 1), sent: rv}
	if f.closed {
		s.closed = true
		s.wake <- struct{}{}
		return s, nil
	}
	if rv < f.floor {
		return nil, v1.NewGone("too old resource version: " + itoa(rv) + " (" + itoa(f.floor) + ")")
	}
	if rv < f.last {
		// The backlog is read from the window by the first Next.
		s.lag = true
		s.wake <- struct{}{}
	}
	if f.subs == nil {
		f.subs = map[string]*subscribers{}
	}
	for _, filter := range filters {
		f.add(s, filter)
	}
	return s, nil
}

// add files s under filter. The caller holds f.mu.
func (f *Feed) add(s *Subscription, filter WatchFilter) {
	rs := f.subs[filter.Resource]
	if rs == nil {
		rs = &subscribers{all: map[*Subscription]struct{}{}, by: map[string]map[string]map[*Subscription]struct{}{}}
		f.subs[filter.Resource] = rs
	}
	if filter.Field == "" {
		rs.all[s] = struct{}{}
		return
	}
	byValue := rs.by[filter.Field]
	if byValue == nil {
		byValue = map[string]map[*Subscription]struct{}{}
		rs.by[filter.Field] = byValue
	}
	set := byValue[filter.Value]
	if set == nil {
		set = map[*Subscription]struct{}{}
		byValue[filter.Value] = set
	}
	set[s] = struct{}{}
}

// Wait returns a channel that receives when Next has something new: events,
// the end of the feed, or a lag to catch up on.
func (s *Subscription) Wait() <-chan struct{} { return s.wake }

// Next returns the events the filter let through since the last call (or
// since the subscription's resourceVersion; read-only: they may be shared
// with other readers), the highest index the feed has seen (every event up
// to it that the filter lets through is in this call's events or an
// earlier call's), closed=true once the feed was replaced by a snapshot
// restore, and a Gone error when the subscription lagged behind the window.
func (s *Subscription) Next() (evs []Event, last uint64, closed bool, err error) {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	if s.closed {
		return nil, f.last, true, nil
	}
	if s.lag {
		if s.sent < f.floor {
			return nil, f.last, false, v1.NewGone(
				"too old resource version: " + itoa(s.sent) + " (" + itoa(f.floor) + ")")
		}
		evs = s.fromWindow()
		s.lag = false
	} else if s.window {
		if s.due {
			evs = s.fromWindow()
		}
	} else {
		evs = s.queue
	}
	s.queue, s.sent, s.due = nil, f.last, false
	return evs, f.last, false, nil
}

// fromWindow returns the events of the feed's window after s.sent that s
// takes, in a slice of their number (nil for none): when they are the
// events of the feed's last append, or one run of them, that append's
// slice, shared with the other readers (read-only), and otherwise a copy. The caller holds
// feed.mu and has checked that s.sent is in the window.
func (s *Subscription) fromWindow() []Event {
	f := s.feed
	i := sort.Search(len(f.events), func(i int) bool { return f.events[i].Index > s.sent })
	after := f.events[i:]
	if len(s.filters) == 1 && s.filters[0].Resource == AllResources {
		if f.isBatch(after) {
			return f.batch
		}
		return slices.Clone(after)
	}
	// n events match, from after[first] to after[end-1].
	n, first, end := 0, 0, 0
	for j, e := range after {
		if s.matches(e) {
			if n == 0 {
				first = j
			}
			n, end = n+1, j+1
		}
	}
	if n == 0 {
		return nil
	}
	if n == end-first && f.isBatch(after) {
		// One run of the batch (all of it, when it holds the resources
		// s follows only).
		return f.batch[first:end:end]
	}
	evs := make([]Event, 0, n)
	for _, e := range after {
		if s.matches(e) {
			evs = append(evs, e)
		}
	}
	return evs
}

// matches reports whether one of s's filters lets e through.
func (s *Subscription) matches(e Event) bool {
	for _, w := range s.filters {
		if w.matches(e) {
			return true
		}
	}
	return false
}

// Skip drops what s holds and not yet read and returns the feed's last
// index, from which s goes on: a reader about to look at everything (a
// leader loop's full pass) needs none of the events up to it. It returns
// closed=true once the feed was replaced.
func (s *Subscription) Skip() (last uint64, closed bool) {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	s.queue, s.lag, s.sent, s.due = nil, false, f.last, false
	return f.last, s.closed
}

// Pending returns the feed's last index and whether Next has anything for
// the reader: events, a lag to catch up on, or the feed's end. With
// nothing pending, every event up to last that s takes was returned by a
// Next already.
func (s *Subscription) Pending() (last uint64, pending bool) {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.last, len(s.queue) > 0 || s.lag || s.due || s.closed
}

// Stop ends the subscription: the feed forgets it.
func (s *Subscription) Stop() {
	f := s.feed
	f.mu.Lock()
	defer f.mu.Unlock()
	s.queue = nil
	for _, w := range s.filters {
		f.remove(s, w)
	}
}

// remove unfiles s from filter. The caller holds f.mu.
func (f *Feed) remove(s *Subscription, filter WatchFilter) {
	rs := f.subs[filter.Resource]
	if rs == nil {
		return
	}
	if filter.Field == "" {
		delete(rs.all, s)
	} else if byValue := rs.by[filter.Field]; byValue != nil {
		if set := byValue[filter.Value]; set != nil {
			delete(set, s)
			if len(set) == 0 {
				delete(byValue, filter.Value)
			}
		}
		if len(byValue) == 0 {
			delete(rs.by, filter.Field)
		}
	}
	if len(rs.all) == 0 && len(rs.by) == 0 {
		delete(f.subs, filter.Resource)
	}
}

// push hands e to s (a window subscription: marks it due), and wakes its
// reader. The caller holds feed.mu.
func (s *Subscription) push(e Event) {
	if s.window {
		if s.due {
			return // woken already
		}
		s.due = true
	} else if !s.lag {
		if len(s.queue) < subscriptionQueue {
			s.queue = append(s.queue, e)
		} else {
			s.queue, s.lag = nil, true
		}
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// dispatch hands e to the subscriptions whose filter lets it through and
// counts the hand-overs. The caller holds f.mu.
func (f *Feed) dispatch(e Event) {
	if every := f.subs[AllResources]; every != nil {
		for s := range every.all {
			s.push(e)
			f.handed++
		}
	}
	rs := f.subs[e.Resource]
	if rs == nil {
		return
	}
	for s := range rs.all {
		s.push(e)
		f.handed++
	}
	for field, byValue := range rs.by {
		v := fieldValue(field, e.Record)
		for s := range byValue[v] {
			s.push(e)
			f.handed++
		}
		if e.Prev == nil {
			continue
		}
		if pv := fieldValue(field, e.Prev); pv != v {
			for s := range byValue[pv] {
				s.push(e)
				f.handed++
			}
		}
	}
}

// closeSubscriptions ends every subscription. The caller holds f.mu.
func (f *Feed) closeSubscriptions() {
	for _, rs := range f.subs {
		for s := range rs.all {
			s.end()
		}
		for _, byValue := range rs.by {
			for _, set := range byValue {
				for s := range set {
					s.end()
				}
			}
		}
	}
}

// end marks s closed and wakes its reader. The caller holds feed.mu.
func (s *Subscription) end() {
	s.closed, s.queue = true, nil
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Handed returns how many events the feed has handed to subscriptions, a
// count of the work watches cost it.
func (f *Feed) Handed() uint64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.handed
}
