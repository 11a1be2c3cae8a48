package sched

import (
	"context"
	"log/slog"
	"time"

	"orch.io/orch/fsm"
)

// changes is what happened since the previous pass of a loop.
type changes struct {
	// full is set for the first pass, a resync, and after the store was
	// replaced or the feed's window was lost: the pass must look at everything.
	full bool
	// events are the changes since the previous pass (when not full).
	events []fsm.Event
	// last is the feed index the events reach: every change up to it is in
	// events or an earlier pass (when not full).
	last uint64
	// woken marks a full pass that runs only because the loop's wake asked
	// for it (its delay ended with no change and nothing lost): a loop that
	// remembers what it waits for may sync just that.
	woken bool
}

// runOnChanges runs pass until ctx ends: once at start, then whenever the
// store changes (many changes collapse into one pass), the store is
// replaced, or resync has passed since the last full pass (changes do not
// put it off: a busy store still gets its resyncs, which are how a loop
// sees what never reaches the feed, such as the clock or the Raft
// membership). Every leader loop is one of
// these; a loop that can tell from the events that nothing concerns it may
// skip the pass.
func runOnChanges(ctx context.Context, store func() *fsm.Store, resync time.Duration, log *slog.Logger,
	pass func(ctx context.Context, s *fsm.Store, ch changes) error) {
	runOnChangesWake(ctx, store, resync, nil, log, pass)
}

// runOnChangesWake is runOnChanges that also runs a full pass when wake,
// asked after each pass, says so: ok with a delay shorter than resync (a
// loop waiting for a back-off to end). A nil wake never asks.
//
// The next pass gets the changes after the last index the previous one
// covered: the feed's last index before a full pass (a change committed
// while it runs reaches the next pass too, a harmless repeat), and after a
// pass of events the index those events reach, never a later one, so a
// change committed between reading the events and running their pass is
// not skipped.
func runOnChangesWake(ctx context.Context, store func() *fsm.Store, resync time.Duration,
	wake func() (after time.Duration, ok bool), log *slog.Logger,
	pass func(ctx context.Context, s *fsm.Store, ch changes) error) {
	probe := passProbeOf(ctx)
	id := probe.register()
	ch := changes{full: true}
	var from *fsm.Store    // the store ch's events came from
	var lastFull time.Time // when the last full pass began
	for {
		s := store()
		if !ch.full && s != from {
			// The store was replaced since the events were read: they
			// describe the old one.
			ch = changes{full: true}
		}
		seen := ch.last
		if ch.full {
			_, seen = s.Feed().Window()
			if !ch.woken {
				lastFull = time.Now()
			}
		}
		var err error
		if probe.wraps() {
			err = probe.run(id, func() error { return pass(ctx, s, ch) })
		} else {
			err = pass(ctx, s, ch)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("pass failed", "err", err)
		}
		probe.passed(id, seen)
		// The resync is due resync after the last full pass began, however
		// many passes of changes ran since: once due, it comes before any
		// pending change (which it covers).
		wait, woken := resync-time.Since(lastFull), false
		if wait <= 0 {
			if ctx.Err() != nil {
				return
			}
			ch, from = changes{full: true}, s
			continue
		}
		if wake != nil {
			if d, ok := wake(); ok && d < wait {
				wait, woken = max(d, time.Millisecond), true
			}
		}
		ch, from = waitForChanges(ctx, s, seen, wait), s
		if ctx.Err() != nil {
			return
		}
		ch.woken = ch.woken && woken
	}
}

// waitForChanges returns the changes after index seen once there are any,
// or a full pass when resync has passed without one (woken: the caller
// tells a wake from a resync) or the store is replaced.
func waitForChanges(ctx context.Context, s *fsm.Store, seen uint64, resync time.Duration) changes {
	timer := time.NewTimer(resync)
	defer timer.Stop()
	for {
		evs, last, wait, closed, err := s.Feed().Since(seen)
		switch {
		case err != nil || closed:
			return changes{full: true}
		case len(evs) > 0:
			return changes{events: evs, last: last}
		}
		seen = last // entries without object changes (e.g. a master's address)
		select {
		case <-ctx.Done():
			return changes{}
		case <-wait:
		case <-s.Abandoned():
			return changes{full: true}
		case <-timer.C:
			return changes{full: true, woken: true}
		}
	}
}
