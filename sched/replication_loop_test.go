package sched

import (
	"context"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func loopRC(name string, replicas int32) *v1.ReplicationController {
	rc := &v1.ReplicationController{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-rc-" + name},
		Spec: v1.ReplicationControllerSpec{Replicas: &replicas, Selector: map[string]string{"app": name},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}},
	}
	v1.Default(rc)
	return rc
}

func ownedActive(t *testing.T, p *fakeProposer, rc string) []*v1.Pod {
	t.Helper()
	l, err := p.store().List("pods", fsm.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var out []*v1.Pod
	for _, r := range l.Items {
		pod := r.Object().(*v1.Pod)
		if ref := pod.ControllerRef(); ref != nil && ref.UID == "uid-rc-"+rc && pod.DeletionTimestamp == nil {
			out = append(out, pod)
		}
	}
	return out
}

func TestReplicationPassCreatesAdoptsScalesAndReports(t *testing.T) {
	p := newFakeProposer(t)
	orphan := pendingPod("orphan", "1m")
	orphan.Labels = map[string]string{"app": "web"}
	p.create(t, orphan)
	p.create(t, loopRC("web", 5))
	m := NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p})
	if err := m.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	pods := ownedActive(t, p, "web")
	if len(pods) != 5 {
		t.Fatalf("%d owned pods, want 5 (4 created + the adopted orphan)", len(pods))
	}
	for _, pod := range pods {
		if pod.Name != "orphan" && (!strings.HasPrefix(pod.Name, "web-") || pod.UID == "" || pod.CreationTimestamp.IsZero()) {
			t.Fatalf("created pod %+v", pod.ObjectMeta)
		}
	}
	// The next pass only reports status.
	if err := m.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	rec, _ := p.store().Get("replicationcontrollers", "default", "web")
	if st := rec.Object().(*v1.ReplicationController).Status; st.Replicas != 5 || st.ObservedGeneration != 1 {
		t.Fatalf("status %+v", st)
	}
	// Scale down: unbound pods go at once.
	cmd, _ := fsm.Encode(fsm.ScaleCommand, fsm.ScaleRequest{Namespace: "default", Name: "web", Replicas: 2})
	if _, err := p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	if err := m.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	if n := len(ownedActive(t, p, "web")); n != 2 {
		t.Fatalf("%d pods after scaling to 2", n)
	}
	// Settled: a pass writes nothing.
	m.Pass(context.Background(), p.store())
	before := p.store().Index()
	if err := m.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	if after := p.store().Index(); after != before {
		t.Fatalf("a settled pass wrote entries %d..%d", before, after)
	}
}

func TestReplicationRunFollowsScaleWithoutExceedingIt(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, loopRC("api", 3))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	go func() {
		NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p, Resync: time.Hour}).Run(ctx)
		close(done)
	}()
	for _, want := range []int32{3, 10, 1, 6} {
		cmd, _ := fsm.Encode(fsm.ScaleCommand, fsm.ScaleRequest{Namespace: "default", Name: "api", Replicas: want})
		if _, err := p.Apply(context.Background(), cmd); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "converge", func() bool {
			n := len(ownedActive(t, p, "api"))
			if n > int(want) && want >= 3 {
				// Scaling up from below never overshoots.
				t.Errorf("%d pods observed while converging up to %d", n, want)
			}
			return n == int(want)
		})
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not stop")
	}
}
