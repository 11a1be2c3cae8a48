package fsm

import (
	"testing"

	v1 "orch.io/orch/api/v1"
)

func jobObj(ns, name string) *v1.Job {
	j := &v1.Job{ObjectMeta: testMeta(ns, name), Spec: v1.JobSpec{Template: v1.PodTemplateSpec{
		Spec: v1.PodSpec{RestartPolicy: v1.RestartNever, Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}}
	v1.Default(j)
	return j
}

func jobPodObj(j *v1.Job, name, node string) *v1.Pod {
	p := podObj(j.Namespace, name, nil)
	p.Spec.NodeName = node
	yes := true
	p.OwnerReferences = []v1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: j.Name, UID: j.UID, Controller: &yes}}
	return p
}

// A Job's delete follows the garbage collector's rules: batch/v1 orphans
// by default (the orphan finalizer holds the Job until the collector has
// released its pods), Foreground holds it with foregroundDeletion,
// Background removes it at once and leaves its pods to the collector. The
// FSM itself touches no pod.
func TestDeleteJobPropagation(t *testing.T) {
	cases := []struct {
		propagation string
		finalizer   string // "" if the Job is removed at once
	}{
		{"", v1.FinalizerOrphanDependents}, // batch/v1's default
		{v1.PropagationOrphan, v1.FinalizerOrphanDependents},
		{v1.PropagationBackground, ""},
		{v1.PropagationForeground, v1.FinalizerDeleteDependents},
	}
	for _, tc := range cases {
		t.Run("propagation="+tc.propagation, func(t *testing.T) {
			h := newHarness(t)
			j := jobObj("default", "pi")
			h.create(nsObj("default"), nodeObj("n1"), j)
			h.create(jobPodObj(j, "a", ""), jobPodObj(j, "b", "n1"))
			pods := []*Record{h.get("pods", "default", "a"), h.get("pods", "default", "b")}
			if res := h.del(DeleteRequest{Resource: "jobs", Namespace: "default", Name: "pi", Propagation: tc.propagation}); res.Err != nil {
				t.Fatal(res.Err)
			}
			if tc.finalizer == "" {
				h.gone("jobs", "default", "pi")
			} else {
				got := h.get("jobs", "default", "pi").Object().(*v1.Job)
				if got.DeletionTimestamp == nil || len(got.Finalizers) != 1 || got.Finalizers[0] != tc.finalizer {
					t.Errorf("job: deletionTimestamp %v, finalizers %v, want %s", got.DeletionTimestamp, got.Finalizers, tc.finalizer)
				}
			}
			for i, n := range []string{"a", "b"} {
				if h.get("pods", "default", n) != pods[i] {
					t.Errorf("pod %s changed by the Job's delete", n)
				}
			}
		})
	}
}

func TestUpdateJobKeepsImmutableFields(t *testing.T) {
	h := newHarness(t)
	j := jobObj("default", "pi")
	h.create(nsObj("default"), j)
	stored := h.get("jobs", "default", "pi").Object().(*v1.Job)
	cases := []struct {
		name   string
		change func(j *v1.Job)
		field  string
	}{
		{"template", func(j *v1.Job) { j.Spec.Template.Spec.Containers[0].Image = "other" }, "spec.template"},
		{"selector", func(j *v1.Job) { j.Spec.Selector.MatchLabels["x"] = "y" }, "spec.selector"},
		{"completionMode", func(j *v1.Job) { m := v1.IndexedCompletion; j.Spec.CompletionMode = &m }, "spec.completionMode"},
		{"parallelism may change", func(j *v1.Job) { p := int32(5); j.Spec.Parallelism = &p }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			next := v1.DeepCopy(stored)
			next.ResourceVersion = ""
			tc.change(next)
			res := h.update(next, false)
			if tc.field == "" {
				if res.Err != nil {
					t.Fatalf("update refused: %v", res.Err)
				}
				return
			}
			if v1.CodeOf(res.Err) != 422 || !containsCause(res.Err, tc.field) {
				t.Fatalf("got %v, want 422 on %s", res.Err, tc.field)
			}
		})
	}
}

// containsCause reports whether err is a Status naming field in a cause.
func containsCause(err error, field string) bool {
	se, ok := err.(*v1.StatusError)
	if !ok || se.Status.Details == nil {
		return false
	}
	for _, c := range se.Status.Details.Causes {
		if c.Field == field {
			return true
		}
	}
	return false
}
