package sched

import (
	"context"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// markReady writes pod name as Running and Ready, as its node would.
func markReady(t *testing.T, p *fakeProposer, name string) {
	t.Helper()
	q := v1.DeepCopy(p.pod(t, name))
	q.Status.Phase = v1.PodRunning
	q.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: v1.NewTime(time.Now())}}
	cmd, err := fsm.NewUpdate(q, true)
	p.apply(t, cmd, err)
}

// The controller makes the set's pods one at a time against a real FSM,
// with its revision; a controller made afresh (a new leader) continues from
// the stored state; a deleted pod is made again under its name.
func TestStatefulSetPassOrderedAndNewLeader(t *testing.T) {
	p := newFakeProposer(t)
	ss := testSTS(2, v1.OrderedReadyPodManagement)
	p.create(t, ss)
	ctx := context.Background()
	pass := func(c *StatefulSetController) {
		t.Helper()
		if err := c.Pass(ctx, p.store()); err != nil {
			t.Fatal(err)
		}
	}
	first := NewStatefulSetController(StatefulSetConfig{Store: p.store, Proposer: p})
	pass(first)
	pass(first) // web-0 is not ready: nothing more
	if _, err := p.store().Get("pods", "default", "web-1"); !v1.IsNotFound(err) {
		t.Fatalf("web-1 made before web-0 is ready: %v", err)
	}
	web0 := p.pod(t, "web-0")
	revs, err := p.store().List("controllerrevisions", fsm.ListOptions{Namespace: "default"})
	if err != nil || len(revs.Items) != 1 {
		t.Fatalf("revisions %v %v", revs, err)
	}
	cr := revs.Items[0].Object().(*v1.ControllerRevision)
	if web0.Labels[v1.ControllerRevisionHashLabel] != cr.Name || cr.Revision != 1 || cr.ControllerRef() == nil || cr.ControllerRef().UID != ss.UID {
		t.Fatalf("pod labels %v, revision %+v", web0.Labels, cr.ObjectMeta)
	}
	rec, err := p.store().Get("statefulsets", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if st := rec.Object().(*v1.StatefulSet).Status; st.Replicas != 1 || st.ReadyReplicas != 0 || st.UpdateRevision != cr.Name {
		t.Fatalf("status %+v", st)
	}

	markReady(t, p, "web-0")
	second := NewStatefulSetController(StatefulSetConfig{Store: p.store, Proposer: p})
	pass(second)
	if p.pod(t, "web-1").Spec.Hostname != "web-1" {
		t.Fatal("web-1 has no hostname")
	}
	markReady(t, p, "web-1")
	pass(second)
	rec, _ = p.store().Get("statefulsets", "default", "web")
	if st := rec.Object().(*v1.StatefulSet).Status; st.Replicas != 2 || st.ReadyReplicas != 2 || st.CurrentRevision != cr.Name {
		t.Fatalf("status %+v", st)
	}

	// web-0 deleted (removed by its node) comes back with a new uid.
	p.remove(t, "pods", "web-0", new(int64))
	if _, err := p.store().Get("pods", "default", "web-0"); !v1.IsNotFound(err) {
		t.Fatalf("web-0 not removed: %v", err)
	}
	pass(second)
	if again := p.pod(t, "web-0"); again.UID == web0.UID {
		t.Fatal("web-0 was not made again")
	}
}
