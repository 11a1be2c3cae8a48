package apiserver

import (
	"io"
	"net/http"
	"slices"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A Job is created with a generated selector and an empty status whatever
// the client sent; a delete without a propagation policy orphans its pods
// with Kubernetes' warning, one with orphanDependents: false deletes them.
func TestJobCreateAndDelete(t *testing.T) {
	e := newTestEnv(t)
	const base = "/apis/batch/v1/namespaces/default/jobs"
	newJob := func(name string) *v1.Job {
		return &v1.Job{ObjectMeta: v1.ObjectMeta{Name: name}, Spec: v1.JobSpec{Template: v1.PodTemplateSpec{
			Spec: v1.PodSpec{RestartPolicy: v1.RestartNever, Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}},
			Status: v1.JobStatus{Succeeded: 5, Conditions: []v1.JobCondition{{Type: v1.JobComplete, Status: v1.ConditionTrue}}}}
	}
	got := decode[v1.Job](t, e.expectCode(t, http.StatusCreated, http.MethodPost, base, newJob("a")))
	if got.Status.Succeeded != 0 || len(got.Status.Conditions) != 0 {
		t.Fatalf("a created Job kept the status its client sent: %+v", got.Status)
	}
	if got.Spec.Selector == nil || got.Spec.Selector.MatchLabels[v1.JobControllerUIDLabel] != got.UID ||
		got.Spec.Template.Labels[v1.JobNameLabel] != "a" || got.Labels[v1.JobControllerUIDLabel] != got.UID {
		t.Fatalf("generated selector %v, template labels %v, labels %v", got.Spec.Selector, got.Spec.Template.Labels, got.Labels)
	}
	jobs := map[string]v1.Job{"a": got, "b": decode[v1.Job](t, e.expectCode(t, http.StatusCreated, http.MethodPost, base, newJob("b")))}
	// One unbound pod of each Job.
	yes := true
	for name, j := range jobs {
		p := newPod("pod-"+name, nil)
		p.OwnerReferences = []v1.OwnerReference{{APIVersion: "batch/v1", Kind: "Job", Name: name, UID: j.UID, Controller: &yes}}
		e.expectCode(t, http.StatusCreated, http.MethodPost, "/api/v1/namespaces/default/pods", p)
	}
	cases := []struct {
		name, body string
		warned     bool
		jobCode    int // of a GET of the Job after the delete: an orphaning delete leaves it for the garbage collector
	}{
		{"a", "", true, http.StatusOK},
		{"b", `{"orphanDependents": false}`, false, http.StatusNotFound},
	}
	for _, tc := range cases {
		var body any
		if tc.body != "" {
			body = tc.body
		}
		resp := e.send(t, e.http, http.MethodDelete, base+"/"+tc.name, body)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("delete %s: %d", tc.name, resp.StatusCode)
		}
		if warned := slices.Contains(warningsOf(t, resp), jobDeleteWarning); warned != tc.warned {
			t.Fatalf("delete %s (%q): warned %v, want %v", tc.name, tc.body, warned, tc.warned)
		}
		e.expectCode(t, tc.jobCode, http.MethodGet, base+"/"+tc.name, nil)
	}
}
