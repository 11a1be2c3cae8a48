package apiserver

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// Lease renewals are the cluster's heartbeat: every node renews its Lease
// every 10 s, so 1,000 nodes make 100 renewals a second. Each would be a
// Raft entry of its own, written to every master's disk. The lease batcher
// instead holds each update of a lease for at most a short window and
// proposes all the updates of that window as one BatchCommand entry: at
// rest a master writes about one entry per window whatever the number of
// nodes. Each update still succeeds or fails on its own inside the batch
// (its resourceVersion precondition is checked at apply time, so two
// renewals of one lease in one window behave as they would one after the
// other: the second conflicts). The price is up to one window of latency
// on a lease update, far below a lease's duration (40 s for nodes, 15 s
// for client-go's leader election by default).

// DefaultLeaseBatchWindow is how long a lease update waits for others to
// share its Raft entry.
const DefaultLeaseBatchWindow = 500 * time.Millisecond

// maxLeaseBatch is the most lease updates in one entry; a full batch is
// proposed at once.
const maxLeaseBatch = 512

// leaseBatchTimeout bounds the proposal of one batch.
const leaseBatchTimeout = 30 * time.Second

// leaseBatcher coalesces lease updates into BatchCommand entries.
type leaseBatcher struct {
	apply  func(ctx context.Context, cmd []byte) (any, error)
	window time.Duration
	max    int
	// sizes observes the number of updates of each batch proposed (nil:
	// not observed).
	sizes prometheus.Observer

	mu      sync.Mutex
	pending []*batchedWrite
	timer   *time.Timer
}

// batchedWrite is one update waiting for its batch.
type batchedWrite struct {
	item fsm.BatchItem
	done chan fsm.Result
}

// newLeaseBatcher returns a batcher that proposes through apply.
func newLeaseBatcher(apply func(ctx context.Context, cmd []byte) (any, error), window time.Duration, max int) *leaseBatcher {
	return &leaseBatcher{apply: apply, window: window, max: max}
}

// leaseBatchSizes is the histogram of the updates per lease batch: its
// count is the Raft entries the lease updates of this master cost, its sum
// the updates.
func leaseBatchSizes(reg prometheus.Registerer) prometheus.Histogram {
	h := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "orch_api_lease_batch_size",
		Help:    "Lease updates proposed together in one Raft entry by this master (--lease-batch-window).",
		Buckets: prometheus.ExponentialBuckets(1, 2, 10),
	})
	reg.MustRegister(h)
	return h
}

// Apply proposes cmd (an encoded UpdateCommand) in the next batch and
// returns its own result. A caller whose ctx ends first gets a 504: its
// update may still be applied with the batch.
func (b *leaseBatcher) Apply(ctx context.Context, cmd []byte) (*fsm.Record, error) {
	if len(cmd) == 0 {
		return nil, errors.New("lease batch: empty command")
	}
	w := &batchedWrite{item: fsm.BatchItem{Type: fsm.CommandType(cmd[0]), Body: cmd[1:]}, done: make(chan fsm.Result, 1)}
	b.mu.Lock()
	b.pending = append(b.pending, w)
	switch {
	case len(b.pending) >= b.max:
		batch := b.takeLocked()
		b.mu.Unlock()
		go b.propose(batch)
	case b.timer == nil:
		b.timer = time.AfterFunc(b.window, b.flush)
		b.mu.Unlock()
	default:
		b.mu.Unlock()
	}
	select {
	case r := <-w.done:
		return r.Record, r.Err
	case <-ctx.Done():
		return nil, v1.NewTimeout("the lease update was queued for the next batch and the request ended first: it may or may not have been applied")
	}
}

// flush proposes what is pending (the window ended).
func (b *leaseBatcher) flush() {
	b.mu.Lock()
	batch := b.takeLocked()
	b.mu.Unlock()
	if len(batch) > 0 {
		b.propose(batch)
	}
}

// takeLocked empties the pending batch and stops its timer.
func (b *leaseBatcher) takeLocked() []*batchedWrite {
	batch := b.pending
	b.pending = nil
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	return batch
}

// propose commits one batch and hands each write its result.
func (b *leaseBatcher) propose(batch []*batchedWrite) {
	items := make([]fsm.BatchItem, len(batch))
	for i, w := range batch {
		items[i] = w.item
	}
	if b.sizes != nil {
		b.sizes.Observe(float64(len(items)))
	}
	results, err := b.commit(items)
	for i, w := range batch {
		if err != nil {
			w.done <- fsm.Result{Err: err}
			continue
		}
		w.done <- results[i]
	}
}

func (b *leaseBatcher) commit(items []fsm.BatchItem) (fsm.BatchResult, error) {
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return nil, fmt.Errorf("lease batch: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), leaseBatchTimeout)
	defer cancel()
	res, err := b.apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	results, ok := res.(fsm.BatchResult)
	if !ok || len(results) != len(items) {
		return nil, fmt.Errorf("lease batch: %T with %d results for %d updates", res, len(results), len(items))
	}
	return results, nil
}
