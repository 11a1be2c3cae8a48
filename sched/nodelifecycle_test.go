package sched

import (
	"context"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

const (
	nlGrace    = 40 * time.Second
	nlEviction = 5 * time.Minute
)

// nlEnv is a store behind the fake proposer, a fake clock, and a count of
// the controller's writes (the test's own writes go to p directly).
type nlEnv struct {
	t      *testing.T
	p      *fakeProposer
	now    time.Time
	writes int
}

func newNLEnv(t *testing.T) *nlEnv {
	return &nlEnv{t: t, p: newFakeProposer(t), now: time.Date(2026, 1, 1, 10, 0, 0, 0, time.UTC)}
}

// Apply counts a controller write and applies it.
func (e *nlEnv) Apply(ctx context.Context, cmd []byte) (any, error) {
	e.writes++
	return e.p.Apply(ctx, cmd)
}

// controller is a new controller instance: a new leader.
func (e *nlEnv) controller() *NodeLifecycle {
	return NewNodeLifecycle(NodeLifecycleConfig{Store: e.p.store, Proposer: e, Grace: nlGrace, EvictionTimeout: nlEviction,
		Now: func() time.Time { return e.now }})
}

func (e *nlEnv) pass(c *NodeLifecycle) {
	e.t.Helper()
	if err := c.Pass(context.Background(), e.p.store()); err != nil {
		e.t.Fatalf("pass: %v", err)
	}
}

// addNode registers a node that has just heartbeaten (or, with
// heartbeat=false, a node that never posted a Ready condition).
func (e *nlEnv) addNode(name string, heartbeat bool) {
	n := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: name, UID: "uid-" + name, CreationTimestamp: v1.NewTime(e.now)}}
	if heartbeat {
		n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue,
			LastHeartbeatTime: v1.NewTime(e.now), LastTransitionTime: v1.NewTime(e.now)}}
	}
	e.p.create(e.t, n)
}

// heartbeat is the node posting Ready=True with a new lastHeartbeatTime.
func (e *nlEnv) heartbeat(name string) {
	e.t.Helper()
	q := v1.DeepCopy(e.node(name))
	q.Status.Conditions = v1.SetNodeCondition(q.Status.Conditions, v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionTrue,
		LastHeartbeatTime: v1.NewTime(e.now), LastTransitionTime: v1.NewTime(e.now)})
	cmd, err := fsm.NewUpdate(q, true)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.p.Apply(context.Background(), cmd); err != nil {
		e.t.Fatalf("heartbeat %s: %v", name, err)
	}
}

func (e *nlEnv) node(name string) *v1.Node {
	e.t.Helper()
	rec, err := e.p.store().Get("nodes", "", name)
	if err != nil {
		e.t.Fatal(err)
	}
	return rec.Object().(*v1.Node)
}

func nlPod(name, node string) *v1.Pod {
	return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
		Spec: v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}
}

// bind binds an existing pod the way the scheduler does.
func (e *nlEnv) bind(pod, node string) {
	e.t.Helper()
	cmd, err := fsm.Encode(fsm.BindCommand, fsm.BindRequest{Bindings: []fsm.Binding{{Namespace: "default", Name: pod, UID: "uid-" + pod, Node: node}},
		Now: v1.NewTime(e.now)})
	if err != nil {
		e.t.Fatal(err)
	}
	res, err := e.p.Apply(context.Background(), cmd)
	if err != nil {
		e.t.Fatal(err)
	}
	if r := res.(fsm.BatchResult); len(r) != 1 || r[0].Err != nil {
		e.t.Fatalf("bind %s: %+v", pod, r)
	}
}

func (e *nlEnv) podExists(name string) bool {
	e.t.Helper()
	_, err := e.p.store().Get("pods", "default", name)
	if err == nil {
		return true
	}
	if !v1.IsNotFound(err) {
		e.t.Fatalf("get pod %s: %v", name, err)
	}
	return false
}

// advanceTo moves the clock to at, in steps of 10 s, heartbeating the
// given nodes and running a pass at each step.
func (e *nlEnv) advanceTo(c *NodeLifecycle, at time.Time, healthy ...string) {
	e.t.Helper()
	for e.now.Before(at) {
		e.now = e.now.Add(10 * time.Second)
		if e.now.After(at) {
			e.now = at
		}
		for _, n := range healthy {
			e.heartbeat(n)
		}
		e.pass(c)
	}
}

