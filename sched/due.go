package sched

import (
	"sync"
	"time"
)

// DefaultControllerResync is how long an incremental workload controller
// (replication, deployments, jobs, ...) goes between full passes. Every
// change reaches the objects it concerns through the change feed, and what
// a controller waits for in time (a back-off, a deadline,
// minReadySeconds) is scheduled per object in a dueSet, so the full pass
// is a safety net only: rare, as Kubernetes' controllers resync their
// informers every 12 hours or more, but often enough that an object a
// change failed to reach is repaired within minutes.
const DefaultControllerResync = 10 * time.Minute

// dueSet remembers when objects must be synced again without a change (a
// back-off's end, a deadline, minReadySeconds), as Kubernetes' controllers
// use their workqueue's AddAfter: an incremental loop's wake asks for the
// earliest, and its pass takes those whose time came. Safe for concurrent
// use; the zero value is ready.
type dueSet[K comparable] struct {
	mu sync.Mutex
	at map[K]time.Time
}

// set records that k must be synced at t; a zero t forgets k.
func (d *dueSet[K]) set(k K, t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if t.IsZero() {
		delete(d.at, k)
		return
	}
	if d.at == nil {
		d.at = map[K]time.Time{}
	}
	d.at[k] = t
}

// take removes the keys whose time came at now and returns them.
func (d *dueSet[K]) take(now time.Time) map[K]bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := map[K]bool{}
	for k, t := range d.at {
		if !t.After(now) {
			out[k] = true
			delete(d.at, k)
		}
	}
	return out
}

// next returns the earliest time recorded, and false when none is.
func (d *dueSet[K]) next() (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var first time.Time
	for _, t := range d.at {
		if first.IsZero() || t.Before(first) {
			first = t
		}
	}
	return first, !first.IsZero()
}

// reset forgets every key (a full pass syncs everything and records again).
func (d *dueSet[K]) reset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.at)
}

// wakeAfter returns the wake of a loop whose syncs d holds: the delay from
// now to the earliest.
func (d *dueSet[K]) wakeAfter(now time.Time) (time.Duration, bool) {
	t, ok := d.next()
	return t.Sub(now), ok
}
