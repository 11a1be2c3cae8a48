package fsm

import "sync"

// uidIndex finds a stored object by its resource and uid. It is a map
// beside the go-memdb tables rather than one of their indexes: an index
// copies, on every insert, the path to its new leaf in an immutable radix
// tree (uids are random, so every create copied a separate path) and keeps
// a leaf, a key and a watch channel per object, while readers look objects
// up by uid seldom (a controller finding an owner) and never need a
// snapshot of them.
//
// A batch's changes reach the map around the commit of its transaction:
// the records it stores before (so an object a reader sees in the tables is
// always found by its uid: a controller that lists a dependent finds its
// owner created in the same batch) and its removals after (so an object
// is found by uid until the tables no longer hold it). For that moment a
// uid may find a record that a reader of the tables does not see yet, or
// no longer sees; it is the state of an entry already committed to the log.
type uidIndex struct {
	mu sync.RWMutex
	m  map[rowKey]*Record
}

func newUIDIndex() *uidIndex { return &uidIndex{m: map[rowKey]*Record{}} }

// get returns the record of resource with uid, or nil.
func (x *uidIndex) get(resource, uid string) *Record {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return x.m[rowKey{resource, uid}]
}

// store adds or replaces the records of changes (by resource and uid)
// that are not nil.
func (x *uidIndex) store(changes map[rowKey]*Record) {
	if len(changes) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, rec := range changes {
		if rec != nil {
			x.m[k] = rec
		}
	}
}

// remove removes the uids that changes maps to nil.
func (x *uidIndex) remove(changes map[rowKey]*Record) {
	if len(changes) == 0 {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	for k, rec := range changes {
		if rec == nil {
			delete(x.m, k)
		}
	}
}
