package cluster

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	v1 "orch.io/orch/api/v1"
)

// applyCounter counts the requests to the members' apply endpoints (a
// batch each over HTTP, one per forwarding stream opened) by the master
// that sent them, named by its client certificate: every master forwards
// its own registration (registerSelf) too, whenever it comes to it, so a
// test counts only the member it writes through. With refuseStreams the
// members answer the stream's upgrade with 404, as a master from before
// the stream does.
type applyCounter struct {
	refuseStreams bool

	mu   sync.Mutex
	sent map[[3]string]int64 // by sender, receiver and path
}

// wrap is a TestOptions.WrapHandler.
func (a *applyCounter) wrap(to string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.URL.Path == applyPath || r.URL.Path == applyStreamPath) && r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			a.mu.Lock()
			if a.sent == nil {
				a.sent = map[[3]string]int64{}
			}
			a.sent[[3]string{r.TLS.PeerCertificates[0].Subject.CommonName, to, r.URL.Path}]++
			a.mu.Unlock()
		}
		if a.refuseStreams && r.URL.Path == applyStreamPath {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// from is the number of requests master id sent to path on any master.
func (a *applyCounter) from(id, path string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	var n int64
	for k, v := range a.sent {
		if k[0] == id && k[2] == path {
			n += v
		}
	}
	return n
}

// fromTo is the number of requests master id sent to path on master to.
func (a *applyCounter) fromTo(id, to, path string) int64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sent[[3]string{id, to, path}]
}

// steadyRaftTimeout is the Raft timeout of the tests that need one leader
// throughout (they check the data path, not failover): on a loaded 2-core
// machine with -race, and on a host that steals most of the CPU, stalls of
// hundreds of milliseconds happen, and a leader that loses its lease
// mid-test fails writes in flight with 504. Raft's own default is 1 s.
const steadyRaftTimeout = time.Second

func TestApplyThroughFollowerIsForwarded(t *testing.T) {
	var applies applyCounter
	g := NewTestGroup(t, 3, TestOptions{WrapHandler: applies.wrap, RaftTimeout: steadyRaftTimeout})
	leader := g.WaitLeader(t)
	f := g.Followers(leader)[0]
	ctx := testCtx(t, 10*time.Second)

	ns := newNamespace("forwarded")
	before := applies.from(f.ID(), applyStreamPath) + applies.from(f.ID(), applyPath)
	res, err := f.Apply(ctx, createCmd(t, ns))
	if err != nil {
		t.Fatalf("create through follower %s: %v", f.ID(), err)
	}
	got := storedNamespace(t, res, ns)
	if applies.from(f.ID(), applyStreamPath)+applies.from(f.ID(), applyPath) == before {
		t.Fatalf("the follower's write did not reach the leader's apply endpoint")
	}
	// The leader answered after applying the write to its own store.
	rec, err := leader.Store().Get("namespaces", "", ns.Name)
	if err != nil {
		t.Fatalf("leader's store after the forwarded create: %v", err)
	}
	if m := rec.Meta(); m.UID != ns.UID || m.ResourceVersion != got.ResourceVersion {
		t.Fatalf("leader stored uid %s rv %s, the follower was answered uid %s rv %s", m.UID, m.ResourceVersion, got.UID, got.ResourceVersion)
	}

	_, err = f.Apply(ctx, createCmd(t, newNamespace("forwarded")))
	if !v1.IsAlreadyExists(err) || v1.CodeOf(err) != http.StatusConflict {
		t.Fatalf("second create through follower: got %v (code %d), want AlreadyExists (409)", err, v1.CodeOf(err))
	}
	var se *v1.StatusError
	if !errors.As(err, &se) || errors.Is(err, ErrUnknownOutcome) || errors.Is(err, errRetry) {
		t.Fatalf("second create: %#v is not a plain *v1.StatusError", err)
	}
}

// TestGroupCommitThroughFollower sends concurrent writes through a
// follower: they reach the leader in batches, over the senders' streams,
// or over HTTP when the leader refuses the stream.
func TestGroupCommitThroughFollower(t *testing.T) {
	for _, refuse := range []bool{false, true} {
		t.Run(fmt.Sprintf("leader refuses streams %v", refuse), func(t *testing.T) {
			testGroupCommitThroughFollower(t, refuse)
		})
	}
}

