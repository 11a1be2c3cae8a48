package sched

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// maxGCBatch bounds the writes of one entry of the garbage collector (a
// delete is about 200 bytes; an update carries its object).
const maxGCBatch = 500

// gcWrites gathers the writes of one pass of the garbage collector and
// commits them as BatchCommand entries of up to maxGCBatch items, so the
// cascade of an owner of a thousand pods is two entries, not a thousand.
//
// Every item keeps its own precondition (the uid for a delete, the
// resourceVersion for an update) and gets its own result: an object that
// changed after the pass read it is refused alone, the others are written,
// and the change that refused it brings it back to the next pass.
//
// The pass decides on the store as it was before its writes are
// committed, so it writes each object at most once: a second decision
// about an object already written is skipped (it would be refused by the
// first one's precondition, or repeat it), and the first write's change
// brings the object back to the next pass.
type gcWrites struct {
	p   Proposer
	log *slog.Logger

	items   []fsm.BatchItem
	keys    []objKey
	written map[objKey]struct{}
	// unwritten counts the items committed but refused, other than for an
	// object already gone.
	unwritten int
	errs      []error
}

func newGCWrites(p Proposer, log *slog.Logger) *gcWrites {
	return &gcWrites{p: p, log: log, written: map[objKey]struct{}{}}
}

// add queues the write cmd of the object k and commits the queue once it
// holds maxGCBatch writes. ok is false when k was written earlier in the
// pass: cmd is dropped.
func (w *gcWrites) add(ctx context.Context, k objKey, cmd []byte) (ok bool, err error) {
	if _, done := w.written[k]; done {
		return false, nil
	}
	w.written[k] = struct{}{}
	w.items = append(w.items, batchItem(cmd))
	w.keys = append(w.keys, k)
	if len(w.items) >= maxGCBatch {
		return true, w.flush(ctx)
	}
	return true, nil
}

// flush commits the queued writes in one entry. A write refused because
// its object changed or went is left to the next pass; other refusals are
// logged and returned by err once the pass ends.
func (w *gcWrites) flush(ctx context.Context) error {
	if len(w.items) == 0 {
		return nil
	}
	items, keys := w.items, w.keys
	w.items, w.keys = nil, nil
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	out, err := w.p.Apply(ctx, cmd)
	if err != nil {
		w.unwritten += len(items)
		return fmt.Errorf("commit %d writes: %w", len(items), err)
	}
	results, ok := out.(fsm.BatchResult)
	if !ok || len(results) != len(items) {
		w.unwritten += len(items)
		return fmt.Errorf("commit %d writes: %T with %d results", len(items), out, len(results))
	}
	for i, r := range results {
		switch {
		case r.Err == nil, v1.IsNotFound(r.Err):
		case v1.IsConflict(r.Err):
			w.unwritten++
		default:
			w.unwritten++
			k := keys[i]
			w.log.Warn("write refused", "resource", k.Resource, "object", v1.Key(k.Namespace, k.Name), "err", r.Err)
			w.errs = append(w.errs, fmt.Errorf("%s %s: %w", k.Resource, v1.Key(k.Namespace, k.Name), r.Err))
		}
	}
	return nil
}

// err commits what is queued and returns the refusals of the pass.
func (w *gcWrites) err(ctx context.Context) error {
	if err := w.flush(ctx); err != nil {
		return err
	}
	return errors.Join(w.errs...)
}
