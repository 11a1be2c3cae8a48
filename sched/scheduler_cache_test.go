package sched

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// probePorts are the host ports the cache tests' pods use.
var probePorts = []v1.HostPort{{Protocol: "TCP", Port: 8080}, {Protocol: "TCP", Port: 9090}}

// cacheState describes what a scheduler cache holds, in a canonical form
// two caches of the same cluster share: each node's use, ports and pods
// per controller, each group's counts per node, per zone and by zone
// number (asking for the zone counts indexes them, so later changes
// update them incrementally).
func cacheState(t *testing.T, c *schedulerCache) string {
	t.Helper()
	s := c.snap
	var b strings.Builder
	for i, ni := range s.Nodes {
		if ni.idx != i || c.nodes[ni.Node.Name] != ni {
			t.Fatalf("node %s: index %d at %d, registered %v", ni.Node.Name, ni.idx, i, c.nodes[ni.Node.Name] == ni)
		}
		var ports []string
		for _, p := range probePorts {
			if _, used := ni.Ports.Conflict([]v1.HostPort{p}); used {
				ports = append(ports, p.String())
			}
		}
		fmt.Fprintf(&b, "node %s zone=%s used=%d/%d/%d%v ports=%v ctrl=%v\n", ni.Node.Name, ni.Node.Labels["zone"],
			ni.Used.MilliCPU, ni.Used.Memory, ni.Used.Pods, ni.Used.Extended, ports, ni.ByController)
	}
	if len(s.Nodes) != len(c.nodes) {
		t.Fatalf("%d nodes in the snapshot, %d registered", len(s.Nodes), len(c.nodes))
	}
	var groups []string
	for i, g := range s.groupList {
		if g.pos != i || s.groups[g.rep.group] != g || g.size <= 0 {
			t.Fatalf("group %q: pos %d at %d, size %d, indexed %v", g.rep.group, g.pos, i, g.size, s.groups[g.rep.group] == g)
		}
		if g.affPos >= 0 && s.affGroups[g.affPos] != g {
			t.Fatalf("group %q: not at its affGroups place %d", g.rep.group, g.affPos)
		}
		nodes := map[string]int{}
		size := 0
		for ni, n := range g.nodes {
			nodes[ni.Node.Name] = n
			size += n
		}
		if size != g.size {
			t.Fatalf("group %q: size %d, %d pods on nodes", g.rep.group, g.size, size)
		}
		dense, ids := s.denseCounts(g, "zone")
		byName := map[string]int32{}
		for v, id := range s.domainNames["zone"] {
			if dense[id] != 0 {
				byName[v] = dense[id]
			}
		}
		for i, ni := range s.Nodes {
			if v, ok := ni.Node.Labels["zone"]; (ids[i] >= 0) != ok || ok && s.domainNames["zone"][v] != ids[i] {
				t.Fatalf("node %s: zone number %d for %q", ni.Node.Name, ids[i], v)
			}
		}
		groups = append(groups, fmt.Sprintf("group %q aff=%v size=%d nodes=%v zones=%v dense=%v", strings.ReplaceAll(g.rep.group, "\x00", "|"),
			g.affPos >= 0, g.size, nodes, s.domainCounts(g, "zone"), byName))
	}
	if len(s.affGroups) > len(s.groupList) {
		t.Fatalf("%d affinity groups of %d", len(s.affGroups), len(s.groupList))
	}
	checkStandIns(t, c)
	slices.Sort(groups)
	b.WriteString(strings.Join(groups, "\n"))
	fmt.Fprintf(&b, "pending %v\n", slices.Sorted(maps.Keys(c.pending)))
	return b.String()
}

// checkStandIns fails unless every stand-in of c is shared by as many
// cached pods as it counts, each of the group it stands for, and carries
// nothing of one pod (no name, no spec).
func checkStandIns(t *testing.T, c *schedulerCache) {
	t.Helper()
	sharing := map[string]int{}
	for key, cp := range c.pods {
		si := c.standIns[cp.pi.group]
		if si == nil || si.pod != cp.pi.pod {
			continue // an assumed pod keeps its own
		}
		if cp.pi.group != si.group {
			t.Fatalf("pod %s: group %q, its stand-in's %q", key, cp.pi.group, si.group)
		}
		sharing[cp.pi.group]++
	}
	for g, si := range c.standIns {
		if si.n != sharing[g] || si.n <= 0 {
			t.Fatalf("stand-in of %q counts %d pods, %d share it", g, si.n, sharing[g])
		}
		if si.pod.Name != "" || len(si.pod.Spec.Containers) > 0 {
			t.Fatalf("stand-in of %q carries a pod's name or spec: %q", g, si.pod.Name)
		}
	}
}

