package gossip

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeGossip is a Source the test drives: events go to the channel,
// Members returns what set last stored.
type fakeGossip struct {
	events chan Event
	mu     sync.Mutex
	view   []Member
	calls  int
}

func newFakeGossip(members ...Member) *fakeGossip {
	return &fakeGossip{events: make(chan Event, 16), view: members}
}

func (f *fakeGossip) Events() <-chan Event { return f.events }

func (f *fakeGossip) Members() []Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	return append([]Member(nil), f.view...)
}

func (f *fakeGossip) set(members ...Member) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.view = members
}

func (f *fakeGossip) reconciles() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func runLiveness(t *testing.T, l *Liveness) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func waitAlive(t *testing.T, l *Liveness, name string, alive, known bool) {
	t.Helper()
	waitFor(t, 5*time.Second, func() bool { a, k := l.Alive(name); return a == alive && k == known },
		func() string {
			a, k := l.Alive(name)
			return fmt.Sprintf("%s: alive=%v known=%v, want alive=%v known=%v", name, a, k, alive, known)
		})
}

func node(name string, s MemberState) Member {
	return Member{Name: name, Role: RoleNode, State: s}
}

func TestLivenessFollowsEvents(t *testing.T) {
	f := newFakeGossip(node("n1", MemberAlive), Member{Name: "m1", Role: RoleMaster, APIAddr: "https://m1", State: MemberAlive})
	// No reconcile after the first: only events change the view.
	l := NewLiveness(f, nil, time.Hour)
	if a, k := l.Alive("n1"); a || k {
		t.Fatalf("before Run: alive=%v known=%v, want nothing known", a, k)
	}
	runLiveness(t, l)
	waitAlive(t, l, "n1", true, true)
	waitAlive(t, l, "m1", true, true) // Alive answers for any member
	if a, k := l.Alive("n2"); a || k {
		t.Fatalf("n2 never joined: alive=%v known=%v", a, k)
	}
	steps := []struct {
		ev           Event
		name         string
		alive, known bool
	}{
		{Event{EventJoin, node("n2", MemberAlive)}, "n2", true, true},
		{Event{EventUpdate, node("n2", MemberSuspect)}, "n2", true, true}, // suspect is not dead
		{Event{EventFail, node("n2", MemberDead)}, "n2", false, true},
		{Event{EventJoin, node("n2", MemberAlive)}, "n2", true, true},
		{Event{EventLeave, node("n2", MemberLeft)}, "n2", false, true},
		{Event{EventFail, node("n1", "")}, "n1", false, true}, // the type decides
		{Event{EventUpdate, node("n1", "")}, "n1", true, true},
	}
	for _, s := range steps {
		f.events <- s.ev
		waitAlive(t, l, s.name, s.alive, s.known)
	}
	if f.reconciles() != 1 {
		t.Fatalf("%d reconciles, want only the first", f.reconciles())
	}
}

func TestLivenessReconcileRepairsMissedEvents(t *testing.T) {
	f := newFakeGossip(node("n1", MemberAlive), node("n2", MemberAlive))
	l := NewLiveness(f, nil, 10*time.Millisecond)
	runLiveness(t, l)
	waitAlive(t, l, "n1", true, true)
	waitAlive(t, l, "n2", true, true)

	// Events lost: n1 failed, n2 left, n3 joined, and then the pool forgot n2.
	f.set(node("n1", MemberDead), node("n3", MemberSuspect))
	waitAlive(t, l, "n1", false, true)
	waitAlive(t, l, "n2", false, false)
	waitAlive(t, l, "n3", true, true)

	// A stale event is overwritten by the next reconcile.
	f.events <- Event{EventJoin, node("n1", MemberAlive)}
	start := f.reconciles()
	waitFor(t, 5*time.Second, func() bool { return f.reconciles() >= start+2 }, func() string { return "no reconcile" })
	waitAlive(t, l, "n1", false, true)
}