func assertHealthy(t *testing.T, n *v1.Node) {
	t.Helper()
	if c := n.Status.Condition(v1.NodeReady); c == nil || c.Status != v1.ConditionTrue {
		t.Fatalf("node %s: Ready %+v, want True", n.Name, c)
	}
	if hasUnreachableTaint(n) {
		t.Fatalf("node %s is tainted: %+v", n.Name, n.Spec.Taints)
	}
}

func assertUnreachable(t *testing.T, n *v1.Node) {
	t.Helper()
	c := n.Status.Condition(v1.NodeReady)
	if c == nil || c.Status != v1.ConditionUnknown || c.Reason != "NodeStatusUnknown" || c.Message != "the node stopped posting status" {
		t.Fatalf("node %s: Ready %+v, want Unknown/NodeStatusUnknown", n.Name, c)
	}
	if !hasUnreachableTaint(n) {
		t.Fatalf("node %s: taints %+v, want %s:NoSchedule", n.Name, n.Spec.Taints, UnreachableTaintKey)
	}
}

func TestNodeLifecycleHeartbeatingNodesAreLeftAlone(t *testing.T) {
	e := newNLEnv(t)
	e.addNode("a", true)
	e.addNode("b", true)
	e.p.create(t, nlPod("pa", "a"))
	c := e.controller()
	e.pass(c)
	start := e.now
	e.advanceTo(c, start.Add(2*nlEviction), "a", "b")
	if e.writes != 0 {
		t.Fatalf("%d writes on healthy nodes, want 0", e.writes)
	}
	assertHealthy(t, e.node("a"))
	assertHealthy(t, e.node("b"))
	if !e.podExists("pa") {
		t.Fatal("pod on a healthy node was deleted")
	}
}

func TestNodeLifecycleSilentNodeIsMarkedThenEvictedThenRecovers(t *testing.T) {
	e := newNLEnv(t)
	e.addNode("a", true) // goes silent
	e.addNode("b", true) // keeps heartbeating
	e.p.create(t, nlPod("pa1", "a"))
	e.p.create(t, nlPod("pa2", ""))
	e.bind("pa2", "a")
	e.p.create(t, nlPod("pb", "b"))
	e.p.create(t, nlPod("pending", ""))
	// A daemon pod tolerates unreachable NoExecute for ever and stays; a
	// pod that tolerates it for a while goes with the others.
	daemon := nlPod("daemon", "a")
	daemon.Spec.Tolerations = []v1.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: v1.TaintNoExecute}}
	e.p.create(t, daemon)
	timed := nlPod("timed", "a")
	timed.Spec.Tolerations = []v1.Toleration{{Key: "node.kubernetes.io/unreachable", Operator: "Exists", Effect: v1.TaintNoExecute,
		TolerationSeconds: ptrTo(int64(300))}}
	e.p.create(t, timed)
	c := e.controller()
	e.pass(c)
	start := e.now

	e.advanceTo(c, start.Add(nlGrace-time.Second), "b")
	if e.writes != 0 {
		t.Fatalf("%d writes before the grace, want 0", e.writes)
	}
	assertHealthy(t, e.node("a"))

	e.advanceTo(c, start.Add(nlGrace+time.Second), "b")
	assertUnreachable(t, e.node("a"))
	assertHealthy(t, e.node("b"))
	if c := e.node("a").Status.Condition(v1.NodeReady); !c.LastHeartbeatTime.Equal(start) {
		t.Fatalf("lastHeartbeatTime %v changed, want the node's own %v", c.LastHeartbeatTime, start)
	}
	marked := e.writes

	e.advanceTo(c, start.Add(nlEviction-time.Second), "b")
	if e.writes != marked {
		t.Fatalf("%d writes after marking, want none before eviction", e.writes-marked)
	}
	for _, p := range []string{"pa1", "pa2", "pb", "pending"} {
		if !e.podExists(p) {
			t.Fatalf("pod %s deleted before the eviction timeout", p)
		}
	}

	e.advanceTo(c, start.Add(nlEviction+time.Second), "b")
	if e.podExists("pa1") || e.podExists("pa2") || e.podExists("timed") {
		t.Fatal("pods of the silent node were not evicted")
	}
	if !e.podExists("daemon") || e.p.pod(t, "daemon").DeletionTimestamp != nil {
		t.Fatal("the daemon pod that tolerates the unreachable taint was evicted")
	}
	if !e.podExists("pb") || !e.podExists("pending") {
		t.Fatal("pods not on the silent node were touched")
	}
	if pb := e.p.pod(t, "pb"); pb.DeletionTimestamp != nil {
		t.Fatal("pod on a healthy node marked for deletion")
	}
	evicted := e.writes
	e.advanceTo(c, start.Add(2*nlEviction), "b")
	if e.writes != evicted {
		t.Fatalf("%d more writes after the eviction, want 0 (once per node)", e.writes-evicted)
	}

	// The node comes back: it posts Ready=True with a new heartbeat.
	e.heartbeat("a")
	e.pass(c)
	assertHealthy(t, e.node("a"))
	back := e.writes
	e.advanceTo(c, e.now.Add(nlGrace), "a", "b")
	if e.writes != back {
		t.Fatalf("%d writes after the node came back, want 0", e.writes-back)
	}
	assertHealthy(t, e.node("b"))
}

