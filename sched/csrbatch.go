package sched

import (
	"context"
	"fmt"
	"log/slog"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// proposeCSRUpdates proposes the status updates of certificate signing
// requests (names[i] is items[i]'s) as one batch. A request that changed
// or went away meanwhile is left to the next pass; other refusals are
// logged. done is logged with the names once the batch is committed.
func proposeCSRUpdates(ctx context.Context, p Proposer, log *slog.Logger, items []fsm.BatchItem, names []string, done string) error {
	if len(items) == 0 {
		return nil
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	out, err := p.Apply(ctx, cmd)
	if err != nil {
		return fmt.Errorf("%s %v: %w", done, names, err)
	}
	results, _ := out.(fsm.BatchResult)
	for i, r := range results {
		if r.Err != nil && !v1.IsConflict(r.Err) && !v1.IsNotFound(r.Err) {
			log.Warn("update not stored", "csr", names[i], "err", r.Err)
		}
	}
	log.Info(done, "csrs", names)
	return nil
}
