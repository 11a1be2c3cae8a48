package fsm

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

func dsObj(ns, name string) *v1.DaemonSet {
	ds := &v1.DaemonSet{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: ns, UID: "uid-" + name},
		Spec: v1.DaemonSetSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}}
	v1.Default(ds)
	return ds
}

// A quota counts daemon sets as count/daemonsets.apps; a create over it
// is refused and stores nothing.
func TestQuotaCountsDaemonSets(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), quotaObj("default", "q", map[string]string{"count/daemonsets.apps": "1"}))
	h.create(dsObj("default", "a"))
	if got, want := h.used("default", "q"), "count/daemonsets.apps=1"; got != want {
		t.Errorf("used = %q, want %q", got, want)
	}
	cmd, err := NewCreate(dsObj("default", "b"))
	if err != nil {
		t.Fatal(err)
	}
	res := h.result(cmd)
	if v1.CodeOf(res.Err) != 403 || !strings.Contains(res.Err.Error(), "exceeded quota: q") || !strings.Contains(res.Err.Error(), "count/daemonsets.apps") {
		t.Fatalf("second daemon set: %v", res.Err)
	}
	if _, err := h.f.Store().Get("daemonsets", "default", "b"); !v1.IsNotFound(err) {
		t.Errorf("the refused daemon set is stored: %v", err)
	}
}
