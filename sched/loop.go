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
	// woken marks a full pass that runs only because the loop's wake asked
	// for it (its delay ended with no change and nothing lost): a loop that
	// remembers what it waits for may sync just that.
	woken bool
}

// runOnChanges runs pass until ctx ends: once at start, then whenever the
// store changes (many changes collapse into one pass), the store is
// replaced, or resync passes without a change. Every leader loop is one of
// these; a loop that can tell from the events that nothing concerns it may
// skip the pass.
func runOnChanges(ctx context.Context, store func() *fsm.Store, resync time.Duration, log *slog.Logger,
	pass func(ctx context.Context, s *fsm.Store, ch changes) error) {
	runOnChangesWake(ctx, store, resync, nil, log, pass)
}

// runOnChangesWake is runOnChanges that also runs a full pass when wake,
// asked after each pass, says so: ok with a delay shorter than resync (a
// loop waiting for a back-off to end). A nil wake never asks.
func runOnChangesWake(ctx context.Context, store func() *fsm.Store, resync time.Duration,
	wake func() (after time.Duration, ok bool), log *slog.Logger,
	pass func(ctx context.Context, s *fsm.Store, ch changes) error) {
	ch := changes{full: true}
	for {
		s := store()
		// Changes after this point reach the next pass (some may also be
		// seen by this one: a harmless extra pass, never a missed change).
		_, seen := s.Feed().Window()
		if err := pass(ctx, s, ch); err != nil && ctx.Err() == nil {
			log.Warn("pass failed", "err", err)
		}
		wait := resync
		if wake != nil {
			if d, ok := wake(); ok {
				wait = max(min(wait, d), time.Millisecond)
			}
		}
		ch = waitForChanges(ctx, s, seen, wait)
		if ctx.Err() != nil {
			return
		}
		ch.woken = ch.woken && wait < resync
	}
}

// waitForChanges returns the changes after index seen once there are any,
// or a full pass after resync or when the store is replaced.
func waitForChanges(ctx context.Context, s *fsm.Store, seen uint64, resync time.Duration) changes {
	timer := time.NewTimer(resync)
	defer timer.Stop()
	for {
		evs, last, wait, closed, err := s.Feed().Since(seen)
		switch {
		case err != nil || closed:
			return changes{full: true}
		case len(evs) > 0:
			return changes{events: evs}
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