func testGroupCommitThroughFollower(t *testing.T, refuseStreams bool) {
	const n = 200
	applies := applyCounter{refuseStreams: refuseStreams}
	g := NewTestGroup(t, 3, TestOptions{WrapHandler: applies.wrap, RaftTimeout: steadyRaftTimeout})
	leader := g.WaitLeader(t)
	// A registration in flight when the counts below are taken would
	// reach the endpoint after them, but count in f's metrics before.
	g.WaitRegistered(t)
	f := g.Followers(leader)[0]
	ctx := testCtx(t, 30*time.Second)

	nss := make([]*v1.Namespace, n)
	cmds := make([][]byte, n)
	for i := range nss {
		nss[i] = newNamespace(fmt.Sprintf("gc-%03d", i))
		cmds[i] = createCmd(t, nss[i])
	}
	results := make([]any, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			results[i], errs[i] = f.Apply(ctx, cmds[i])
		}()
	}
	before := applies.from(f.ID(), applyPath)
	// Streams the follower opened to this leader before (its registration
	// may have opened them; earlier leaders of the start do not count).
	upgradesBefore := applies.fromTo(f.ID(), leader.ID(), applyStreamPath)
	cmdsBefore, batchesBefore := testutil.ToFloat64(f.metrics.forwarded), testutil.ToFloat64(f.metrics.forwardBatches)
	close(start)
	wg.Wait()
	posts := applies.from(f.ID(), applyPath) - before
	upgrades := applies.fromTo(f.ID(), leader.ID(), applyStreamPath)
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("create %s through follower: %v", nss[i].Name, errs[i])
		}
		storedNamespace(t, results[i], nss[i])
	}
	// The follower's metrics count its attempts: every batch it sent, any
	// sent again after a retry (a write queued before the follower knew
	// the leader is forwarded twice), and its own registration if that
	// fell in the burst.
	gotCmds := testutil.ToFloat64(f.metrics.forwarded) - cmdsBefore
	batches := testutil.ToFloat64(f.metrics.forwardBatches) - batchesBefore
	t.Logf("%d forwarded writes went to the leader in %v batches: %d HTTP requests, %d streams opened", n, batches, posts, upgrades)
	if gotCmds < n || batches < 1 || batches >= n || batches > gotCmds {
		t.Fatalf("orch_raft_forwarded_commands_total rose by %v and orch_raft_forwarded_batches_total by %v; want at least %d commands in fewer batches than writes", gotCmds, batches, n)
	}
	// Each sender asks for a stream once per leader: it keeps the stream,
	// or remembers the refusal.
	if upgrades < 1 || upgrades-upgradesBefore > forwardSenders {
		t.Fatalf("the follower asked the leader for %d forwarding streams, %d of them during the burst; want at least 1, and at most %d (one per sender) during it", upgrades, upgrades-upgradesBefore, forwardSenders)
	}
	if refuseStreams {
		if posts < 1 || float64(posts) > batches {
			t.Fatalf("with streams refused the follower sent %d HTTP requests for %v batches, want 1 to one per batch", posts, batches)
		}
	} else if posts != 0 {
		t.Fatalf("the follower sent %d batches over HTTP, want all on its streams", posts)
	}

	for _, m := range g.Members {
		if _, err := m.ReadBarrier(ctx); err != nil {
			t.Fatalf("read barrier on %s: %v", m.ID(), err)
		}
		st := m.Store()
		for _, ns := range nss {
			rec, err := st.Get("namespaces", "", ns.Name)
			if err != nil {
				t.Fatalf("%s after the burst: %s: %v", m.ID(), ns.Name, err)
			}
			if rec.Meta().UID != ns.UID {
				t.Fatalf("%s: %s has uid %s, want %s", m.ID(), ns.Name, rec.Meta().UID, ns.UID)
			}
		}
	}
}

