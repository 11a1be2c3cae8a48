package sched

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// recreateDeployment is a Recreate deployment of one busybox:<image> pod
// labelled app=name.
func recreateDeployment(name, image string) *v1.Deployment {
	one := int32(1)
	d := &v1.Deployment{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-dep-" + name},
		Spec: v1.DeploymentSpec{Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:" + image}}}},
			Strategy: v1.DeploymentStrategy{Type: v1.RecreateDeploymentStrategyType}},
	}
	v1.Default(d)
	return d
}

// settleDeployments runs incremental passes of c until they write nothing.
func settleDeployments(t *testing.T, c *DeploymentController, s *fsm.Store, seen uint64) {
	t.Helper()
	for range 10 {
		ch := changesSince(t, s, seen)
		if len(ch.events) == 0 {
			return
		}
		seen = s.Index()
		if err := c.pass(context.Background(), s, ch); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("deployment passes did not settle")
}

// setsOf returns the ReplicaSets d controls.
func setsOf(t *testing.T, s *fsm.Store, d string) []*v1.ReplicaSet {
	t.Helper()
	l, err := s.List("replicasets", fsm.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var out []*v1.ReplicaSet
	for _, r := range l.Items {
		rs := r.Object().(*v1.ReplicaSet)
		if ref := rs.ControllerRef(); ref != nil && ref.UID == "uid-dep-"+d {
			out = append(out, rs)
		}
	}
	return out
}

// rolloutToOldPod creates the Recreate deployment name with a running pod
// of its first set, then changes its template: incremental passes scale the
// old set down and wait for its pod. It returns the pod.
func rolloutToOldPod(t *testing.T, p *fakeProposer, c *DeploymentController, name string) *v1.Pod {
	t.Helper()
	s := p.store()
	p.create(t, recreateDeployment(name, "1"))
	seen := s.Index()
	if err := c.pass(context.Background(), s, changes{full: true}); err != nil {
		t.Fatal(err)
	}
	settleDeployments(t, c, s, seen)
	sets := setsOf(t, s, name)
	if len(sets) != 1 {
		t.Fatalf("%d sets after the first pass, want 1", len(sets))
	}
	pod := PodFromTemplate(sets[0])
	pod.Name, pod.UID = name+"-old", "uid-"+name+"-old"
	pod.Status.Phase = v1.PodRunning
	p.create(t, pod)
	rec, err := s.Get("deployments", "default", name)
	if err != nil {
		t.Fatal(err)
	}
	d := v1.DeepCopy(rec.Object().(*v1.Deployment))
	d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
	seen = s.Index()
	cmd, err := fsm.NewUpdate(d, false)
	p.apply(t, cmd, err)
	settleDeployments(t, c, s, seen)
	if sets := setsOf(t, s, name); len(sets) != 1 || *sets[0].Spec.Replicas != 0 {
		t.Fatalf("sets while the old pod runs: %d (want the old one, scaled to 0)", len(sets))
	}
	return pod
}

// A Recreate rollout driven by incremental passes only: the new set waits
// for the old set's pod and is created once the pod is deleted.
func TestDeploymentIncrementalRecreate(t *testing.T) {
	p := newFakeProposer(t)
	now := time.Unix(100000, 0)
	c := NewDeploymentController(DeploymentConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
	pod := rolloutToOldPod(t, p, c, "re")
	seen := p.store().Index()
	p.remove(t, "pods", pod.Name, ptrTo(int64(0)))
	settleDeployments(t, c, p.store(), seen)
	if sets := setsOf(t, p.store(), "re"); len(sets) != 2 {
		t.Fatalf("%d sets after the old pod went, want 2", len(sets))
	}
}

func TestDeploymentChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p, s := e.p, e.store()
		now := time.Unix(100000, 0)
		c := NewDeploymentController(DeploymentConfig{Store: p.store, Proposer: p, Pods: e.pods,
			Now: func() time.Time { return now }})
		pod := rolloutToOldPod(t, p, c, "dep-cost")
		seen := s.Index()
		p.remove(t, "pods", pod.Name, ptrTo(int64(0)))
		ch := changesSince(t, s, seen)
		reads := readsOf(s, func() {
			if err := c.pass(context.Background(), s, ch); err != nil {
				t.Fatal(err)
			}
		})
		if sets := setsOf(t, s, "dep-cost"); len(sets) != 2 {
			t.Fatalf("%d sets after the old pod went, want 2", len(sets))
		}
		return reads
	})
}