func TestNodeLifecycleFailoverRestartsTheGrace(t *testing.T) {
	e := newNLEnv(t)
	e.addNode("a", true) // heartbeats until the old leader's last minute
	e.addNode("m", true) // marked by the old leader, then silent
	e.p.create(t, nlPod("pa", "a"))
	e.p.create(t, nlPod("pm", "m"))
	old := e.controller()
	e.pass(old)
	start := e.now
	// The old leader leads long enough to mark m, but not to evict it; a's
	// heartbeat at 2 min is its last.
	e.advanceTo(old, start.Add(2*time.Minute), "a")
	assertUnreachable(t, e.node("m"))
	assertHealthy(t, e.node("a"))

	// A new leader takes over long after both nodes' last heartbeats.
	e.now = start.Add(20 * time.Minute)
	e.writes = 0
	c := e.controller()
	e.pass(c)
	takeover := e.now
	e.advanceTo(c, takeover.Add(nlGrace-time.Second))
	if e.writes != 0 {
		t.Fatalf("new leader wrote %d times within its first grace, want 0", e.writes)
	}
	assertHealthy(t, e.node("a"))
	assertUnreachable(t, e.node("m")) // the old mark stands: m never posted Ready again
	if !e.podExists("pa") || !e.podExists("pm") {
		t.Fatal("new leader evicted before a grace of its own")
	}

	e.advanceTo(c, takeover.Add(nlGrace+time.Second))
	assertUnreachable(t, e.node("a"))
	e.advanceTo(c, takeover.Add(nlEviction-time.Second))
	if !e.podExists("pa") || !e.podExists("pm") {
		t.Fatal("new leader evicted before an eviction timeout of its own")
	}
	e.advanceTo(c, takeover.Add(nlEviction+time.Second))
	if e.podExists("pa") || e.podExists("pm") {
		t.Fatal("new leader did not evict after its own eviction timeout")
	}
}

func TestNodeLifecycleNodeThatNeverPostedStatusCountsFromCreation(t *testing.T) {
	e := newNLEnv(t)
	e.addNode("fresh", false)
	c := e.controller()
	e.pass(c)
	start := e.now
	e.advanceTo(c, start.Add(nlGrace-time.Second))
	if e.writes != 0 || e.node("fresh").Status.Condition(v1.NodeReady) != nil {
		t.Fatalf("%d writes before the grace, want 0", e.writes)
	}
	e.advanceTo(c, start.Add(nlGrace+time.Second))
	assertUnreachable(t, e.node("fresh"))
	// Our own Unknown condition is not a heartbeat.
	marked := e.writes
	e.advanceTo(c, start.Add(nlEviction-time.Second))
	if e.writes != marked {
		t.Fatalf("%d writes after marking, want 0", e.writes-marked)
	}
	// Its first heartbeat lifts the taint.
	e.heartbeat("fresh")
	e.pass(c)
	assertHealthy(t, e.node("fresh"))
}

