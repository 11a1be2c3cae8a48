package sched

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func TestSlowStartBatches(t *testing.T) {
	tests := []struct {
		count, initial int
		want           []int
	}{
		{0, 1, nil},
		{1, 1, []int{1}},
		{3, 1, []int{1, 2}},
		{20, 1, []int{1, 2, 4, 8, 5}},
		{MaxReplicaBurst, 1, []int{1, 2, 4, 8, 16, 32, 64, 128, 245}},
		{10, 4, []int{4, 6}},
		{5, 0, []int{1, 2, 2}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.count, "/", tt.initial), func(t *testing.T) {
			got := slowStartBatches(tt.count, tt.initial)
			if !slices.Equal(got, tt.want) {
				t.Errorf("slowStartBatches(%d, %d) = %v, want %v", tt.count, tt.initial, got, tt.want)
			}
		})
	}
}

func TestCreateBackoff(t *testing.T) {
	b := newCreateBackoff(5*time.Millisecond, 100*time.Millisecond)
	now := t0
	var delays []time.Duration
	for range 7 {
		delays = append(delays, b.failure("k", now))
	}
	want := []time.Duration{5, 10, 20, 40, 80, 100, 100}
	for i := range want {
		want[i] *= time.Millisecond
	}
	if !slices.Equal(delays, want) {
		t.Fatalf("delays %v, want %v", delays, want)
	}
	if b.ready("k", now.Add(99*time.Millisecond)) || !b.ready("k", now.Add(100*time.Millisecond)) {
		t.Error("ready before the last delay ended, or not after")
	}
	if !b.ready("other", now) {
		t.Error("a key without failures is not ready")
	}
	if next, ok := b.nextRetry(now); !ok || !next.Equal(now.Add(100*time.Millisecond)) {
		t.Errorf("nextRetry = %v %v", next, ok)
	}
	if _, ok := b.nextRetry(now.Add(time.Second)); ok {
		t.Error("nextRetry reports a back-off that has ended")
	}
	b.forget("k")
	if !b.ready("k", now) || b.failures("k") != 0 {
		t.Error("forget did not reset the back-off")
	}
	b.failure("gone", now)
	b.failure("kept", now)
	b.retain(map[string]bool{"kept": true})
	if b.failures("gone") != 0 || b.failures("kept") != 1 {
		t.Error("retain kept a key it should drop or dropped one it should keep")
	}
}

func TestWithReplicaFailure(t *testing.T) {
	other := v1.ReplicationControllerCondition{Type: "Other", Status: v1.ConditionTrue}
	old := v1.ReplicationControllerCondition{Type: RCReplicaFailure, Status: v1.ConditionTrue, Reason: RCReasonFailedCreate,
		Message: "old", LastTransitionTime: v1.NewTime(t0.Add(-time.Hour))}
	refused := errors.New(`pods "web-x" is forbidden: exceeded quota: q`)
	added := v1.ReplicationControllerCondition{Type: RCReplicaFailure, Status: v1.ConditionTrue, Reason: RCReasonFailedCreate,
		Message: refused.Error(), LastTransitionTime: v1.NewTime(t0)}
	tests := []struct {
		name    string
		conds   []v1.ReplicationControllerCondition
		outcome rcCreateOutcome
		want    []v1.ReplicationControllerCondition
	}{
		{"a refusal adds it", []v1.ReplicationControllerCondition{other}, createsFailed, []v1.ReplicationControllerCondition{other, added}},
		{"a refusal keeps the one there (as Kubernetes)", []v1.ReplicationControllerCondition{old, other}, createsFailed, []v1.ReplicationControllerCondition{old, other}},
		{"success removes it", []v1.ReplicationControllerCondition{old, other}, createsNone, []v1.ReplicationControllerCondition{other}},
		{"success removes the last", []v1.ReplicationControllerCondition{old}, createsNone, nil},
		{"held keeps it", []v1.ReplicationControllerCondition{old}, createsHeld, []v1.ReplicationControllerCondition{old}},
		{"held adds nothing", nil, createsHeld, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := slices.Clone(tt.conds)
			got := withReplicaFailure(tt.conds, tt.outcome, refused, t0)
			if !v1.JSONEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if !v1.JSONEqual(before, tt.conds) {
				t.Error("the input conditions were changed")
			}
		})
	}
}

