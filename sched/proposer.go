package sched

import "context"

// Proposer commits an encoded command (fsm.Encode) and returns its result
// (fsm.Result or fsm.BatchResult). The cluster implements it; unit tests use
// a fake.
type Proposer interface {
	Apply(ctx context.Context, cmd []byte) (any, error)
}
