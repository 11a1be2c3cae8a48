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

// Deleting a replica set deletes the pods it controls; orphan releases them.
func TestDeleteReplicaSetCascades(t *testing.T) {
	for _, orphan := range []bool{false, true} {
		h := newHarness(t)
		rs := rsObj("default", "web", 2)
		h.create(nsObj("default"), rs)
		yes := true
		owned := podObj("default", "owned", map[string]string{"app": "web"})
		owned.OwnerReferences = []v1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: rs.UID, Controller: &yes}}
		h.create(owned, podObj("default", "other", map[string]string{"app": "web"}))
		req := DeleteRequest{Resource: "replicasets", Namespace: "default", Name: "web"}
		if orphan {
			req.Propagation = v1.PropagationOrphan
		}
		if res := h.result(mustEncode(t, DeleteCommand, req)); res.Err != nil {
			t.Fatal(res.Err)
		}
		if orphan {
			if refs := h.pod("default", "owned").OwnerReferences; len(refs) != 0 {
				t.Errorf("orphan: the pod keeps %v", refs)
			}
		} else {
			h.gone("pods", "default", "owned") // unbound: removed at once
		}
		h.pod("default", "other")
	}
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
