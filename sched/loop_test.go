package sched

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// TestRunOnChangesSeesChangeCommittedBeforeItsPass commits pod b after a
// loop read pod a's change and before it runs a's pass (from the store
// function the loop calls in between): b's change must reach the next
// pass, not be skipped until a resync.
func TestRunOnChangesSeesChangeCommittedBeforeItsPass(t *testing.T) {
	p := newFakeProposer(t)
	podCmd := func(name string) []byte {
		return mustCreate(t, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
			Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}})
	}
	cmdB := podCmd("b")
	var calls atomic.Int32
	errB := make(chan error, 1)
	store := func() *fsm.Store {
		if calls.Add(1) == 2 { // after the wait that returned a's change
			_, err := p.Apply(context.Background(), cmdB)
			errB <- err
		}
		return p.store()
	}
	seen := make(chan string, 16)
	probe := newPassProbe()
	ctx, cancel := context.WithTimeout(withPassProbe(context.Background(), probe), 10*time.Second)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		runOnChanges(ctx, store, time.Hour, slog.New(slog.DiscardHandler), func(_ context.Context, _ *fsm.Store, ch changes) error {
			for _, ev := range ch.events {
				if ev.Resource == "pods" {
					seen <- ev.Record.Key()
				}
			}
			return nil
		})
	}()
	_, start := p.store().Feed().Window()
	if err := probe.wait(ctx, 1, start); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), podCmd("a")); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"default/a", "default/b"} {
		select {
		case got := <-seen:
			if got != want {
				t.Fatalf("pass saw %s, want %s", got, want)
			}
		case <-ctx.Done():
			t.Fatalf("no pass saw %s's change", want)
		}
	}
	if err := <-errB; err != nil {
		t.Fatal(err)
	}
}

// TestRunOnChangesResyncsUnderSteadyChanges keeps a change pending before
// every wait (each pass commits one): the resync must still come, resync
// after the last full pass, not only after a quiet resync. The kubernetes
// Service learns of a master joining only from its resyncs; a cluster
// whose leases change every second never had one.
func TestRunOnChangesResyncsUnderSteadyChanges(t *testing.T) {
	p := newFakeProposer(t)
	const resync = 50 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	fulls := make(chan struct{}, 1)
	var n atomic.Int32
	go func() {
		defer close(done)
		runOnChanges(ctx, p.store, resync, slog.New(slog.DiscardHandler), func(ctx context.Context, _ *fsm.Store, ch changes) error {
			if ch.full {
				select {
				case fulls <- struct{}{}:
				default:
				}
			}
			name := fmt.Sprintf("p%d", n.Add(1))
			_, err := p.Apply(ctx, mustCreate(t, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}))
			if err != nil && ctx.Err() == nil {
				t.Error(err)
			}
			return nil
		})
	}()
	for i, what := range []string{"the first pass", "a resync"} {
		select {
		case <-fulls:
		case <-ctx.Done():
			t.Fatalf("no full pass for %s after %d passes of changes", what, n.Load()-int32(i))
		}
	}
}