// TestReadBarrierOnFollowerSeesLeaderWrites guards read-your-writes across
// masters: raft's AppliedIndex moves before the FSM has applied an entry, so
// a barrier that waited on it could let a follower read a store that misses
// a write the leader already acknowledged.
func TestReadBarrierOnFollowerSeesLeaderWrites(t *testing.T) {
	g := NewTestGroup(t, 3, TestOptions{RaftTimeout: steadyRaftTimeout})
	leader := g.WaitLeader(t)
	fs := g.Followers(leader)
	ctx := testCtx(t, 30*time.Second)
	for i := range 200 {
		ns := newNamespace(fmt.Sprintf("ryw-%03d", i))
		res, err := leader.Apply(ctx, createCmd(t, ns))
		if err != nil {
			t.Fatalf("write %d on the leader: %v", i, err)
		}
		written := storedNamespace(t, res, ns)
		f := fs[i%len(fs)]
		idx, err := f.ReadBarrier(ctx)
		if err != nil {
			t.Fatalf("read barrier %d on %s: %v", i, f.ID(), err)
		}
		rec, err := f.Store().Get("namespaces", "", ns.Name)
		if err != nil {
			t.Fatalf("read %d on %s after its barrier (index %d, store at %d): %v", i, f.ID(), idx, f.Store().Index(), err)
		}
		if rv := rec.Meta().ResourceVersion; rv != written.ResourceVersion {
			t.Fatalf("read %d on %s: resourceVersion %s, written as %s", i, f.ID(), rv, written.ResourceVersion)
		}
		if wi, err := strconv.ParseUint(written.ResourceVersion, 10, 64); err != nil || idx < wi {
			t.Fatalf("read barrier %d returned index %d, before the write at %s", i, idx, written.ResourceVersion)
		}
	}
}

