package sched

import (
	"fmt"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// rebuild makes the collector's view of s from lists of every resource
// and adds to work the objects that need a look: objects with owners, and
// objects being deleted with a collector's finalizer. It reads every
// stored object once (its summary), so it runs only when the view cannot
// be kept from the feed: the first pass over a store (the first, or after
// a snapshot restore replaced it) and a resync after the feed's window
// lost the changes since the previous pass.
func (gc *GarbageCollector) rebuild(s *fsm.Store, work map[objKey]struct{}) error {
	gc.store, gc.seen = nil, 0
	gc.dependents = map[string]map[objKey]struct{}{}
	gc.finalizing = map[objKey]struct{}{}
	for i, r := range v1.Resources() {
		res, err := s.List(r.Name, fsm.ListOptions{})
		if err != nil {
			gc.dependents = nil
			return fmt.Errorf("gc rebuild: %w", err)
		}
		if i == 0 {
			// Each list reads the store as it is then: the view reflects
			// every change up to the first one's index and some later
			// ones, which the next pass replays (harmlessly, see observe).
			gc.seen = res.Index
		}
		for _, rec := range res.Items {
			m := &rec.Summary().Meta
			k := keyOf(r.Name, m)
			gc.index(k, m.OwnerReferences)
			if gcFinalizing(m) {
				gc.finalizing[k] = struct{}{}
			}
			if len(m.OwnerReferences) > 0 || gcFinalizing(m) {
				work[k] = struct{}{}
			}
		}
	}
	gc.store = s
	return nil
}

// resync is the pass that runs every Resync (and after the feed's window
// was lost for the loop): it catches the view up with the changes in the
// feed since the previous pass and attends to every object the view knows
// has owners or is being deleted with a collector's finalizer, read fresh
// from the store, as a rebuild's pass does, without reading any other
// object: O(those objects) reads, however many objects without owners the
// store holds (Kubernetes' collector, whose graph its informers keep,
// reads nothing on a resync and retries its failed items instead).
//
// What it guarantees: within Resync, every dependent whose owners are gone
// is deleted (or rid of its references to the gone ones), every orphan and
// foreground deletion is driven on, even when the write that should have
// done it failed or its outcome was lost and no change of the object
// followed. What it assumes: the feed holds every change of every stored
// object (watches are served from it), so the view kept from it is the one
// a rebuild would make (TestGarbageCollectorViewMatchesRebuild). When the
// feed no longer holds the changes since the view's index (or was closed
// by a restore), it rebuilds.
func (gc *GarbageCollector) resync(s *fsm.Store, work map[objKey]struct{}) error {
	evs, last, _, closed, err := s.Feed().Since(gc.seen)
	if err != nil || closed {
		return gc.rebuild(s, work)
	}
	for _, ev := range evs {
		gc.observe(ev, work)
	}
	gc.seen = max(gc.seen, last)
	for _, set := range gc.dependents {
		for k := range set {
			work[k] = struct{}{}
		}
	}
	for k := range gc.finalizing {
		work[k] = struct{}{}
	}
	return nil
}

// observe updates the view from one change and adds what it concerns to
// work: the object itself when it has owners or is being deleted with a
// collector's finalizer, its owners (one may wait for it), and, when it is
// gone or being deleted, its dependents. A change of an object without
// either adds nothing and reads nothing but its summary. Replaying a
// change the view reflects already, followed by every later change of the
// object, leaves the view as it was: each change unfiles what the object
// was before it and files what it became.
func (gc *GarbageCollector) observe(ev fsm.Event, work map[objKey]struct{}) {
	m := &ev.Record.Summary().Meta
	k := keyOf(ev.Resource, m)
	if ev.Prev != nil {
		gc.unindex(k, ev.Prev.Summary().Meta.OwnerReferences)
	}
	gc.seen = max(gc.seen, ev.Index)
	for _, ref := range m.OwnerReferences {
		if o, ok := gc.ownerKey(k, ref); ok {
			work[o] = struct{}{}
		}
	}
	if ev.Type == v1.Deleted {
		delete(gc.finalizing, k)
		for d := range gc.dependents[m.UID] {
			work[d] = struct{}{}
		}
		return
	}
	gc.index(k, m.OwnerReferences)
	if gcFinalizing(m) {
		gc.finalizing[k] = struct{}{}
	} else {
		delete(gc.finalizing, k)
	}
	if len(m.OwnerReferences) > 0 || gcFinalizing(m) {
		// Only these need attend's look (as on a full pass): an object
		// without owners or the collector's finalizers is nothing to it.
		work[k] = struct{}{}
	}
	if m.DeletionTimestamp != nil {
		for d := range gc.dependents[m.UID] {
			work[d] = struct{}{}
		}
	}
}

func (gc *GarbageCollector) index(k objKey, refs []v1.OwnerReference) {
	for _, ref := range refs {
		set := gc.dependents[ref.UID]
		if set == nil {
			set = map[objKey]struct{}{}
			gc.dependents[ref.UID] = set
		}
		set[k] = struct{}{}
	}
}

func (gc *GarbageCollector) unindex(k objKey, refs []v1.OwnerReference) {
	for _, ref := range refs {
		if set := gc.dependents[ref.UID]; set != nil {
			delete(set, k)
			if len(set) == 0 {
				delete(gc.dependents, ref.UID)
			}
		}
	}
}
