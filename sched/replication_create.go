package sched

import (
	"sync"
	"time"

	v1 "orch.io/orch/api/v1"
)

// This file holds what keeps the replication manager from creating pods
// faster than the cluster accepts them, as Kubernetes' ReplicaSet controller
// does (pkg/controller/replicaset/replica_set.go):
//
//   - Slow start: the creates of one sync go in batches of 1, 2, 4, ... (one
//     Raft entry per batch, shared by every RC creating in the pass), and an
//     RC stops at its first batch with a refused create. An RC whose creates
//     are all refused (a quota, a policy) costs one create per attempt
//     instead of MaxReplicaBurst.
//   - Back-off: after a refused create the RC's creates wait 5 ms, doubling
//     with each failure up to a cap (client-go's default controller rate
//     limiter), and any create that succeeds resets it. Other passes (status,
//     deletes, other RCs) go on meanwhile.
//   - The RC's status carries the condition ReplicaFailure=True, reason
//     FailedCreate, with the refusal's text, from the first refused create
//     until a pass creates what it wanted or the RC wants no more pods.

// SlowStartInitialBatchSize is the first batch of a sync's pod creates
// (Kubernetes' SlowStartInitialBatchSize).
const SlowStartInitialBatchSize = 1

// Defaults of the per-RC back-off after refused creates.
const (
	DefaultCreateBackoffBase = 5 * time.Millisecond
	// DefaultCreateBackoffMax is lower than client-go's 1000 s: Kubernetes
	// also retries on every event of the RC's pods, whereas orch retries on
	// the clock alone, so the cap is how long a freed quota may wait.
	DefaultCreateBackoffMax = time.Minute
)

// ReplicaFailure condition of a replication controller, as Kubernetes sets it.
const (
	RCReplicaFailure     = "ReplicaFailure"
	RCReasonFailedCreate = "FailedCreate"
)

// RefusedCreates returns how many of the manager's pod creates were refused
// (by a quota, a LimitRange, a name already taken) since it was made: the
// master exposes it as orch_replication_create_failures_total. With the
// back-off each failing RC adds about one per retry.
func (m *ReplicationManager) RefusedCreates() uint64 { return m.refused.Load() }

// slowStartBatches returns the sizes of the batches in which count creates
// go: initial, then doubling, the last one what remains.
func slowStartBatches(count, initial int) []int {
	var out []int
	for batch := min(count, max(initial, 1)); count > 0; batch = min(2*batch, count) {
		out = append(out, batch)
		count -= batch
	}
	return out
}

// createBackoff is the per-RC exponential back-off after refused creates
// (client-go's ItemExponentialFailureRateLimiter, on an injectable clock).
// Safe for concurrent use.
type createBackoff struct {
	base, cap time.Duration

	mu    sync.Mutex
	items map[string]*backoffItem
}

type backoffItem struct {
	failures int
	next     time.Time // creates wait until then
}

func newCreateBackoff(base, cap time.Duration) *createBackoff {
	if base <= 0 {
		base = DefaultCreateBackoffBase
	}
	if cap < base {
		cap = max(base, DefaultCreateBackoffMax)
	}
	return &createBackoff{base: base, cap: cap, items: map[string]*backoffItem{}}
}

// ready reports whether key may create at now.
func (b *createBackoff) ready(key string, now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	it := b.items[key]
	return it == nil || !now.Before(it.next)
}

// failure records a refused create of key at now and returns the delay
// before its next attempt: base * 2^(failures-1), at most cap.
func (b *createBackoff) failure(key string, now time.Time) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	it := b.items[key]
	if it == nil {
		it = &backoffItem{}
		b.items[key] = it
	}
	d := b.cap
	if it.failures < 32 {
		d = min(b.base<<it.failures, b.cap)
	}
	it.failures++
	it.next = now.Add(d)
	return d
}

// retryAt returns when key's back-off ends, and false when key has none.
func (b *createBackoff) retryAt(key string) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if it := b.items[key]; it != nil {
		return it.next, true
	}
	return time.Time{}, false
}

// forget resets key's back-off (its creates succeeded).
func (b *createBackoff) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.items, key)
}

// failures returns how many refusals in a row key has had.
func (b *createBackoff) failures(key string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if it := b.items[key]; it != nil {
		return it.failures
	}
	return 0
}

// retain drops the keys not in keep (RCs that are gone).
func (b *createBackoff) retain(keep map[string]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.items {
		if !keep[k] {
			delete(b.items, k)
		}
	}
}

// nextRetry returns the earliest time after now at which a backed-off RC
// may create again, and false when none is waiting. Back-offs that ended
// already are not reported: the pass that runs at or after their end
// retries them or finds them held for another reason (expectations), and
// reporting them again would spin the loop.
func (b *createBackoff) nextRetry(now time.Time) (time.Time, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var first time.Time
	for _, it := range b.items {
		if it.next.After(now) && (first.IsZero() || it.next.Before(first)) {
			first = it.next
		}
	}
	return first, !first.IsZero()
}

// rcCreateOutcome is what one pass's creates did for one RC.
type rcCreateOutcome int

const (
	// createsNone: the RC wanted no creates, or all it attempted succeeded.
	createsNone rcCreateOutcome = iota
	// createsFailed: a create was refused; failErr is its error.
	createsFailed
	// createsHeld: the RC is short of pods but did not try this pass (back-off,
	// expectations, an unknown outcome): its condition stays as it is.
	createsHeld
)

// withReplicaFailure returns conds with the ReplicaFailure condition set,
// removed or kept according to the outcome, as Kubernetes' calculateStatus:
// a refused create adds it (True, FailedCreate, the error's text) unless it
// is already there; a sync without a refusal removes it. conds is not changed.
func withReplicaFailure(conds []v1.ReplicationControllerCondition, outcome rcCreateOutcome, failErr error, now time.Time) []v1.ReplicationControllerCondition {
	i := -1
	for j, c := range conds {
		if c.Type == RCReplicaFailure {
			i = j
		}
	}
	switch {
	case outcome == createsFailed && i < 0:
		out := append([]v1.ReplicationControllerCondition(nil), conds...)
		return append(out, v1.ReplicationControllerCondition{Type: RCReplicaFailure, Status: v1.ConditionTrue,
			LastTransitionTime: v1.NewTime(now), Reason: RCReasonFailedCreate, Message: failErr.Error()})
	case outcome == createsNone && i >= 0:
		out := append([]v1.ReplicationControllerCondition(nil), conds[:i]...)
		out = append(out, conds[i+1:]...)
		if len(out) == 0 {
			return nil
		}
		return out
	}
	return conds
}
