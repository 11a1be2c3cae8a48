package sched

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func boundPod(ns, name, node string) *v1.Pod {
	p := pendingPod(name, "10m")
	p.Namespace, p.Spec.NodeName = ns, node
	p.Status.Phase = v1.PodRunning
	return p
}

func podExists(t *testing.T, p *fakeProposer, ns, name string) bool {
	t.Helper()
	_, err := p.store().Get("pods", ns, name)
	if err != nil && !v1.IsNotFound(err) {
		t.Fatal(err)
	}
	return err == nil
}

// Pods bound to a node that does not exist go once the node has been
// missing for the quarantine; pods of existing nodes, unbound pods and pods
// of a node that registers within the quarantine stay.
func TestPodGCQuarantine(t *testing.T) {
	p := newFakeProposer(t)
	clock := &fakeClock{t: t0}
	p.create(t, readyNode("n1", "4", "8Gi", nil))
	p.create(t, boundPod("default", "on-n1", "n1"))
	p.create(t, boundPod("default", "on-ghost", "ghost"))
	p.create(t, boundPod("default", "on-late", "late"))
	p.create(t, pendingPod("unbound", "10m"))
	var watched []fsm.Event
	_, from := p.store().Feed().Window()
	g := NewPodGC(PodGCConfig{Store: p.store, Proposer: p, Now: clock.Now, Quarantine: 40 * time.Second})
	pass := func() {
		t.Helper()
		if err := g.Pass(context.Background(), p.store()); err != nil {
			t.Fatal(err)
		}
	}
	steps := []struct {
		advance  time.Duration
		register string // a node that registers before the pass
		want     map[string]bool
	}{
		{0, "", map[string]bool{"on-n1": true, "on-ghost": true, "on-late": true, "unbound": true}},
		{20 * time.Second, "late", map[string]bool{"on-n1": true, "on-ghost": true, "on-late": true, "unbound": true}},
		{19 * time.Second, "", map[string]bool{"on-n1": true, "on-ghost": true, "on-late": true, "unbound": true}},
		{time.Second, "", map[string]bool{"on-n1": true, "on-ghost": false, "on-late": true, "unbound": true}},
		{time.Hour, "", map[string]bool{"on-n1": true, "on-ghost": false, "on-late": true, "unbound": true}},
	}
	for i, s := range steps {
		clock.Advance(s.advance)
		if s.register != "" {
			p.create(t, readyNode(s.register, "4", "8Gi", nil))
		}
		pass()
		for name, want := range s.want {
			if got := podExists(t, p, "default", name); got != want {
				t.Fatalf("step %d (t0+%v): pod %s exists %v, want %v", i, clock.Now().Sub(t0), name, got, want)
			}
		}
	}
	// Watchers saw why the pod went: Failed with DisruptionTarget, then deleted.
	evs, _, _, _, err := p.store().Feed().Since(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Resource == "pods" && e.Record.Meta().Name == "on-ghost" {
			watched = append(watched, e)
		}
	}
	if len(watched) != 2 || watched[0].Type != v1.Modified || watched[1].Type != v1.Deleted {
		t.Fatalf("events of the collected pod: %+v", watched)
	}
	got := watched[0].Record.Object().(*v1.Pod)
	c := got.Status.Condition(PodDisruptionTarget)
	if got.Status.Phase != v1.PodFailed || c == nil || c.Status != v1.ConditionTrue || c.Reason != "DeletionByPodGC" ||
		c.Message != "PodGC: node no longer exists" {
		t.Fatalf("collected pod status %+v", got.Status)
	}
}

// A node that the pass's view lacks but the current store has (it
// registered meanwhile) keeps its pods: the delete re-checks fresh state.
func TestPodGCRechecksFreshState(t *testing.T) {
	stale := newFakeProposer(t)
	fresh := newFakeProposer(t)
	for _, p := range []*fakeProposer{stale, fresh} {
		p.create(t, boundPod("default", "web", "late"))
	}
	fresh.create(t, readyNode("late", "4", "8Gi", nil))
	clock := &fakeClock{t: t0}
	g := NewPodGC(PodGCConfig{Store: fresh.store, Proposer: fresh, Now: clock.Now, Quarantine: time.Second})
	for range 2 {
		if err := g.Pass(context.Background(), stale.store()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Minute)
	}
	if !podExists(t, fresh, "default", "web") {
		t.Fatal("the pod of a node present in the current store was deleted")
	}
}

