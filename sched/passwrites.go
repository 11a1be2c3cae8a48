package sched

import (
	"context"
	"fmt"
	"log/slog"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// passWrites gathers one pass's writes of a controller, proposed together
// as one batch entry, each item with its own precondition and result.
type passWrites struct {
	items []fsm.BatchItem
	names []string
}

// add queues cmd, a write of the object name.
func (b *passWrites) add(cmd []byte, name string) {
	b.items = append(b.items, batchItem(cmd))
	b.names = append(b.names, name)
}

// propose commits the queued writes in one entry (none: nothing) and logs
// each refusal as what, except a conflict, a miss or an object that
// exists: a write made meanwhile, which the feed brings to the next pass.
func (b *passWrites) propose(ctx context.Context, p Proposer, log *slog.Logger, what string) error {
	if len(b.items) == 0 {
		return nil
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: b.items})
	if err != nil {
		return err
	}
	res, err := p.Apply(ctx, cmd)
	if err != nil {
		return fmt.Errorf("%s %v: %w", what, b.names, err)
	}
	results, _ := res.(fsm.BatchResult)
	for i, r := range results {
		if r.Err != nil && !v1.IsConflict(r.Err) && !v1.IsNotFound(r.Err) && !v1.IsAlreadyExists(r.Err) {
			log.Warn(what+" refused", "object", b.names[i], "err", r.Err)
		}
	}
	return nil
}
