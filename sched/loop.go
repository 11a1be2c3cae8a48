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
	// replaced or the feed's window was lost: the pass must look at
	// everything it attends to, with no events to go by. A loop that keeps
	// its own view of the store from the feed (the garbage collector's
	// dependents, the scheduler's cache, an Informer) catches it up with
	// Feed.Since from its own index, and rebuilds it from lists only when
	// the store is another or the feed no longer holds those changes, so
	// its resync need not read every object.
	full bool
	// events are the changes of the resources the loop follows since the
	// previous pass (when not full), in order.
	events []fsm.Event
	// last is the feed index the events reach: every change up to it of
	// the resources the loop follows is in events or an earlier pass (when
	// not full).
	last uint64
	// woken marks a full pass that runs only because the loop's wake asked
	// for it (its delay ended with no change and nothing lost): a loop that
	// remembers what it waits for may sync just that.
	woken bool
}

// follows names the resources a leader loop's passes look at (their plural
// names, or fsm.AllResources). The loop is woken for their changes only and
// its passes get their events only, in order: a change of anything else
// costs the loop nothing. An empty list follows nothing: the loop runs on
// its resyncs and wakes alone.
type follows []string

// followsAll is what a loop that looks at every change follows.
var followsAll = follows{fsm.AllResources}

// runOnChanges runs pass until ctx ends: once at start, then whenever a
// resource it follows changes (many changes collapse into one pass), the
// store is replaced, or resync has passed since the last full pass (changes
// do not put it off: a busy store still gets its resyncs, which are how a
// loop sees what never reaches the feed, such as the clock or the Raft
// membership). Every leader loop is one of these; a loop that can tell from
// the events that nothing concerns it may skip the pass.
func runOnChanges(ctx context.Context, store func() *fsm.Store, follow follows, resync time.Duration, log *slog.Logger,
	pass func(ctx context.Context, s *fsm.Store, ch changes) error) {
	runOnChangesWake(ctx, store, follow, resync, nil, log, pass)
}

// runOnChangesWake is runOnChanges that also runs a full pass when wake,
// asked after each pass, says so: ok with a delay shorter than resync (a
// loop waiting for a back-off to end). A nil wake never asks.
//
// The loop follows its resources through a subscription to the feed
// (fsm.Feed.Follow), one per store. The next pass gets the changes after
// the last index the previous one covered: the feed's last index before a
// full pass (a change committed while it runs reaches the next pass too, a
// harmless repeat), and after a pass of events the index those events
// reach, never a later one, so a change committed between reading the
// events and running their pass is not skipped. A loop whose subscription
// falls behind the feed's window does a full pass.
func runOnChangesWake(ctx context.Context, store func() *fsm.Store, follow follows, resync time.Duration,
	wake func() (after time.Duration, ok bool), log *slog.Logger,
	pass func(ctx context.Context, s *fsm.Store, ch changes) error) {
	probe := passProbeOf(ctx)
	id := probe.register(follow)
	ch := changes{full: true}
	var from *fsm.Store       // the store ch's events came from
	var sub *fsm.Subscription // the subscription to from's feed
	defer func() {
		if sub != nil {
			sub.Stop()
		}
	}()
	var lastFull time.Time // when the last full pass began
	// One timer serves every wait (waitForChanges resets and stops it), so
	// a loop woken per committed batch makes no timer per wait.
	timer := time.NewTimer(resync)
	timer.Stop()
	for {
		s := store()
		if s != from {
			// The store was replaced since the events were read (or this
			// is the first pass): they describe the old one.
			if sub != nil {
				sub.Stop()
			}
			sub, _ = s.Feed().Follow(follow...)
			ch, from = changes{full: true}, s
		}
		seen := ch.last
		if ch.full {
			seen, _ = sub.Skip()
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
		probe.passed(id, seen, len(ch.events))
		// The resync is due resync after the last full pass began, however
		// many passes of changes ran since: once due, it comes before any
		// pending change (which it covers).
		wait, woken := resync-time.Since(lastFull), false
		if wait <= 0 {
			if ctx.Err() != nil {
				return
			}
			ch = changes{full: true}
			continue
		}
		if wake != nil {
			if d, ok := wake(); ok && d < wait {
				wait, woken = max(d, time.Millisecond), true
			}
		}
		ch = waitForChanges(ctx, s, sub, timer, wait, probe, id)
		if ctx.Err() != nil {
			return
		}
		ch.woken = ch.woken && woken
	}
}

// waitForChanges returns the changes sub takes once there are any, or a
// full pass when resync has passed without one (woken: the caller tells a
// wake from a resync), sub fell behind the feed's window, or the store is
// replaced. While it waits with nothing pending, probe knows the loop has
// covered whatever the feed holds that sub does not take. timer is the
// loop's, stopped: set to resync here and stopped again on return, so (Go
// 1.23's timers) no expiry of an earlier wait is ever received.
func waitForChanges(ctx context.Context, s *fsm.Store, sub *fsm.Subscription, timer *time.Timer, resync time.Duration,
	probe *passProbe, id int) changes {
	timer.Reset(resync)
	defer timer.Stop()
	forced := probe.resyncs(id)
	for {
		evs, last, closed, err := sub.Next()
		switch {
		case err != nil || closed:
			return changes{full: true}
		case len(evs) > 0:
			return changes{events: evs, last: last}
		}
		probe.waiting(id, sub)
		select {
		case <-ctx.Done():
			probe.waiting(id, nil)
			return changes{}
		case <-sub.Wait():
		case <-s.Abandoned():
			probe.waiting(id, nil)
			return changes{full: true}
		case <-timer.C:
			probe.waiting(id, nil)
			return changes{full: true, woken: true}
		case <-forced:
			// A test's stand-in for the resync timer of runOnChangesWake.
			probe.waiting(id, nil)
			return changes{full: true}
		}
		probe.waiting(id, nil)
	}
}