// A namespace whose pod is bound to a node that does not exist finishes
// deleting once PodGC collects the pod.
func TestPodGCFinishesNamespaceDeletion(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "team", UID: "ns-team"}})
	p.create(t, boundPod("team", "stuck", "ghost"))
	cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "namespaces", Name: "team", Now: v1.NewTime(t0)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	rec, err := p.store().Get("namespaces", "", "team")
	if err != nil || rec.Object().(*v1.Namespace).Status.Phase != v1.NamespaceTerminating {
		t.Fatalf("namespace after delete: %v %v", rec, err)
	}
	_, from := p.store().Feed().Window()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		NewPodGC(PodGCConfig{Store: p.store, Proposer: p, Quarantine: 50 * time.Millisecond, Interval: time.Hour}).Run(ctx)
		close(done)
	}()
	waitFor(t, "namespace gone", func() bool {
		_, err := p.store().Get("namespaces", "", "team")
		return v1.IsNotFound(err)
	})
	cancel()
	<-done
	if podExists(t, p, "team", "stuck") {
		t.Fatal("the pod is still there")
	}
	// The terminating pod was marked Failed before it went.
	evs, _, _, _, err := p.store().Feed().Since(from)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, e := range evs {
		if e.Resource == "pods" {
			types = append(types, e.Type+"/"+e.Record.Object().(*v1.Pod).Status.Phase)
		}
	}
	if want := []string{v1.Modified + "/Failed", v1.Deleted + "/Failed"}; !slices.Equal(types, want) {
		t.Fatalf("pod events %v, want %v", types, want)
	}
}

// Only events that can orphan a pod wake a check: a busy cluster's ordinary
// pod writes cost a node lookup each, not a list of every pod.
func TestPodGCOrphaningEvents(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, readyNode("n1", "4", "8Gi", nil))
	rec := func(pod *v1.Pod) *fsm.Record { return fsm.NewRecord(pod, nil) }
	node := fsm.NewRecord(readyNode("n1", "4", "8Gi", nil), nil)
	tests := []struct {
		name string
		ev   fsm.Event
		want bool
	}{
		{"pod on an existing node", fsm.Event{Resource: "pods", Type: v1.Modified, Record: rec(boundPod("default", "a", "n1"))}, false},
		{"unbound pod", fsm.Event{Resource: "pods", Type: v1.Added, Record: rec(pendingPod("b", "10m"))}, false},
		{"pod on a missing node", fsm.Event{Resource: "pods", Type: v1.Added, Record: rec(boundPod("default", "c", "ghost"))}, true},
		{"deleted pod on a missing node", fsm.Event{Resource: "pods", Type: v1.Deleted, Record: rec(boundPod("default", "d", "ghost"))}, false},
		{"node deleted", fsm.Event{Resource: "nodes", Type: v1.Deleted, Record: node}, true},
		{"node updated", fsm.Event{Resource: "nodes", Type: v1.Modified, Record: node}, false},
		{"service", fsm.Event{Resource: "services", Type: v1.Added, Record: node}, false},
	}
	for _, tt := range tests {
		if got := orphaning(p.store(), tt.ev); got != tt.want {
			t.Errorf("%s: orphaning = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPodGCChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p, ctx := e.p, context.Background()
		if _, err := p.store().Get("pods", "default", "podgc-scale"); err != nil {
			// Unschedulable: other tests sharing the store place no pods on it.
			p.create(t, &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "podgc-scale-node", UID: "uid-podgc-scale-node"},
				Spec: v1.NodeSpec{Unschedulable: true}})
			pod := nlPod("podgc-scale", "podgc-scale-node")
			p.create(t, pod)
		}
		g := NewPodGC(PodGCConfig{Store: p.store, Proposer: p})
		seen := p.store().Index()
		q := v1.DeepCopy(p.pod(t, "podgc-scale"))
		q.Labels = map[string]string{"flip": fmt.Sprint(q.Labels["flip"] != "true")}
		cmd, err := fsm.NewUpdate(q, false)
		p.apply(t, cmd, err)
		ch := changesSince(t, p.store(), seen)
		return readsOf(p.store(), func() {
			if err := g.pass(ctx, p.store(), ch); err != nil {
				t.Fatal(err)
			}
		})
	})
}