func TestLeaderRoutinesFollowLeadership(t *testing.T) {
	lt := newLeaderTracker()
	g := NewTestGroup(t, 3, TestOptions{Setup: lt.setup})
	old := g.WaitLeader(t)
	waitFor(t, 5*time.Second, func() bool { return lt.runsOnlyOn(old.ID()) },
		func() string { return "routine on the leader " + old.ID() + " only: " + lt.String() })
	if err := old.WaitEstablished(testCtx(t, time.Second)); err != nil {
		t.Fatalf("WaitEstablished on the leader: %v", err)
	}

	// Every survivor waits for leadership; the one that wins must return.
	type waited struct {
		id  string
		err error
	}
	wctx, stopWaiting := context.WithCancel(context.Background())
	defer stopWaiting()
	waits := make(chan waited, len(g.Members))
	for _, m := range g.Followers(old) {
		if err := m.WaitEstablished(testCtx(t, 100*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("WaitEstablished on follower %s: got %v, want the context's deadline", m.ID(), err)
		}
		go func() { waits <- waited{m.ID(), m.WaitEstablished(wctx)} }()
	}

	old.Stop()
	if running, _, cancelled := lt.counts(old.ID()); running != 0 || cancelled != 1 {
		t.Fatalf("after stopping the leader %s its routine runs %d times, was cancelled %d times: %s", old.ID(), running, cancelled, lt)
	}
	next := g.WaitLeader(t)
	if next == old {
		t.Fatalf("the stopped member %s is still the leader", old.ID())
	}
	waitFor(t, 5*time.Second, func() bool { return lt.runsOnlyOn(next.ID()) },
		func() string { return "routine on the new leader " + next.ID() + " only: " + lt.String() })
	select {
	case w := <-waits:
		if w.id != next.ID() || w.err != nil {
			t.Fatalf("WaitEstablished returned on %s with %v; the new leader is %s", w.id, w.err, next.ID())
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("WaitEstablished on the new leader %s did not return", next.ID())
	}
	stopWaiting()
	if w := <-waits; !errors.Is(w.err, context.Canceled) {
		t.Fatalf("WaitEstablished on follower %s: got %v, want context.Canceled", w.id, w.err)
	}
	if _, started, _ := lt.counts(next.ID()); started != 1 {
		t.Fatalf("the routine started %d times on %s: %s", started, next.ID(), lt)
	}
}

func TestTransferLeadership(t *testing.T) {
	lt := newLeaderTracker()
	// Raft gives a transfer one election timeout to complete; the 50 ms of
	// the other tests is too short for a loaded host under -race.
	g := NewTestGroup(t, 3, TestOptions{Setup: lt.setup, RaftTimeout: 150 * time.Millisecond})
	old := g.WaitLeader(t)
	waitFor(t, 5*time.Second, func() bool { return lt.runsOnlyOn(old.ID()) },
		func() string { return "routine on the leader only: " + lt.String() })
	if err := g.Followers(old)[0].TransferLeadership(); err != nil {
		t.Fatalf("TransferLeadership on a follower: %v, want a no-op", err)
	}
	if !old.IsLeader() {
		t.Fatalf("TransferLeadership on a follower moved leadership away from %s", old.ID())
	}

	start := time.Now()
	if err := old.TransferLeadership(); err != nil {
		t.Fatalf("TransferLeadership: %v", err)
	}
	next := g.WaitLeader(t)
	took := time.Since(start)
	t.Logf("leadership moved from %s to %s in %v", old.ID(), next.ID(), took)
	if next == old {
		t.Fatalf("leadership stayed on %s", old.ID())
	}
	if took > 3*time.Second {
		t.Fatalf("leadership transfer took %v", took)
	}
	// The old leader keeps running as a follower: its routine is cancelled
	// because it lost leadership, not because it stopped.
	waitFor(t, 5*time.Second, func() bool { return lt.runsOnlyOn(next.ID()) },
		func() string { return "routine moved to " + next.ID() + ": " + lt.String() })
	if _, _, cancelled := lt.counts(old.ID()); cancelled != 1 {
		t.Fatalf("routine on the old leader cancelled %d times: %s", cancelled, lt)
	}
	// Writes still work through the old leader, now a follower.
	ns := newNamespace("after-transfer")
	res, err := old.Apply(testCtx(t, 10*time.Second), createCmd(t, ns))
	if err != nil {
		t.Fatalf("write through the old leader: %v", err)
	}
	storedNamespace(t, res, ns)
}

func TestMembers(t *testing.T) {
	cs := TestCluster(t, 3)
	byName := map[string]*Cluster{}
	var leader string
	for _, c := range cs {
		byName[c.ID()] = c
		if c.IsLeader() {
			leader = c.ID()
		}
	}
	var last string
	check := func() bool {
		for _, c := range cs {
			lid, members, err := c.Members()
			if err != nil {
				last = fmt.Sprintf("%s: Members: %v", c.ID(), err)
				return false
			}
			if lid != leader || len(members) != len(cs) {
				last = fmt.Sprintf("%s: leader %q, %d members: %+v", c.ID(), lid, len(members), members)
				return false
			}
			leaders := 0
			for _, m := range members {
				want := byName[m.Name]
				if want == nil || !m.Voter || m.APIAddr != want.cfg.APIAddr || m.RaftAddr != want.cfg.RaftAddr {
					last = fmt.Sprintf("%s sees %+v", c.ID(), m)
					return false
				}
				switch {
				case m.State == "leader" && m.Name == leader:
					leaders++
				case m.State != "follower":
					last = fmt.Sprintf("%s sees %s in state %q; the leader is %s", c.ID(), m.Name, m.State, leader)
					return false
				}
				if m.Name == c.ID() && (m.LastIndex == 0 || m.AppliedIndex == 0) {
					last = fmt.Sprintf("%s: no indexes for itself: %+v", c.ID(), m)
					return false
				}
			}
			if leaders != 1 {
				last = fmt.Sprintf("%s sees %d leaders", c.ID(), leaders)
				return false
			}
		}
		return true
	}
	waitFor(t, 10*time.Second, check, func() string { return "every member lists every address: " + last })
}

// TestLeaderVanishes: a write and a linearizable read that a follower takes
// while it still sees a leader, which then vanishes with the quorum, are
// refused with 503 a few election timeouts after the leader is gone, not at
// the end of the caller's deadline.
func TestLeaderVanishes(t *testing.T) {
	// Long enough that the survivor still sees the old leader when the
	// requests start.
	const raftTimeout = 500 * time.Millisecond
	g := NewTestGroup(t, 3, TestOptions{RaftTimeout: raftTimeout})
	leader := g.WaitLeader(t)
	s := g.Followers(leader)[0]
	waitFor(t, 5*time.Second, func() bool { _, ok := s.LeaderAPIAddr(); return ok },
		func() string { return s.ID() + " knows the leader's address" })
	for _, m := range g.Members {
		if m != s {
			m.Stop()
		}
	}
	if id, _ := s.Leader(); id != leader.ID() {
		t.Fatalf("%s sees leader %q before the requests, want %s still", s.ID(), id, leader.ID())
	}
	const callerDeadline = 20 * time.Second
	ops := []struct {
		name string
		call func(ctx context.Context) error
		err  error
		took time.Duration
	}{
		{name: "write", call: func(ctx context.Context) error {
			_, err := s.Apply(ctx, createCmd(t, newNamespace("vanished")))
			return err
		}},
		{name: "linearizable read", call: func(ctx context.Context) error { _, err := s.ReadBarrier(ctx); return err }},
	}
	var wg sync.WaitGroup
	for i := range ops {
		wg.Go(func() {
			start := time.Now()
			ops[i].err = ops[i].call(testCtx(t, callerDeadline))
			ops[i].took = time.Since(start)
		})
	}
	wg.Wait()
	// The survivor notices within about two raft timeouts, then waits
	// noLeaderWait for an election.
	limit := 4*raftTimeout + s.noLeaderWait() + time.Second
	for _, op := range ops {
		if v1.CodeOf(op.err) != http.StatusServiceUnavailable || errors.Is(op.err, ErrUnknownOutcome) || !strings.Contains(op.err.Error(), "quorum") {
			t.Errorf("%s after the leader vanished: %v (code %d), want 503 naming the quorum", op.name, op.err, v1.CodeOf(op.err))
			continue
		}
		if op.took > limit {
			t.Errorf("the %s was refused after %v, want within %v (the caller's deadline was %v)", op.name, op.took, limit, callerDeadline)
		}
		t.Logf("%s refused after %v: %v", op.name, op.took.Round(time.Millisecond), op.err)
	}
}

func TestNoQuorum(t *testing.T) {
	for _, tc := range []struct {
		name string
		// survivor picks the member left running.
		survivor func(leader *TestMember, followers []*TestMember) *TestMember
	}{
		{"leader survives", func(l *TestMember, _ []*TestMember) *TestMember { return l }},
		{"follower survives", func(_ *TestMember, fs []*TestMember) *TestMember { return fs[0] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := NewTestGroup(t, 3, TestOptions{})
			leader := g.WaitLeader(t)
			s := tc.survivor(leader, g.Followers(leader))
			for _, m := range g.Members {
				if m != s {
					m.Stop()
				}
			}
			// Once the survivor knows it has no leader, no write can be in
			// flight: every failure must say "not applied" (503).
			waitFor(t, 5*time.Second, func() bool { id, _ := s.Leader(); return id == "" && !s.IsLeader() },
				func() string { id, _ := s.Leader(); return s.ID() + " still sees leader " + id })

			const deadline = 2 * time.Second
			ns := newNamespace("no-quorum")
			var applyErr, readErr error
			var applyTook, readTook time.Duration
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				_, applyErr = s.Apply(ctx, createCmd(t, ns))
				applyTook = time.Since(start)
			}()
			go func() {
				defer wg.Done()
				start := time.Now()
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				_, readErr = s.ReadBarrier(ctx)
				readTook = time.Since(start)
			}()
			wg.Wait()
			for _, r := range []struct {
				op   string
				err  error
				took time.Duration
			}{{"Apply", applyErr, applyTook}, {"ReadBarrier", readErr, readTook}} {
				var se *v1.StatusError
				if !errors.As(r.err, &se) || v1.CodeOf(r.err) != http.StatusServiceUnavailable || errors.Is(r.err, ErrUnknownOutcome) {
					t.Errorf("%s without quorum: got %v (code %d), want a 503 StatusError", r.op, r.err, v1.CodeOf(r.err))
				}
				if r.took < deadline || r.took > deadline+time.Second {
					t.Errorf("%s without quorum returned after %v, want at its %v deadline", r.op, r.took, deadline)
				}
			}
			if _, err := s.Store().Get("namespaces", "", ns.Name); err == nil {
				t.Errorf("the write without quorum was applied")
			}
			// Run must end promptly even with writes of its own (registerSelf)
			// waiting for a quorum that never comes.
			start := time.Now()
			s.Stop()
			if took := time.Since(start); took > time.Second {
				t.Errorf("stopping the member without quorum took %v", took)
			}
		})
	}
}
