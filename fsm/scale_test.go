package fsm

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

func rsObj(ns, name string, replicas int32) *v1.ReplicaSet {
	o := &v1.ReplicaSet{ObjectMeta: testMeta(ns, name), Spec: v1.ReplicaSetSpec{
		Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
		Template: v1.PodTemplateSpec{
			ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.36"}}},
		},
	}}
	v1.Default(o)
	return o
}

// A scale names its resource; one without a resource scales a replication
// controller, as every entry written before the field existed does.
func TestScaleByResource(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), rcObj("default", "web", 1), rsObj("default", "web", 1), podObj("default", "p", nil))
	tests := []struct {
		name     string
		req      ScaleRequest
		resource string
		want     int32
		reject   string
	}{
		{"replica set", ScaleRequest{Resource: "replicasets", Name: "web", Replicas: 4}, "replicasets", 4, ""},
		{"rc by name", ScaleRequest{Resource: "replicationcontrollers", Name: "web", Replicas: 2}, "replicationcontrollers", 2, ""},
		{"rc by default", ScaleRequest{Name: "web", Replicas: 3}, "replicationcontrollers", 3, ""},
		{"no scale subresource", ScaleRequest{Resource: "pods", Name: "p", Replicas: 3}, "", 0, "pods has no scale subresource"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.Namespace = "default"
			res := h.result(mustEncode(t, ScaleCommand, tt.req))
			if tt.reject != "" {
				if res.Err == nil || !strings.Contains(res.Err.Error(), tt.reject) {
					t.Fatalf("err %v, want %q", res.Err, tt.reject)
				}
				return
			}
			if res.Err != nil {
				t.Fatal(res.Err)
			}
			obj := h.get(tt.resource, "default", "web").Object().(v1.Scalable)
			if n := obj.SpecReplicas(); *n != tt.want || obj.GetObjectMeta().Generation < 2 {
				t.Errorf("replicas %d generation %d", *n, obj.GetObjectMeta().Generation)
			}
		})
	}
	// The replica set's scale left the rc alone, and the other way round.
	if n := *h.get("replicasets", "default", "web").Object().(*v1.ReplicaSet).Spec.Replicas; n != 4 {
		t.Errorf("replica set replicas %d, want 4", n)
	}
	if err := Verify(mustEncode(t, ScaleCommand, ScaleRequest{Resource: "pods", Namespace: "default", Name: "p"})); err == nil {
		t.Error("Verify accepted a scale of pods")
	}
}

// A replica set's dependents are deleted in the background by default (the
// garbage collector deletes its pods), unlike a core/v1 RC's, which are
// orphaned unless the client asks otherwise; deleting one with no
// finalizers removes it at once.
func TestDeleteReplicaSetPropagation(t *testing.T) {
	for name, want := range map[string]string{"replicasets": v1.PropagationBackground, "replicationcontrollers": v1.PropagationOrphan} {
		r, _ := v1.ResourceByName(name)
		if got := DefaultPropagation(r); got != want {
			t.Errorf("%s: default propagation %q, want %q", name, got, want)
		}
	}
	h := newHarness(t)
	h.create(nsObj("default"), rsObj("default", "web", 2))
	if res := h.result(mustEncode(t, DeleteCommand, DeleteRequest{Resource: "replicasets", Namespace: "default", Name: "web"})); res.Err != nil {
		t.Fatal(res.Err)
	}
	h.gone("replicasets", "default", "web")
}

// A quota counts replica sets by Kubernetes' name for them,
// count/replicasets.apps, and by the bare plural; a create over it is
// refused and stores nothing.
func TestQuotaCountsReplicaSets(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), quotaObj("default", "q", map[string]string{"count/replicasets.apps": "1", "count/replicasets": "5"}))
	h.create(rsObj("default", "a", 1))
	if got, want := h.used("default", "q"), "count/replicasets=1,count/replicasets.apps=1"; got != want {
		t.Errorf("used = %q, want %q", got, want)
	}
	cmd, err := NewCreate(rsObj("default", "b", 1))
	if err != nil {
		t.Fatal(err)
	}
	res := h.result(cmd)
	if v1.CodeOf(res.Err) != 403 || !strings.Contains(res.Err.Error(), "exceeded quota: q") || !strings.Contains(res.Err.Error(), "count/replicasets.apps") {
		t.Fatalf("second replica set: %v", res.Err)
	}
	if _, err := h.f.Store().Get("replicasets", "default", "b"); !v1.IsNotFound(err) {
		t.Errorf("the refused replica set is stored: %v", err)
	}
}
