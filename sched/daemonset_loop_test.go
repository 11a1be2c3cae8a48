package sched

import (
	"context"
	"slices"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// dsState is what the store holds of the daemon set with uid: its live pods'
// hashes by node and its revisions' numbers by hash.
func dsState(t *testing.T, p *fakeProposer, uid string) (pods map[string]string, revisions map[string]int64) {
	t.Helper()
	pods, revisions = map[string]string{}, map[string]int64{}
	l, err := p.store().List("pods", fsm.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range l.Items {
		pod := r.Object().(*v1.Pod)
		if ref := pod.ControllerRef(); ref != nil && ref.UID == uid && pod.DeletionTimestamp == nil && !pod.Terminal() {
			node := daemonPodTarget(pod)
			if _, dup := pods[node]; dup {
				t.Fatalf("two pods for node %s", node)
			}
			pods[node] = pod.Labels[DaemonSetHashLabel]
		}
	}
	l, err = p.store().List("controllerrevisions", fsm.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range l.Items {
		cr := r.Object().(*v1.ControllerRevision)
		if ref := cr.ControllerRef(); ref == nil || ref.UID != uid {
			t.Fatalf("revision %s has controller %+v", cr.Name, ref)
		}
		if cr.Name != "agent-"+cr.Labels[DaemonSetHashLabel] || cr.Labels["app"] != "agent" {
			t.Fatalf("revision %s labels %v", cr.Name, cr.Labels)
		}
		revisions[cr.Labels[DaemonSetHashLabel]] = cr.Revision
	}
	return pods, revisions
}

func storedDS(t *testing.T, p *fakeProposer) *v1.DaemonSet {
	t.Helper()
	rec, err := p.store().Get("daemonsets", "default", "agent")
	if err != nil {
		t.Fatal(err)
	}
	return rec.Object().(*v1.DaemonSet)
}

func TestDaemonSetPassRevisions(t *testing.T) {
	p := newFakeProposer(t)
	now := dsT0
	ctx := context.Background()
	newController := func() *DaemonSetController {
		return NewDaemonSetController(DaemonSetConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
	}
	c := newController()
	pass := func() {
		t.Helper()
		if err := c.Pass(ctx, p.store()); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"n1", "n2"} {
		p.create(t, dsNode(n, nil))
	}
	ds := testDS(func(ds *v1.DaemonSet) { ds.Generation = 0; ds.Spec.RevisionHistoryLimit = ptrTo(int32(1)) })
	p.create(t, ds)
	setImage := func(image string) {
		t.Helper()
		q := v1.DeepCopy(storedDS(t, p))
		q.Spec.Template.Spec.Containers[0].Image = image
		cmd, err := fsm.NewUpdate(q, false)
		p.apply(t, cmd, err)
	}

	pass()
	pods, revs := dsState(t, p, ds.UID)
	if len(pods) != 2 || len(revs) != 1 {
		t.Fatalf("after the first pass: pods %v revisions %v", pods, revs)
	}
	h1 := pods["n1"]
	if pods["n2"] != h1 || revs[h1] != 1 {
		t.Fatalf("pods %v revisions %v", pods, revs)
	}
	pass()
	if st := storedDS(t, p).Status; st.DesiredNumberScheduled != 2 || st.CurrentNumberScheduled != 2 || st.UpdatedNumberScheduled != 2 || st.ObservedGeneration != 1 {
		t.Fatalf("status %+v", st)
	}

	// A new template: a second revision; the old pods, never ready, are
	// replaced at once, then the new ones made.
	setImage("nginx")
	pass()
	pass()
	pods, revs = dsState(t, p, ds.UID)
	h2 := pods["n1"]
	if h2 == h1 || pods["n2"] != h2 || revs[h2] != 2 || revs[h1] != 1 {
		t.Fatalf("after the update: pods %v revisions %v", pods, revs)
	}

	// Back to the first template: its revision is renumbered, not made
	// again, and the pods roll back to its hash.
	setImage("busybox")
	pass()
	pass()
	pods, revs = dsState(t, p, ds.UID)
	if pods["n1"] != h1 || pods["n2"] != h1 || revs[h1] != 3 || revs[h2] != 2 {
		t.Fatalf("after the rollback: pods %v revisions %v", pods, revs)
	}

	// A third template: with a limit of one old revision, the oldest that
	// no pod runs goes once the update is done.
	setImage("alpine")
	pass()
	pass()
	pass()
	pods, revs = dsState(t, p, ds.UID)
	h3 := pods["n1"]
	if _, ok := revs[h2]; ok || len(revs) != 2 || revs[h3] != 4 || revs[h1] != 3 {
		t.Fatalf("after the cleanup: pods %v revisions %v", pods, revs)
	}

	// A new leader continues from the store: its first pass writes
	// nothing.
	c = newController()
	before := p.index
	pass()
	if p.index != before {
		t.Fatalf("a new leader's pass wrote %d entries", p.index-before)
	}
	if st := storedDS(t, p).Status; st.ObservedGeneration != 4 || st.UpdatedNumberScheduled != 2 {
		t.Fatalf("status %+v", st)
	}
}

func TestDaemonSetPassNodesComeAndGo(t *testing.T) {
	p := newFakeProposer(t)
	ctx := context.Background()
	c := NewDaemonSetController(DaemonSetConfig{Store: p.store, Proposer: p, Now: func() time.Time { return dsT0 }})
	ds := testDS(func(ds *v1.DaemonSet) {
		ds.Generation = 0
		ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "log"}
	})
	p.create(t, ds)
	p.create(t, dsNode("n1", map[string]string{"role": "log"}))
	p.create(t, dsNode("n2", nil))
	nodesWithPods := func() []string {
		t.Helper()
		if err := c.Pass(ctx, p.store()); err != nil {
			t.Fatal(err)
		}
		pods, _ := dsState(t, p, ds.UID)
		var out []string
		for n := range pods {
			out = append(out, n)
		}
		slices.Sort(out)
		return out
	}
	if got := nodesWithPods(); !slices.Equal(got, []string{"n1"}) {
		t.Fatalf("pods on %v, want [n1]", got)
	}
	p.create(t, dsNode("n3", map[string]string{"role": "log"}))
	if got := nodesWithPods(); !slices.Equal(got, []string{"n1", "n3"}) {
		t.Fatalf("pods on %v after n3 joined, want [n1 n3]", got)
	}
	cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "nodes", Name: "n1", Now: v1.NewTime(dsT0)})
	p.apply(t, cmd, err)
	if got := nodesWithPods(); !slices.Equal(got, []string{"n3"}) {
		t.Fatalf("pods on %v after n1 left, want [n3]", got)
	}
}

// A node that keeps failing its daemon pod gets a new one only after a
// back-off that doubles: 1 s, then 2 s.
func TestDaemonSetPassBacksOffFailedPods(t *testing.T) {
	p := newFakeProposer(t)
	ctx := context.Background()
	now := dsT0
	c := NewDaemonSetController(DaemonSetConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
	ds := testDS(func(ds *v1.DaemonSet) { ds.Generation = 0 })
	p.create(t, ds)
	p.create(t, dsNode("n1", nil))
	pass := func() {
		t.Helper()
		if err := c.Pass(ctx, p.store()); err != nil {
			t.Fatal(err)
		}
	}
	// failPod fails the node's live pod and returns its name.
	failPod := func() string {
		t.Helper()
		l, err := p.store().List("pods", fsm.ListOptions{Namespace: "default"})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range l.Items {
			pod := r.Object().(*v1.Pod)
			if pod.DeletionTimestamp != nil || pod.Terminal() {
				continue
			}
			q := v1.DeepCopy(pod)
			q.Status.Phase = v1.PodFailed
			cmd, err := fsm.NewUpdate(q, true)
			p.apply(t, cmd, err)
			return pod.Name
		}
		t.Fatal("no live pod")
		return ""
	}
	live := func() int {
		t.Helper()
		pods, _ := dsState(t, p, ds.UID)
		return len(pods)
	}
	pass()
	first := failPod()
	pass() // replaced at once; the back-off starts
	if live() != 1 {
		t.Fatalf("the failed pod %s was not replaced", first)
	}
	failPod()
	now = dsT0.Add(500 * time.Millisecond)
	pass()
	if live() != 0 {
		t.Fatal("a failed pod was replaced within its back-off")
	}
	if d, ok := c.failed.nextRetry(now); !ok || !d.Equal(dsT0.Add(time.Second)) {
		t.Fatalf("next retry %v %v, want %v", d, ok, dsT0.Add(time.Second))
	}
	now = dsT0.Add(time.Second)
	pass()
	if live() != 1 {
		t.Fatal("the failed pod was not replaced after its back-off")
	}
	if d, _ := c.failed.nextRetry(now); !d.Equal(now.Add(2 * time.Second)) {
		t.Fatalf("next retry %v, want %v", d, now.Add(2*time.Second))
	}
}
