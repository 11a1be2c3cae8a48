package fsm

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

func stsObj(ns, name string, replicas int32) *v1.StatefulSet {
	o := &v1.StatefulSet{ObjectMeta: testMeta(ns, name), Spec: v1.StatefulSetSpec{
		Replicas:    &replicas,
		ServiceName: name,
		Selector:    &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
		Template: v1.PodTemplateSpec{
			ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.36"}}},
		},
	}}
	v1.Default(o)
	return o
}

// A stateful set is scaled through its scale subresource; a quota counts
// stateful sets as count/statefulsets.apps and refuses the one over it,
// storing nothing.
func TestStatefulSetScaleAndQuota(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), quotaObj("default", "q", map[string]string{"count/statefulsets.apps": "1"}), stsObj("default", "web", 1))
	res := h.result(mustEncode(t, ScaleCommand, ScaleRequest{Resource: "statefulsets", Namespace: "default", Name: "web", Replicas: 5}))
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	if ss := h.get("statefulsets", "default", "web").Object().(*v1.StatefulSet); *ss.Spec.Replicas != 5 || ss.Generation < 2 {
		t.Errorf("replicas %d generation %d", *ss.Spec.Replicas, ss.Generation)
	}
	if got, want := h.used("default", "q"), "count/statefulsets.apps=1"; got != want {
		t.Errorf("used = %q, want %q", got, want)
	}
	cmd, err := NewCreate(stsObj("default", "db", 1))
	if err != nil {
		t.Fatal(err)
	}
	res = h.result(cmd)
	if v1.CodeOf(res.Err) != 403 || !strings.Contains(res.Err.Error(), "exceeded quota: q") || !strings.Contains(res.Err.Error(), "count/statefulsets.apps") {
		t.Fatalf("second stateful set: %v", res.Err)
	}
	if _, err := h.f.Store().Get("statefulsets", "default", "db"); !v1.IsNotFound(err) {
		t.Errorf("the refused stateful set is stored: %v", err)
	}
}
