package sched

import (
	"context"
	"slices"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

const rsUID = "rs-uid"

// testRS returns a ReplicaSet "default/web" selecting app=web with tier in
// (front, edge) and the given replicas.
func testRS(replicas int32) *v1.ReplicaSet {
	rs := &v1.ReplicaSet{
		ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default", UID: rsUID, Generation: 3},
		Spec: v1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"},
				MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "tier", Operator: metav1.LabelSelectorOpIn, Values: []string{"front", "edge"}}}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}},
		},
	}
	v1.Default(rs)
	return rs
}

func rsOwned() podOpt {
	return func(p *v1.Pod) {
		yes := true
		p.OwnerReferences = []v1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: rsUID, Controller: &yes}}
	}
}

func podNames(pods []*v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	slices.Sort(out)
	return out
}

// A ReplicaSet claims by its set-based selector: matchExpressions decide
// adoption and release as matchLabels do.
func TestPlanReplicaSetSelector(t *testing.T) {
	tests := []struct {
		name             string
		pods             []*v1.Pod
		replicas         int32
		adopt, release   []string
		create, statusOf int
	}{
		{"owned pods in the set count", []*v1.Pod{testPod("a", rsOwned()), testPod("b", rsOwned(), withLabels(map[string]string{"app": "web", "tier": "edge"}))},
			2, nil, nil, 0, 2},
		{"orphan in the set is adopted", []*v1.Pod{testPod("a", orphan(), withLabels(map[string]string{"app": "web", "tier": "edge"}))},
			2, []string{"a"}, nil, 1, 1},
		{"orphan outside the expression is left alone", []*v1.Pod{testPod("a", orphan(), withLabels(map[string]string{"app": "web", "tier": "back"}))},
			1, nil, nil, 1, 0},
		{"owned pod leaving the set is released", []*v1.Pod{testPod("a", rsOwned(), withLabels(map[string]string{"app": "web", "tier": "back"})), testPod("b", rsOwned())},
			1, nil, []string{"a"}, 0, 1},
		{"pods of an RC are not claimed", []*v1.Pod{testPod("a")}, 1, nil, nil, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan := PlanReplication(testRS(tt.replicas), tt.pods, nil, t0)
			if got := podNames(plan.Adopt); !slices.Equal(got, tt.adopt) {
				t.Errorf("adopt %v, want %v", got, tt.adopt)
			}
			if got := podNames(plan.Release); !slices.Equal(got, tt.release) {
				t.Errorf("release %v, want %v", got, tt.release)
			}
			if plan.Create != tt.create || int(plan.Status.Replicas) != tt.statusOf {
				t.Errorf("create %d replicas %d, want %d and %d", plan.Create, plan.Status.Replicas, tt.create, tt.statusOf)
			}
			if plan.Status.ObservedGeneration != 3 {
				t.Errorf("observedGeneration %d", plan.Status.ObservedGeneration)
			}
		})
	}
}

func TestReplicaSetControllerRefAndTemplate(t *testing.T) {
	p := PodFromTemplate(testRS(1))
	ref := p.ControllerRef()
	if ref == nil || ref.APIVersion != "apps/v1" || ref.Kind != "ReplicaSet" || ref.Name != "web" || ref.UID != rsUID {
		t.Fatalf("controller ref %+v", ref)
	}
	if p.GenerateName != "web-" || p.Labels["tier"] != "front" || len(p.Spec.Containers) != 1 {
		t.Errorf("pod %+v", p.ObjectMeta)
	}
	if ref := NewControllerRef(testRC(1)); ref.APIVersion != "v1" || ref.Kind != "ReplicationController" {
		t.Errorf("rc controller ref %+v", ref)
	}
}

func TestReplicaStatusRoundTrip(t *testing.T) {
	st := v1.ReplicationControllerStatus{Replicas: 3, FullyLabeledReplicas: 3, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 4,
		Conditions: []v1.ReplicationControllerCondition{{Type: RCReplicaFailure, Status: v1.ConditionTrue, Reason: RCReasonFailedCreate, Message: "no"}}}
	rs := testRS(3)
	q := withReplicaStatus(rs, st).(*v1.ReplicaSet)
	if rs.Status.Replicas != 0 {
		t.Fatal("withReplicaStatus changed its input")
	}
	if q.Status.Replicas != 3 || q.Status.AvailableReplicas != 1 || len(q.Status.Conditions) != 1 || q.Status.Conditions[0].Reason != RCReasonFailedCreate {
		t.Fatalf("status %+v", q.Status)
	}
	if back := replicaStatus(q); !v1.JSONEqual(back, st) {
		t.Errorf("round trip %+v, want %+v", back, st)
	}
}

// One manager keeps an RC and a ReplicaSet of the same name and labels
// apart: each creates, owns and counts its own pods and is scaled through
// its own resource (deleting either is the garbage collector's business).
func TestReplicationPassReplicaSetBesideRC(t *testing.T) {
	ctx := context.Background()
	p := newFakeProposer(t)
	rc := loopRC("web", 2)
	rc.Spec.Selector = map[string]string{"app": "web", "kind": "rc"}
	rc.Spec.Template.Labels = map[string]string{"app": "web", "kind": "rc"}
	p.create(t, rc)
	rs := testRS(3)
	rs.UID = "uid-rc-rs" // ownedActive finds pods by "uid-rc-<name>"
	p.create(t, rs)
	m := NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p})
	for range 2 {
		if err := m.Pass(ctx, p.store()); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(ownedActive(t, p, "web")); n != 2 {
		t.Fatalf("rc owns %d pods, want 2", n)
	}
	rsPods := ownedActive(t, p, "rs")
	if len(rsPods) != 3 {
		t.Fatalf("replica set owns %d pods, want 3", len(rsPods))
	}
	for _, pod := range rsPods {
		if ref := pod.ControllerRef(); ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" {
			t.Fatalf("pod %s controller %+v", pod.Name, ref)
		}
	}
	rec, err := p.store().Get("replicasets", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if st := rec.Object().(*v1.ReplicaSet).Status; st.Replicas != 3 || st.FullyLabeledReplicas != 3 || st.ObservedGeneration != 1 {
		t.Fatalf("replica set status %+v", st)
	}

	cmd, _ := fsm.Encode(fsm.ScaleCommand, fsm.ScaleRequest{Resource: "replicasets", Namespace: "default", Name: "web", Replicas: 1})
	if _, err := p.Apply(ctx, cmd); err != nil {
		t.Fatal(err)
	}
	if err := m.Pass(ctx, p.store()); err != nil {
		t.Fatal(err)
	}
	if n := len(ownedActive(t, p, "rs")); n != 1 {
		t.Fatalf("replica set owns %d pods after scaling to 1", n)
	}
	if n := len(ownedActive(t, p, "web")); n != 2 {
		t.Fatalf("scaling the replica set changed the rc's pods: %d", n)
	}
}