// TestSchedulerCacheFollowsChanges keeps a cache from the feed through pod
// and node changes, pods assumed and forgotten, and compares it after each
// step with one rebuilt from lists.
func TestSchedulerCacheFollowsChanges(t *testing.T) {
	web := map[string]string{"app": "web"}
	webPod := func(name, node string) *v1.Pod {
		p := owned(on(labelled(name, "", web), node), "rc-web")
		p.Spec.Containers[0].Resources.Requests = v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m")}
		return p
	}
	withPort := func(p *v1.Pod, port int32) *v1.Pod {
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: port, HostPort: port, Protocol: "TCP"}}
		return p
	}
	antiWeb := requiredAnti(term(web, "zone"))
	steps := []struct {
		name string
		do   func(t *testing.T, p *fakeProposer, c *schedulerCache)
	}{
		{"nodes and bound pods", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			p.create(t, zoned("n0", "a", nil))
			p.create(t, zoned("n1", "b", nil))
			p.create(t, zoned("n2", "a", nil))
			p.create(t, withPort(webPod("web-0", "n0"), 8080))
			p.create(t, withPort(webPod("web-1", "n1"), 9090))
			p.create(t, webPod("web-2", "n2"))
			p.create(t, withAffinity(on(labelled("db-0", "", map[string]string{"app": "db"}), "n1"), antiWeb))
			p.create(t, pendingPod("pending", "1"))
		}},
		{"unbound pods of another scheduler, finished, being deleted", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			theirs := pendingPod("theirs", "1")
			theirs.Spec.SchedulerName = "other-scheduler"
			p.create(t, theirs)
			done := pendingPod("done", "1")
			done.Status.Phase = v1.PodFailed
			p.create(t, done)
			p.create(t, pendingPod("going", "1"))
			p.remove(t, "pods", "going", ptrTo(int64(30)))
		}},
		{"a pod relabelled", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			q := p.pod(t, "web-2")
			q.Labels = map[string]string{"app": "web", "extra": "x"}
			cmd, err := fsm.NewUpdate(q, false)
			p.apply(t, cmd, err)
		}},
		{"a pod with ports deleted", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			p.remove(t, "pods", "web-0", ptrTo(int64(0)))
		}},
		{"a pod being deleted", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			p.remove(t, "pods", "web-1", ptrTo(int64(30)))
		}},
		{"a pod finished", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			q := p.pod(t, "db-0")
			q.Status.Phase = v1.PodSucceeded
			cmd, err := fsm.NewUpdate(q, true)
			p.apply(t, cmd, err)
		}},
		{"a node's status changed", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			n := node(t, p, "n2")
			n.Status.Conditions = []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionFalse}}
			cmd, err := fsm.NewUpdate(n, true)
			p.apply(t, cmd, err)
		}},
		{"a node moved to another zone", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			p.create(t, withAffinity(on(labelled("db-1", "", map[string]string{"app": "db"}), "n2"), antiWeb))
			n := node(t, p, "n2")
			n.Labels = map[string]string{"zone": "c"}
			cmd, err := fsm.NewUpdate(n, false)
			p.apply(t, cmd, err)
		}},
		{"a pod bound to a node not yet registered", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			p.create(t, withPort(webPod("web-3", "n3"), 8080))
		}},
		{"that node registered", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			p.create(t, zoned("n3", "b", nil))
		}},
		{"a node deleted", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "nodes", Name: "n2"})
			p.apply(t, cmd, err)
		}},
		{"a pod assumed and bound", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			// Passes of a scheduler of their own: its cache follows the
			// same feed.
			s := NewScheduler(SchedulerConfig{Store: p.store, Proposer: p, Rand: seeded()})
			if n, err := s.Pass(context.Background(), p.store()); err != nil || n != 1 {
				t.Fatalf("pass bound %d pods: %v", n, err)
			}
			if err := s.cache.sync(p.store()); err != nil {
				t.Fatal(err)
			}
			fresh := &schedulerCache{}
			if err := fresh.rebuild(p.store()); err != nil {
				t.Fatal(err)
			}
			if got, want := cacheState(t, &s.cache), cacheState(t, fresh); got != want {
				t.Fatalf("the scheduler's cache after its binding came back:\n%s\nrebuilt:\n%s", got, want)
			}
		}},
		{"a pod assumed and forgotten", func(t *testing.T, p *fakeProposer, c *schedulerCache) {
			p.create(t, withPort(webPod("web-4", ""), 9090))
			if err := c.sync(p.store()); err != nil {
				t.Fatal(err)
			}
			c.snap.SetNamespaces(nil)
			plan := Schedule(c.snap, []*v1.Pod{p.pod(t, "web-4")}, seeded())
			if len(plan.placed) != 1 {
				t.Fatalf("plan placed %d pods: %v", len(plan.placed), plan.Unschedulable)
			}
			c.assume(plan.placed[0])
			c.remove("default/web-4")
		}},
		{"a terminating node's pods gone", func(t *testing.T, p *fakeProposer, _ *schedulerCache) {
			p.remove(t, "pods", "web-1", ptrTo(int64(0)))
			p.remove(t, "pods", "web-3", ptrTo(int64(0)))
		}},
	}
	p := newFakeProposer(t)
	c := &schedulerCache{}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			step.do(t, p, c)
			if err := c.sync(p.store()); err != nil {
				t.Fatal(err)
			}
			got := cacheState(t, c)
			fresh := &schedulerCache{}
			if err := fresh.rebuild(p.store()); err != nil {
				t.Fatal(err)
			}
			if want := cacheState(t, fresh); got != want {
				t.Fatalf("cache kept from the feed:\n%s\nrebuilt from lists:\n%s", got, want)
			}
		})
	}
}

