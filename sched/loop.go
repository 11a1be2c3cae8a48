package sched

import (
	"context"
	"log/slog"
	"time"

	"orch.io/orch/fsm"
)

// runOnChanges runs pass until ctx ends: once at start, then whenever the
// store changes (many changes collapse into one pass), the store is
// replaced, or resync passes without a change. Every leader loop is one of these.
func runOnChanges(ctx context.Context, store func() *fsm.Store, resync time.Duration, log *slog.Logger,
	pass func(ctx context.Context, s *fsm.Store) error) {
	var seen uint64
	for {
		s := store()
		if err := pass(ctx, s); err != nil && ctx.Err() == nil {
			log.Warn("pass failed", "err", err)
		}
		_, last, wait, closed, err := s.Feed().Since(seen)
		if err != nil || closed {
			_, last = s.Feed().Window()
		}
		seen = last
		timer := time.NewTimer(resync)
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-wait:
		case <-s.Abandoned():
		case <-timer.C:
		}
		timer.Stop()
	}
}
