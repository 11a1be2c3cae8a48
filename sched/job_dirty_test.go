package sched

import (
	"context"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// finishOnePod marks the first running pod of the Job uid Succeeded.
func finishOnePod(t *testing.T, p *fakeProposer, uid string) {
	t.Helper()
	for _, pod := range jobPodsIn(t, p, uid) {
		if pod.Status.Phase == v1.PodSucceeded || pod.Status.Phase == v1.PodFailed {
			continue
		}
		q := v1.DeepCopy(pod)
		q.Status.Phase = v1.PodSucceeded
		q.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "c", State: v1.ContainerState{
			Terminated: &v1.ContainerStateTerminated{FinishedAt: v1.NewTime(jobT0)}}}}
		cmd, err := fsm.NewUpdate(q, true)
		p.apply(t, cmd, err)
		return
	}
	t.Fatal("no running pod to finish")
}

// A Job run to completion by incremental passes only: each finished pod
// is counted and replaced until completions are reached.
func TestJobIncrementalPasses(t *testing.T) {
	p := newFakeProposer(t)
	now := jobT0
	c := NewJobController(JobConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
	j := testJob(func(j *v1.Job) { j.Spec.Completions, j.Spec.Parallelism = ptrTo(int32(3)), ptrTo(int32(2)) })
	p.create(t, j)
	ctx := context.Background()
	if err := c.pass(ctx, p.store(), changes{full: true}); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		seen := p.store().Index()
		finishOnePod(t, p, j.UID)
		if err := c.pass(ctx, p.store(), changesSince(t, p.store(), seen)); err != nil {
			t.Fatal(err)
		}
		if got := storedJob(t, p, "pi").Status.Succeeded; got != int32(i+1) {
			t.Fatalf("succeeded %d after %d pods finished", got, i+1)
		}
	}
	// The status write of the last pass is the next pass's change.
	seen := p.store().Index() - 1
	if err := c.pass(ctx, p.store(), changesSince(t, p.store(), seen)); err != nil {
		t.Fatal(err)
	}
	if cond := jobCondition(storedJob(t, p, "pi").Status.Conditions, v1.JobComplete); cond == nil {
		t.Fatalf("no Complete condition: %+v", storedJob(t, p, "pi").Status)
	}
	if n := len(jobPodsIn(t, p, j.UID)); n != 3 {
		t.Fatalf("%d pods, want 3", n)
	}
}

func TestJobChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p, s, ctx := e.p, e.store(), context.Background()
		now := jobT0
		j := testJob(func(j *v1.Job) {
			j.Name, j.UID = "job-cost", "uid-job-cost"
			j.Spec.Completions, j.Spec.Parallelism = ptrTo(int32(3)), ptrTo(int32(2))
		})
		if _, err := s.Get("jobs", "default", j.Name); v1.IsNotFound(err) {
			p.create(t, j)
		}
		c := NewJobController(JobConfig{Store: p.store, Proposer: p, Pods: e.pods, Now: func() time.Time { return now }})
		if err := c.pass(ctx, s, changes{full: true}); err != nil {
			t.Fatal(err)
		}
		seen := s.Index()
		finishOnePod(t, p, j.UID)
		ch := changesSince(t, s, seen)
		reads := readsOf(s, func() {
			if err := c.pass(ctx, s, ch); err != nil {
				t.Fatal(err)
			}
		})
		if n := len(jobPodsIn(t, p, j.UID)); n != 3 {
			t.Fatalf("%d pods after one finished, want 3", n)
		}
		return reads
	})
}