// node returns the stored node.
func node(t *testing.T, p *fakeProposer, name string) *v1.Node {
	t.Helper()
	rec, err := p.store().Get("nodes", "", name)
	if err != nil {
		t.Fatal(err)
	}
	return v1.DeepCopy(rec.Object().(*v1.Node))
}

// TestSchedulerChangeCostIndependentOfOtherPods: beside 1,000 or 100,000
// bound pods, the pass a new pending pod starts reads the same records
// (the unbound pods and the namespaces), and the upkeep of a bound pod's
// change reads none.
func TestSchedulerChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependentBound(t, func(t *testing.T, e *scaleEnv) uint64 {
		ctx := context.Background()
		store := e.store()
		s := NewScheduler(SchedulerConfig{Store: e.store, Proposer: e.p, Rand: seeded()})
		if _, err := s.Pass(ctx, store); err != nil { // the first (full) pass
			t.Fatal(err)
		}
		_, seen := store.Feed().Window()
		pod := labelled("sched-cost", "", map[string]string{"app": "sched-cost"})
		e.p.create(t, pod)
		t.Cleanup(func() { e.p.remove(t, "pods", pod.Name, ptrTo(int64(0))) })
		ch := changesSince(t, store, seen)
		if !relevant(ch.events, waiting{}) {
			t.Fatal("a new pending pod did not start a pass")
		}
		var placed int
		reads := readsOf(store, func() {
			var err error
			if placed, err = s.Pass(ctx, store); err != nil {
				t.Fatal(err)
			}
		})
		if placed != 1 || e.p.pod(t, pod.Name).Spec.NodeName == "" {
			t.Fatalf("the pass bound %d pods", placed)
		}
		// A bound pod's change: the cache's upkeep only.
		q := e.p.pod(t, pod.Name)
		q.Labels["app"] = "sched-cost-2"
		cmd, err := fsm.NewUpdate(q, false)
		e.p.apply(t, cmd, err)
		reads += readsOf(store, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if err := s.cache.sync(store); err != nil {
				t.Fatal(err)
			}
		})
		return reads
	})
}

// bindInterposer is a proposer that runs before, in place of its first
// bind entries, what a test gives it: a write the pass had not heard of,
// or a failure of unknown outcome.
type bindInterposer struct {
	*fakeProposer
	mu     sync.Mutex
	before []func() error
}

func (b *bindInterposer) Apply(ctx context.Context, cmd []byte) (any, error) {
	if fsm.CommandType(cmd[0]) == fsm.BindCommand {
		b.mu.Lock()
		var f func() error
		if len(b.before) > 0 {
			f, b.before = b.before[0], b.before[1:]
		}
		b.mu.Unlock()
		if f != nil {
			if err := f(); err != nil {
				return nil, err
			}
		}
	}
	return b.fakeProposer.Apply(ctx, cmd)
}

// runScheduler runs a scheduler (resync an hour: only changes and the
// retry back-off wake it) until the test ends.
func runScheduler(t *testing.T, p *fakeProposer, prop Proposer) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		NewScheduler(SchedulerConfig{Store: p.store, Proposer: prop, Resync: time.Hour}).Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("Run did not stop after cancel")
		}
	})
}

// A binding the FSM refuses (a pod bound meanwhile took the room) is
// tried again at the next change; here the pod that took the room goes.
func TestRunRetriesARefusedBindingAtTheNextChange(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, readyNode("n0", "4", "8Gi", nil))
	p.create(t, pendingPod("web", "2"))
	hog := on(pendingPod("hog", "3"), "n0")
	prop := &bindInterposer{fakeProposer: p, before: []func() error{func() error {
		cmd, err := fsm.NewCreate(hog)
		if err == nil {
			_, err = p.Apply(context.Background(), cmd)
		}
		return err
	}}}
	runScheduler(t, p, prop)
	waitFor(t, "web refused by the node the hog took", func() bool {
		c := p.pod(t, "web").Status.Condition(v1.PodScheduled)
		return c != nil && c.Status == v1.ConditionFalse && strings.Contains(c.Message, "Insufficient cpu")
	})
	p.remove(t, "pods", "hog", ptrTo(int64(0)))
	waitFor(t, "web bound once the hog left", func() bool { return p.pod(t, "web").Spec.NodeName == "n0" })
}

// A bind entry whose outcome is unknown (the proposal failed) is tried
// again after the back-off though nothing changes.
func TestRunRetriesABindingOfUnknownOutcome(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, readyNode("n0", "4", "8Gi", nil))
	p.create(t, pendingPod("web", "1"))
	failed := make(chan struct{})
	prop := &bindInterposer{fakeProposer: p, before: []func() error{func() error {
		close(failed)
		return errors.New("proposal timed out")
	}}}
	runScheduler(t, p, prop)
	<-failed
	waitFor(t, "web bound after the failed entry", func() bool { return p.pod(t, "web").Spec.NodeName == "n0" })
}