// quotaProposer is the fake proposer behind a pod quota per namespace: pod
// creates beyond the limit are refused with 403, as a ResourceQuota does, and
// it counts the creates each entry carried.
type quotaProposer struct {
	*fakeProposer
	mu sync.Mutex
	// limit is the most pods a namespace may hold (<0: no limit).
	limit int
	// perEntry is the number of pod creates in each entry proposed.
	perEntry []int
	attempts int
}

func (q *quotaProposer) setLimit(n int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.limit = n
}

func (q *quotaProposer) Apply(ctx context.Context, cmd []byte) (any, error) {
	if fsm.CommandType(cmd[0]) != fsm.BatchCommand {
		return q.fakeProposer.Apply(ctx, cmd)
	}
	var req fsm.BatchRequest
	if err := json.Unmarshal(cmd[1:], &req); err != nil {
		return nil, err
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	pods, err := q.store().List("pods", fsm.ListOptions{})
	if err != nil {
		return nil, err
	}
	used := len(pods.Items)
	results := make(fsm.BatchResult, len(req.Items))
	var pass []fsm.BatchItem
	var at []int
	creates := 0
	for i, it := range req.Items {
		if it.Type == fsm.CreateCommand && bytes.HasPrefix(it.Body, []byte("pods\x00")) {
			creates++
			if q.limit >= 0 && used >= q.limit {
				name := strings.Split(string(it.Body), "\x00")[2]
				results[i].Err = v1.NewForbidden(fmt.Sprintf(`pods %q is forbidden: exceeded quota: pods, requested: pods=1, used: pods=%d, limited: pods=%d`,
					name, used, q.limit))
				continue
			}
			used++
		}
		pass = append(pass, it)
		at = append(at, i)
	}
	q.perEntry = append(q.perEntry, creates)
	q.attempts += creates
	inner, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: pass})
	if err != nil {
		return nil, err
	}
	res, err := q.fakeProposer.Apply(ctx, inner)
	if err != nil {
		return nil, err
	}
	for j, r := range res.(fsm.BatchResult) {
		results[at[j]] = r
	}
	return results, nil
}

func (q *quotaProposer) counts() (attempts int, perEntry []int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.attempts, slices.Clone(q.perEntry)
}

func rcFailure(t *testing.T, p *fakeProposer, name string) *v1.ReplicationControllerCondition {
	t.Helper()
	rec, err := p.store().Get("replicationcontrollers", "default", name)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rec.Object().(*v1.ReplicationController).Status.Conditions {
		if c.Type == RCReplicaFailure {
			return &c
		}
	}
	return nil
}

// One pass creates in slow-start batches of 1, 2, 4, ..., one entry each.
func TestReplicationSlowStartBatches(t *testing.T) {
	tests := []struct {
		name     string
		replicas int32
		want     []int // creates per entry proposed in the first pass
	}{
		{"one", 1, []int{1, 0}},
		{"twenty", 20, []int{1, 2, 4, 8, 5, 0}},
		{"a huge count creates at most the burst", 1_000_000_000, []int{1, 2, 4, 8, 16, 32, 64, 128, 245, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q := &quotaProposer{fakeProposer: newFakeProposer(t), limit: -1}
			q.create(t, loopRC("web", tt.replicas))
			m := NewReplicationManager(ReplicationConfig{Store: q.store, Proposer: q})
			if err := m.Pass(context.Background(), q.store()); err != nil {
				t.Fatal(err)
			}
			// The last entry is the RC's status.
			if _, per := q.counts(); !slices.Equal(per, tt.want) {
				t.Errorf("creates per entry %v, want %v", per, tt.want)
			}
			want := min(int(tt.replicas), MaxReplicaBurst)
			if n := len(ownedActive(t, q.fakeProposer, "web")); n != want {
				t.Errorf("%d pods after one pass, want %d", n, want)
			}
		})
	}
}

