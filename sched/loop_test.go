package sched

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
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
		runOnChanges(ctx, store, follows{"pods"}, time.Hour, slog.New(slog.DiscardHandler), func(_ context.Context, _ *fsm.Store, ch changes) error {
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
		runOnChanges(ctx, p.store, follows{"pods"}, resync, slog.New(slog.DiscardHandler), func(ctx context.Context, _ *fsm.Store, ch changes) error {
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

// TestRunOnChangesFollowsOnly: a loop that follows pods is not woken by
// other changes (a probe still counts it as having covered them), and its
// passes get the pod events alone, in order, however the batches mix them
// with others.
func TestRunOnChangesFollowsOnly(t *testing.T) {
	p := newFakeProposer(t)
	pod := func(name string) []byte {
		return mustCreate(t, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
			Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}})
	}
	cm := func(name string) []byte {
		return mustCreate(t, &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-cm-" + name}})
	}
	probe := newPassProbe()
	ctx, cancel := context.WithTimeout(withPassProbe(context.Background(), probe), 20*time.Second)
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	var mu sync.Mutex
	var passes [][]string // the keys each pass of changes got
	go func() {
		defer close(done)
		runOnChanges(ctx, p.store, follows{"pods"}, time.Hour, slog.New(slog.DiscardHandler), func(_ context.Context, _ *fsm.Store, ch changes) error {
			if ch.full {
				return nil
			}
			var keys []string
			for _, ev := range ch.events {
				keys = append(keys, ev.Resource+"/"+ev.Record.Key())
			}
			mu.Lock()
			passes = append(passes, keys)
			mu.Unlock()
			return nil
		})
	}()
	settle := func(index uint64) {
		t.Helper()
		if err := probe.wait(ctx, 1, index); err != nil {
			t.Fatal(err)
		}
	}
	_, start := p.store().Feed().Window()
	settle(start)

	steps := []struct {
		name  string
		cmds  [][]byte
		wakes bool
	}{
		{"a configmap", [][]byte{cm("c1")}, false},
		{"a pod", [][]byte{pod("a")}, true},
		{"configmaps around pods", [][]byte{cm("c2"), pod("b"), cm("c3"), pod("c"), cm("c4")}, true},
		{"two configmaps", [][]byte{cm("c5"), cm("c6")}, false},
	}
	var want []string
	for _, st := range steps {
		before := probe.counts()[0].passes
		settle(p.applyEntries(t, st.cmds))
		if woken := probe.counts()[0].passes > before; woken != st.wakes {
			t.Errorf("%s: woken %v, want %v", st.name, woken, st.wakes)
		}
	}
	want = []string{"pods/default/a", "pods/default/b", "pods/default/c"}
	mu.Lock()
	got := slices.Concat(passes...)
	mu.Unlock()
	if !slices.Equal(got, want) {
		t.Errorf("passes got %q, want %q", got, want)
	}
	if c := probe.counts()[0]; c.events != uint64(len(want)) {
		t.Errorf("probe counted %d events, want %d", c.events, len(want))
	}
}

// TestLeaderLoopsWokenOnlyForWhatTheyFollow runs every change-fed leader
// loop as the leader does and commits a batch of creates of pods no
// controller owns: only the loops that follow pods (or everything) are
// woken, each once or a few times, and are handed the batch's events
// exactly once; every other loop is neither woken nor handed an event.
func TestLeaderLoopsWokenOnlyForWhatTheyFollow(t *testing.T) {
	p := newFakeProposer(t)
	probe := newPassProbe()
	ctx, cancel := context.WithCancel(withPassProbe(context.Background(), probe))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	n := startLeaderLoops(t, ctx, &wg, p)
	settle := settleLoops(t, ctx, p, probe, n, time.Minute)

	const pods = 64
	cmds := make([][]byte, pods)
	for i := range cmds {
		cmds[i] = mustCreate(t, benchPod(i))
	}
	before := probe.counts()
	settle(p.applyEntries(t, cmds))
	after := probe.counts()
	followers := 0
	var wakes, handed uint64
	for id, c := range after {
		passes, events := c.passes-before[id].passes, c.events-before[id].events
		wakes, handed = wakes+passes, handed+events
		t.Logf("loop %d following %v: %d passes, %d events", id, c.follow, passes, events)
		if slices.Contains(c.follow, "pods") || slices.Contains(c.follow, fsm.AllResources) {
			followers++
			if passes == 0 || events != pods {
				t.Errorf("loop %d following %v: %d passes, %d events; want at least 1 and %d", id, c.follow, passes, events, pods)
			}
			continue
		}
		if passes != 0 || events != 0 {
			t.Errorf("loop %d following %v: woken %d times, handed %d events by pods it does not follow", id, c.follow, passes, events)
		}
	}
	t.Logf("%d of %d loops follow pods: %d wakes, %d events handed for %d pods", followers, n, wakes, handed, pods)
	if followers == 0 || followers == n {
		t.Errorf("%d of %d loops follow pods", followers, n)
	}
}

// TestDisruptionFollowsWhatConcernsIt: the disruption controller follows
// exactly the resources whose changes concernsDisruption lets through.
func TestDisruptionFollowsWhatConcernsIt(t *testing.T) {
	f := disruptionFollows()
	for _, r := range v1.Resources() {
		ev := fsm.Event{Resource: r.Name}
		if got, want := slices.Contains(f, r.Name), concernsDisruption(ev); got != want {
			t.Errorf("%s: followed %v, concerns the controller %v", r.Name, got, want)
		}
	}
}