func TestNodeLifecycleKeepsOtherTaints(t *testing.T) {
	e := newNLEnv(t)
	e.addNode("a", true)
	q := v1.DeepCopy(e.node("a"))
	q.Spec.Taints = []v1.Taint{{Key: "dedicated", Value: "gpu", Effect: v1.TaintNoSchedule}}
	cmd, err := fsm.NewUpdate(q, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	c := e.controller()
	e.pass(c)
	e.advanceTo(c, e.now.Add(nlGrace+time.Second))
	if n := e.node("a"); len(n.Spec.Taints) != 2 || n.Spec.Taints[0].Key != "dedicated" {
		t.Fatalf("taints %+v", n.Spec.Taints)
	}
	e.heartbeat("a")
	e.pass(c)
	if n := e.node("a"); len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "dedicated" {
		t.Fatalf("taints after recovery %+v", n.Spec.Taints)
	}
}

func TestNodeLifecycleRunLiftsTheTaintOnAHeartbeat(t *testing.T) {
	e := newNLEnv(t)
	e.addNode("a", true)
	c := NewNodeLifecycle(NodeLifecycleConfig{Store: e.p.store, Proposer: e.p, Grace: nlGrace, EvictionTimeout: nlEviction,
		Interval: time.Hour, Now: func() time.Time { return e.now }})
	e.pass(c)
	e.now = e.now.Add(nlGrace + time.Second)
	e.pass(c)
	assertUnreachable(t, e.node("a"))
	// From here on the clock stands still and the ticker never fires: only
	// the feed can wake the loop.
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	e.heartbeat("a")
	store := e.p.store()
	deadline := time.After(10 * time.Second)
	var seen uint64
	for hasUnreachableTaint(e.node("a")) {
		_, last, wait, _, err := store.Feed().Since(seen)
		if err != nil {
			t.Fatal(err)
		}
		seen = last
		if !hasUnreachableTaint(e.node("a")) {
			break
		}
		select {
		case <-wait:
		case <-deadline:
			t.Fatal("the taint was not lifted within 10s of the heartbeat")
		}
	}
	assertHealthy(t, e.node("a"))
}

// gossipController is a new controller (a new leader) whose gossip liveness
// for every node is alive(elapsed), elapsed counted from start on the fake clock.
func (e *nlEnv) gossipController(start time.Time, alive func(elapsed time.Duration) (alive, known bool)) *NodeLifecycle {
	return NewNodeLifecycle(NodeLifecycleConfig{Store: e.p.store, Proposer: e, Grace: nlGrace, EvictionTimeout: nlEviction,
		Now:   func() time.Time { return e.now },
		Alive: func(string) (bool, bool) { return alive(e.now.Sub(start)) }})
}

// Gossip answers for the tables below.
func gossipAlways(alive, known bool) func(time.Duration) (bool, bool) {
	return func(time.Duration) (bool, bool) { return alive, known }
}

// gossipDeadDuring reports the member dead (or left: the same answer) for
// elapsed in [from, to) and alive otherwise.
func gossipDeadDuring(from, to time.Duration) func(time.Duration) (bool, bool) {
	return func(d time.Duration) (bool, bool) { return d < from || d >= to, true }
}

func TestNodeLifecycleGossipLiveness(t *testing.T) {
	const deadGrace = nlGrace / 2 // the default GossipDeadGrace
	type check struct {
		at          time.Duration // since start
		unreachable bool          // else healthy
		podExists   bool
	}
	tests := []struct {
		name string
		// gossip is node a's gossip liveness; a posts no heartbeat after
		// start unless heartbeats is set.
		gossip     func(elapsed time.Duration) (alive, known bool)
		heartbeats bool
		// failoverAt, if set, replaces the controller (a new leader).
		failoverAt time.Duration
		checks     []check
		noWrites   bool
	}{{
		// Anyone holding the gossip key can gossip under a dead node's name.
		name:   "gossip alive does not keep a heartbeat-silent node Ready",
		gossip: gossipAlways(true, true),
		checks: []check{
			{nlGrace - time.Second, false, true},
			{nlGrace + time.Second, true, true},
			{nlEviction - time.Second, true, true},
			{nlEviction + time.Second, true, false},
		},
	}, {
		name:   "gossip dead: Unknown after the shorter grace, evicted after the timeout",
		gossip: gossipDeadDuring(0, 24*time.Hour),
		checks: []check{
			{deadGrace - time.Second, false, true},
			{deadGrace + time.Second, true, true},
			{nlEviction - time.Second, true, true},
			{nlEviction + time.Second, true, false},
		},
	}, {
		name:   "unknown to gossip: heartbeats only",
		gossip: gossipAlways(false, false),
		checks: []check{
			{nlGrace - time.Second, false, true},
			{nlGrace + time.Second, true, true},
			{nlEviction - time.Second, true, true},
			{nlEviction + time.Second, true, false},
		},
	}, {
		name:       "gossip dead but heartbeats arrive: Ready",
		gossip:     gossipAlways(false, true),
		heartbeats: true,
		checks:     []check{{2 * nlEviction, false, true}},
		noWrites:   true,
	}, {
		name:       "a gossip flap of a heartbeating node changes nothing",
		gossip:     gossipDeadDuring(95*time.Second, 125*time.Second),
		heartbeats: true,
		checks:     []check{{2 * time.Minute, false, true}, {2 * nlEviction, false, true}},
		noWrites:   true,
	}, {
		// The new leader, taking over at 10 s with gossip dead, starts the
		// node's clock afresh: the old one would have marked it at 20 s.
		name:       "a new leader gives a gossip-dead node a grace of its own",
		gossip:     gossipDeadDuring(0, 24*time.Hour),
		failoverAt: 10 * time.Second,
		checks: []check{
			{10*time.Second + deadGrace - time.Second, false, true},
			{10*time.Second + deadGrace + time.Second, true, true},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newNLEnv(t)
			e.addNode("a", true)
			e.addNode("b", true) // heartbeats, no gossip answer matters
			e.p.create(t, nlPod("pa", "a"))
			e.p.create(t, nlPod("pb", "b"))
			start := e.now
			c := e.gossipController(start, tt.gossip)
			e.pass(c)
			healthy := []string{"b"}
			if tt.heartbeats {
				healthy = append(healthy, "a")
			}
			for _, ck := range tt.checks {
				if tt.failoverAt > 0 && e.now.Before(start.Add(tt.failoverAt)) && !start.Add(ck.at).Before(start.Add(tt.failoverAt)) {
					e.advanceTo(c, start.Add(tt.failoverAt), healthy...)
					c = e.gossipController(start, tt.gossip)
					e.pass(c)
				}
				e.advanceTo(c, start.Add(ck.at), healthy...)
				if ck.unreachable {
					assertUnreachable(t, e.node("a"))
				} else {
					assertHealthy(t, e.node("a"))
				}
				if got := e.podExists("pa"); got != ck.podExists {
					t.Fatalf("at %v: pod on a exists=%v, want %v", ck.at, got, ck.podExists)
				}
				assertHealthy(t, e.node("b"))
				if !e.podExists("pb") {
					t.Fatalf("at %v: pod on the heartbeating node b was evicted", ck.at)
				}
			}
			if tt.noWrites && e.writes != 0 {
				t.Fatalf("%d writes, want 0", e.writes)
			}
		})
	}
}

// A member that keeps gossiping under the name of a node whose agent died
// does not keep the node Ready; the node's own heartbeat does.
func TestNodeLifecycleGossipUnderADeadNodesNameKeepsNothingAlive(t *testing.T) {
	e := newNLEnv(t)
	e.addNode("a", true)
	e.p.create(t, nlPod("pa", "a"))
	start := e.now
	c := e.gossipController(start, gossipAlways(true, true))
	e.pass(c)
	e.advanceTo(c, start.Add(nlGrace+time.Second))
	assertUnreachable(t, e.node("a"))
	e.advanceTo(c, start.Add(nlEviction+time.Second))
	if e.podExists("pa") {
		t.Fatal("the pods of a node only gossip claims alive were not evicted")
	}
	e.heartbeat("a")
	e.pass(c)
	assertHealthy(t, e.node("a"))
}