// Creates refused by a quota: the RC stops at the first refused batch, gets
// ReplicaFailure=True/FailedCreate with the refusal's text, and backs off
// exponentially, so many passes make few attempts; once the quota allows
// it, the creates go through and the condition goes.
func TestReplicationRefusedCreatesBackOff(t *testing.T) {
	q := &quotaProposer{fakeProposer: newFakeProposer(t), limit: 3}
	q.create(t, loopRC("web", 10))
	clock := &fakeClock{t: t0}
	m := NewReplicationManager(ReplicationConfig{Store: q.store, Proposer: q, Now: clock.Now,
		CreateBackoffBase: 5 * time.Millisecond, CreateBackoffMax: time.Second})
	ctx := context.Background()

	// First pass: 1 and 2 are created, the batch of 4 is refused, and no
	// batch of 3 follows.
	if err := m.Pass(ctx, q.store()); err != nil {
		t.Fatal(err)
	}
	if _, per := q.counts(); !slices.Equal(per, []int{1, 2, 4, 0}) {
		t.Fatalf("creates per entry %v, want [1 2 4 0] (stop after the refused batch, then the status)", per)
	}
	if n := m.RefusedCreates(); n != 4 {
		t.Errorf("RefusedCreates = %d after the first pass, want 4 (the batch of 4)", n)
	}
	c := rcFailure(t, q.fakeProposer, "web")
	if c == nil || c.Status != v1.ConditionTrue || c.Reason != "FailedCreate" ||
		!strings.Contains(c.Message, "exceeded quota") || !c.LastTransitionTime.Equal(t0) {
		t.Fatalf("ReplicaFailure condition %+v", c)
	}

	// 100 passes 1 ms apart: retries after 5, 10, 20, 40 ms (at 5, 15,
	// 35, 75 ms), one create each; without the back-off there would be 100.
	before, _ := q.counts()
	for range 100 {
		clock.Advance(time.Millisecond)
		if err := m.Pass(ctx, q.store()); err != nil {
			t.Fatal(err)
		}
	}
	after, _ := q.counts()
	if got := after - before; got != 4 {
		t.Fatalf("%d create attempts in 100 passes over 100 ms, want 4 (back-off 5, 10, 20, 40 ms)", got)
	}
	if n := m.RefusedCreates(); n != 8 {
		t.Errorf("RefusedCreates = %d after the retries, want 8 (4, then one per retry)", n)
	}
	if c2 := rcFailure(t, q.fakeProposer, "web"); c2 == nil || !c2.LastTransitionTime.Equal(t0) {
		t.Fatalf("the condition changed while the creates kept failing: %+v", c2)
	}

	// The quota grows: after the back-off the creates go through and the
	// condition is removed.
	q.setLimit(100)
	clock.Advance(time.Second)
	if err := m.Pass(ctx, q.store()); err != nil {
		t.Fatal(err)
	}
	if n := len(ownedActive(t, q.fakeProposer, "web")); n != 10 {
		t.Fatalf("%d pods after the quota grew, want 10", n)
	}
	if c := rcFailure(t, q.fakeProposer, "web"); c != nil {
		t.Fatalf("ReplicaFailure still set after the creates succeeded: %+v", c)
	}
	if n := m.RefusedCreates(); n != 8 {
		t.Errorf("RefusedCreates = %d after the creates succeeded, want still 8", n)
	}
}

// Run with refused creates does not spin: it retries on the back-off's
// schedule, not on every change its own status writes make.
func TestReplicationRunRefusedCreatesDoNotSpin(t *testing.T) {
	q := &quotaProposer{fakeProposer: newFakeProposer(t), limit: 0}
	q.create(t, loopRC("web", 5))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		NewReplicationManager(ReplicationConfig{Store: q.store, Proposer: q, Resync: time.Hour,
			CreateBackoffBase: 5 * time.Millisecond, CreateBackoffMax: 40 * time.Millisecond}).Run(ctx)
		close(done)
	}()
	// Wait for a few retries, then for the condition; the attempts are
	// bounded by the elapsed time over the back-off's cap, plus the
	// doubling steps before it.
	start := time.Now()
	waitFor(t, "retries", func() bool { n, _ := q.counts(); return n >= 6 })
	waitFor(t, "condition", func() bool { return rcFailure(t, q.fakeProposer, "web") != nil })
	elapsed := time.Since(start)
	cancel()
	<-done
	n, _ := q.counts()
	if limit := 5 + int(elapsed/(40*time.Millisecond)) + 2; n > limit {
		t.Fatalf("%d create attempts in %v with back-off 5..40 ms, want at most %d", n, elapsed, limit)
	}
}
