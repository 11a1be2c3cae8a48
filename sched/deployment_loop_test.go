package sched

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

func storedDeployment(t *testing.T, p *fakeProposer) *v1.Deployment {
	t.Helper()
	rec, err := p.store().Get("deployments", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	return rec.Object().(*v1.Deployment)
}

func storedSets(t *testing.T, p *fakeProposer) []*v1.ReplicaSet {
	t.Helper()
	l, err := p.store().List("replicasets", fsm.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []*v1.ReplicaSet
	for _, r := range l.Items {
		out = append(out, r.Object().(*v1.ReplicaSet))
	}
	return out
}

// Through the FSM: the first pass creates the set <name>-<hash> with
// Progressing NewReplicaSetCreated; a name taken by a set of another
// template raises collisionCount and the next pass creates the set under
// the new hash; the deployment takes the set's revision; a settled pass
// writes nothing.
func TestDeploymentPassCreatesAndResolvesCollisions(t *testing.T) {
	p := newFakeProposer(t)
	now := time.Unix(100000, 0)
	c := NewDeploymentController(DeploymentConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
	d := testDeployment(3, "25%", "25%")
	d.ResourceVersion, d.Generation = "", 0
	hash, err := ComputeHash(&d.Spec.Template, nil)
	if err != nil {
		t.Fatal(err)
	}
	// A stranger holds web-<hash>: another template, labels outside the selector.
	stranger := &v1.ReplicaSet{ObjectMeta: v1.ObjectMeta{Name: "web-" + hash, Namespace: "default", UID: "stranger"},
		Spec: v1.ReplicaSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "other"}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "other"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "other"}}}}}}
	v1.Default(stranger)
	p.create(t, stranger)
	p.create(t, d)
	ctx := context.Background()
	pass := func() {
		t.Helper()
		if err := c.Pass(ctx, p.store()); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	got := storedDeployment(t, p)
	if got.Status.CollisionCount == nil || *got.Status.CollisionCount != 1 || len(storedSets(t, p)) != 1 {
		t.Fatalf("after the collision: status %+v, %d sets", got.Status, len(storedSets(t, p)))
	}
	pass()
	one := int32(1)
	want, _ := ComputeHash(&d.Spec.Template, &one)
	var mine *v1.ReplicaSet
	for _, rs := range storedSets(t, p) {
		if rs.Name == "web-"+want {
			mine = rs
		}
	}
	if mine == nil || mine.ControllerRef() == nil || mine.ControllerRef().UID != d.UID || mine.Labels[v1.DefaultDeploymentUniqueLabelKey] != want ||
		mine.Spec.Selector.MatchLabels[v1.DefaultDeploymentUniqueLabelKey] != want || *mine.Spec.Replicas != 3 ||
		mine.Annotations[v1.RevisionAnnotation] != "1" || mine.Annotations[v1.DesiredReplicasAnnotation] != "3" || mine.Annotations[v1.MaxReplicasAnnotation] != "4" {
		t.Fatalf("the new set: %+v", mine)
	}
	got = storedDeployment(t, p)
	if cond := getDeploymentCondition(&got.Status, v1.DeploymentProgressing); cond == nil || cond.Reason != ReasonNewReplicaSetCreated {
		t.Fatalf("progressing after the create: %+v", cond)
	}
	pass()
	if got = storedDeployment(t, p); got.Annotations[v1.RevisionAnnotation] != "1" {
		t.Fatalf("deployment revision %q", got.Annotations[v1.RevisionAnnotation])
	}
	// The replication manager's part: the set's pods are all available.
	rs := v1.DeepCopy(mine)
	for _, x := range storedSets(t, p) {
		if x.UID == mine.UID {
			rs = v1.DeepCopy(x)
		}
	}
	rs.Status = v1.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 3, AvailableReplicas: 3, ObservedGeneration: rs.Generation}
	cmd, err := fsm.NewUpdate(rs, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	pass()
	pass()
	got = storedDeployment(t, p)
	if cond := getDeploymentCondition(&got.Status, v1.DeploymentProgressing); cond == nil || cond.Reason != ReasonNewReplicaSetAvailable ||
		got.Status.AvailableReplicas != 3 || got.Status.UpdatedReplicas != 3 {
		t.Fatalf("after the pods are available: %+v", got.Status)
	}
	before := p.store().Index()
	pass()
	if after := p.store().Index(); after != before {
		t.Fatalf("a settled pass wrote (index %d -> %d)", before, after)
	}
}
