package cluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// waitFor polls cond every few milliseconds until it holds, failing the test
// with what() if it does not within timeout.
func waitFor(t *testing.T, timeout time.Duration, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %s", timeout, what())
		}
		<-tick.C
	}
}

// testCtx returns a context that ends after d or with the test.
func testCtx(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// newNamespace returns a namespace as the API server would store it: with
// a uid, a creation timestamp and defaults (as cmd/orchd ensureNamespaces).
func newNamespace(name string) *v1.Namespace {
	ns := &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: name, UID: uuid.NewString(),
		CreationTimestamp: v1.NewTime(time.Now())}}
	v1.Default(ns)
	return ns
}

// createCmd encodes a CreateCommand for a new namespace.
func createCmd(t testing.TB, ns *v1.Namespace) []byte {
	t.Helper()
	cmd, err := fsm.NewCreate(ns)
	if err != nil {
		t.Fatalf("encode create %s: %v", ns.Name, err)
	}
	return cmd
}

// storedNamespace checks that Apply answered with a record of namespace
// want (same name and uid, a resourceVersion set) and returns it.
func storedNamespace(t testing.TB, res any, want *v1.Namespace) *v1.Namespace {
	t.Helper()
	r, ok := res.(fsm.Result)
	if !ok || r.Record == nil {
		t.Fatalf("create %s: got result %#v, want an fsm.Result with a record", want.Name, res)
	}
	got, ok := r.Record.Object().(*v1.Namespace)
	if !ok {
		t.Fatalf("create %s: record holds %T", want.Name, r.Record.Object())
	}
	if got.Name != want.Name || got.UID != want.UID || got.ResourceVersion == "" {
		t.Fatalf("create %s (uid %s): got name %q uid %q resourceVersion %q", want.Name, want.UID, got.Name, got.UID, got.ResourceVersion)
	}
	return got
}

// leaderTracker records where a leader routine runs.
type leaderTracker struct {
	mu        sync.Mutex
	running   map[string]int
	started   map[string]int
	cancelled map[string]int
}

func newLeaderTracker() *leaderTracker {
	return &leaderTracker{running: map[string]int{}, started: map[string]int{}, cancelled: map[string]int{}}
}

// setup registers the tracked routine on c (TestOptions.Setup).
func (lt *leaderTracker) setup(c *Cluster) {
	id := c.ID()
	c.OnLeader("tracked", func(ctx context.Context) {
		lt.mu.Lock()
		lt.running[id]++
		lt.started[id]++
		lt.mu.Unlock()
		<-ctx.Done()
		lt.mu.Lock()
		lt.running[id]--
		lt.cancelled[id]++
		lt.mu.Unlock()
	})
}

// runsOnlyOn reports whether the routine runs once on id and nowhere else.
func (lt *leaderTracker) runsOnlyOn(id string) bool {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	for m, n := range lt.running {
		if (m == id && n != 1) || (m != id && n != 0) {
			return false
		}
	}
	return lt.running[id] == 1
}

func (lt *leaderTracker) counts(id string) (running, started, cancelled int) {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return lt.running[id], lt.started[id], lt.cancelled[id]
}

func (lt *leaderTracker) String() string {
	lt.mu.Lock()
	defer lt.mu.Unlock()
	return fmt.Sprintf("running %v, started %v, cancelled %v", lt.running, lt.started, lt.cancelled)
}
