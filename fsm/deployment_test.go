package fsm

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

func deployObj(ns, name string, replicas int32) *v1.Deployment {
	o := &v1.Deployment{ObjectMeta: testMeta(ns, name), Spec: v1.DeploymentSpec{
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

// A quota counts deployments as count/deployments.apps; a create over it
// is refused and stores nothing. A deployment scales by its resource and
// is deleted with Background propagation by default (apps/v1).
func TestDeploymentQuotaScaleAndDelete(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), quotaObj("default", "q", map[string]string{"count/deployments.apps": "1"}))
	h.create(deployObj("default", "a", 1))
	if got, want := h.used("default", "q"), "count/deployments.apps=1"; !strings.Contains(got, want) {
		t.Errorf("used = %q, want %q", got, want)
	}
	cmd, err := NewCreate(deployObj("default", "b", 1))
	if err != nil {
		t.Fatal(err)
	}
	if res := h.result(cmd); v1.CodeOf(res.Err) != 403 || !strings.Contains(res.Err.Error(), "count/deployments.apps") {
		t.Fatalf("second deployment: %v", res.Err)
	}
	cmd, err = Encode(ScaleCommand, ScaleRequest{Resource: "deployments", Namespace: "default", Name: "a", Replicas: 4})
	if err != nil {
		t.Fatal(err)
	}
	if res := h.result(cmd); res.Err != nil {
		t.Fatalf("scale: %v", res.Err)
	}
	rec, err := h.f.Store().Get("deployments", "default", "a")
	if err != nil {
		t.Fatal(err)
	}
	if d := rec.Object().(*v1.Deployment); *d.Spec.Replicas != 4 || d.Generation != 2 {
		t.Errorf("scaled: replicas %d generation %d", *d.Spec.Replicas, d.Generation)
	}
	r, _ := v1.ResourceByName("deployments")
	if got := DefaultPropagation(r); got != v1.PropagationBackground {
		t.Errorf("default propagation %q", got)
	}
}
