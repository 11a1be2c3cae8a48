package sched

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func TestReplicationChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p, s, ctx := e.p, e.store(), context.Background()
		if _, err := s.Get("replicationcontrollers", "default", "rc-cost"); v1.IsNotFound(err) {
			p.create(t, loopRC("rc-cost", 3))
		}
		m := NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p, Pods: e.pods})
		if err := m.pass(ctx, s, changes{full: true}); err != nil {
			t.Fatal(err)
		}
		pods := ownedActive(t, p, "rc-cost")
		if len(pods) != 3 {
			t.Fatalf("%d pods after the full pass, want 3", len(pods))
		}
		seen := s.Index()
		p.remove(t, "pods", pods[0].Name, ptrTo(int64(0)))
		ch := changesSince(t, s, seen)
		reads := readsOf(s, func() {
			if err := m.pass(ctx, s, ch); err != nil {
				t.Fatal(err)
			}
		})
		if n := len(ownedActive(t, p, "rc-cost")); n != 3 {
			t.Fatalf("%d pods after one was deleted, want 3 (a replacement)", n)
		}
		return reads
	})
}

// TestReplicationIncrementalPasses checks that passes fed only the changes
// do what full passes do: adopt an orphan that starts to match, release a
// pod relabelled away, replace a deleted pod, follow a ReplicaSet created
// later, and leave untouched RCs alone.
func TestReplicationIncrementalPasses(t *testing.T) {
	p := newFakeProposer(t)
	ctx := context.Background()
	p.create(t, loopRC("web", 2))
	p.create(t, loopRC("idle", 1))
	m := NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p})
	if err := m.pass(ctx, p.store(), changes{full: true}); err != nil {
		t.Fatal(err)
	}
	step := func(name string, change func()) {
		t.Helper()
		seen := p.store().Index()
		change()
		if err := m.pass(ctx, p.store(), changesSince(t, p.store(), seen)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	idle := ownedActive(t, p, "idle")
	// An orphan that matches web is adopted; web then has one pod too many.
	step("orphan", func() {
		orphan := pendingPod("stray", "1m")
		orphan.Labels = map[string]string{"app": "web"}
		// Older than web's pods, so one of those goes instead.
		orphan.CreationTimestamp = v1.NewTime(time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
		p.create(t, orphan)
	})
	if got := p.pod(t, "stray").ControllerRef(); got == nil || got.UID != "uid-rc-web" {
		t.Fatalf("stray's controller %+v, want web", got)
	}
	if n := len(ownedActive(t, p, "web")); n != 2 {
		t.Fatalf("web has %d pods after adopting, want 2", n)
	}
	// A pod relabelled away is released and replaced.
	web := ownedActive(t, p, "web")
	step("relabel", func() {
		q := v1.DeepCopy(web[0])
		q.Labels = map[string]string{"app": "elsewhere"}
		cmd, err := fsm.NewUpdate(q, false)
		p.apply(t, cmd, err)
	})
	if ref := p.pod(t, web[0].Name).ControllerRef(); ref != nil {
		t.Fatalf("relabelled pod still controlled by %+v", ref)
	}
	// The release's own event is the next pass's change: web is short again.
	step("after release", func() {})
	if n := len(ownedActive(t, p, "web")); n != 2 {
		t.Fatalf("web has %d pods after the release, want 2", n)
	}
	// A ReplicaSet created later adopts the released pod.
	step("replicaset", func() {
		one := int32(1)
		p.create(t, &v1.ReplicaSet{ObjectMeta: v1.ObjectMeta{Name: "else", Namespace: "default", UID: "uid-rs-else"},
			Spec: v1.ReplicaSetSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "elsewhere"}},
				Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "elsewhere"}},
					Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}})
	})
	if ref := p.pod(t, web[0].Name).ControllerRef(); ref == nil || ref.UID != "uid-rs-else" {
		t.Fatalf("released pod's controller %+v, want the ReplicaSet", ref)
	}
	if got := ownedActive(t, p, "idle"); len(got) != 1 || got[0].ResourceVersion != idle[0].ResourceVersion {
		t.Fatalf("idle's pod changed: %v", got)
	}
}

// TestReplicationSchedulesMinReadySeconds checks that an RC with a ready
// pod not yet available is synced again when the pod becomes available,
// without a change.
func TestReplicationSchedulesMinReadySeconds(t *testing.T) {
	p := newFakeProposer(t)
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	rc := loopRC("slow", 1)
	rc.Spec.MinReadySeconds = 30
	p.create(t, rc)
	m := NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
	if err := m.pass(ctx, p.store(), changes{full: true}); err != nil {
		t.Fatal(err)
	}
	pod := v1.DeepCopy(ownedActive(t, p, "slow")[0])
	pod.Status.Phase = v1.PodRunning
	pod.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue, LastTransitionTime: v1.NewTime(now)}}
	seen := p.store().Index()
	cmd, err := fsm.NewUpdate(pod, true)
	p.apply(t, cmd, err)
	if err := m.pass(ctx, p.store(), changesSince(t, p.store(), seen)); err != nil {
		t.Fatal(err)
	}
	status := func() v1.ReplicationControllerStatus {
		r, err := p.store().Get("replicationcontrollers", "default", "slow")
		if err != nil {
			t.Fatal(err)
		}
		return r.Object().(*v1.ReplicationController).Status
	}
	if st := status(); st.ReadyReplicas != 1 || st.AvailableReplicas != 0 {
		t.Fatalf("status %+v, want ready 1, available 0", st)
	}
	at, ok := m.due.next()
	if want := now.Add(30 * time.Second); !ok || !at.Equal(want) {
		t.Fatalf("next sync %v %v, want %v", at, ok, want)
	}
	now = at
	if err := m.pass(ctx, p.store(), changes{full: true, woken: true}); err != nil {
		t.Fatal(err)
	}
	if st := status(); st.AvailableReplicas != 1 {
		t.Fatalf("status %+v after minReadySeconds, want available 1", st)
	}
	if _, ok := m.due.next(); ok {
		t.Fatal("a sync is still scheduled")
	}
}
