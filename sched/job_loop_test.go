package sched

import (
	"context"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// jobPodsIn returns the pods of the Job with uid in the store.
func jobPodsIn(t *testing.T, p *fakeProposer, uid string) []*v1.Pod {
	t.Helper()
	l, err := p.store().List("pods", fsm.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	var out []*v1.Pod
	for _, r := range l.Items {
		pod := r.Object().(*v1.Pod)
		if ref := pod.ControllerRef(); ref != nil && ref.UID == uid {
			out = append(out, pod)
		}
	}
	return out
}

// finishPods sets every running pod of the Job to phase, finished at fin.
func finishPods(t *testing.T, p *fakeProposer, uid, phase string, fin time.Time) int {
	t.Helper()
	n := 0
	for _, pod := range jobPodsIn(t, p, uid) {
		if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
			continue
		}
		q := v1.DeepCopy(pod)
		code := int32(0)
		if phase == v1.PodFailed {
			code = 7
		}
		q.Status.Phase = phase
		q.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "c", State: v1.ContainerState{
			Terminated: &v1.ContainerStateTerminated{ExitCode: code, FinishedAt: v1.NewTime(fin)}}}}
		cmd, err := fsm.NewUpdate(q, true)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Apply(context.Background(), cmd); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func storedJob(t *testing.T, p *fakeProposer, name string) *v1.Job {
	t.Helper()
	rec, err := p.store().Get("jobs", "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Object().(*v1.Job)
}

func TestJobPassRunsToCompletionThenTTL(t *testing.T) {
	p := newFakeProposer(t)
	now := jobT0
	c := NewJobController(JobConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
	j := testJob(func(j *v1.Job) {
		j.Spec.Completions, j.Spec.Parallelism = ptrTo(int32(3)), ptrTo(int32(2))
		j.Spec.TTLSecondsAfterFinished = ptrTo(int32(60))
	})
	p.create(t, j)
	ctx := context.Background()
	pass := func() {
		t.Helper()
		if err := c.Pass(ctx, p.store()); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	if n := len(jobPodsIn(t, p, j.UID)); n != 2 {
		t.Fatalf("%d pods after the first pass, want 2", n)
	}
	if st := storedJob(t, p, "pi").Status; st.Active != 2 || st.StartTime == nil || !st.StartTime.Equal(now) {
		t.Fatalf("status %+v", st)
	}
	now = now.Add(time.Second)
	finishPods(t, p, j.UID, v1.PodSucceeded, now)
	pass()
	if n := len(jobPodsIn(t, p, j.UID)); n != 3 {
		t.Fatalf("%d pods after two successes, want 3", n)
	}
	now = now.Add(time.Second)
	finishPods(t, p, j.UID, v1.PodSucceeded, now)
	pass()
	got := storedJob(t, p, "pi")
	if !v1.JobHasCondition(&got.Status, v1.JobComplete) || got.Status.Succeeded != 3 || got.Status.Active != 0 ||
		got.Status.CompletionTime == nil || !got.Status.CompletionTime.Equal(now) {
		t.Fatalf("status after three successes %+v", got.Status)
	}
	// Settled: a pass writes nothing.
	before := p.store().Index()
	pass()
	if after := p.store().Index(); after != before {
		t.Fatalf("a settled pass wrote (index %d -> %d)", before, after)
	}
	// The time to live deletes the Job.
	now = now.Add(59 * time.Second)
	pass()
	storedJob(t, p, "pi")
	now = now.Add(time.Second)
	pass()
	if _, err := p.store().Get("jobs", "default", "pi"); !v1.IsNotFound(err) {
		t.Fatalf("job after its ttl: %v", err)
	}
	// Deleted with Background propagation: its pods are the garbage
	// collector's (the FSM removes the Job alone).
	if n := len(jobPodsIn(t, p, j.UID)); n != 3 {
		t.Fatalf("%d pods of the deleted job, want its 3 for the garbage collector", n)
	}
}

func TestJobPassBacksOffThenFails(t *testing.T) {
	p := newFakeProposer(t)
	now := jobT0
	c := NewJobController(JobConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
	j := testJob(func(j *v1.Job) { j.Spec.BackoffLimit = ptrTo(int32(1)) })
	p.create(t, j)
	ctx := context.Background()
	if err := c.Pass(ctx, p.store()); err != nil {
		t.Fatal(err)
	}
	finishPods(t, p, j.UID, v1.PodFailed, now)
	if err := c.Pass(ctx, p.store()); err != nil {
		t.Fatal(err)
	}
	if n := len(jobPodsIn(t, p, j.UID)); n != 1 {
		t.Fatalf("%d pods during the back-off, want the failed one only", n)
	}
	wake, _ := c.due.next()
	if !wake.Equal(now.Add(JobBackoffBase)) {
		t.Fatalf("wake at %v, want the back-off's end %v", wake, now.Add(JobBackoffBase))
	}
	now = now.Add(JobBackoffBase)
	if err := c.Pass(ctx, p.store()); err != nil {
		t.Fatal(err)
	}
	if n := len(jobPodsIn(t, p, j.UID)); n != 2 {
		t.Fatalf("%d pods after the back-off, want 2", n)
	}
	finishPods(t, p, j.UID, v1.PodFailed, now)
	if err := c.Pass(ctx, p.store()); err != nil {
		t.Fatal(err)
	}
	got := storedJob(t, p, "pi")
	cond := jobCondition(got.Status.Conditions, v1.JobFailed)
	if cond == nil || cond.Reason != JobReasonBackoffLimitExceeded || got.Status.Failed != 2 {
		t.Fatalf("status after two failures %+v", got.Status)
	}
}
