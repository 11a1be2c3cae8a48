package sched

import (
	"context"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// A pod change costs the CronJob controller nothing: it plans from
// CronJobs and Jobs, so a pass whose events are all of pods is skipped.
func TestCronJobChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p, s, ctx := e.p, e.store(), context.Background()
		now := cronT0
		if _, err := s.Get("cronjobs", "default", "cj-cost"); v1.IsNotFound(err) {
			p.create(t, testCronJob(func(cj *v1.CronJob) { cj.Name, cj.UID = "cj-cost", "uid-cj-cost" }))
		}
		c := NewCronJobController(CronJobConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
		if err := c.pass(ctx, s, changes{full: true}); err != nil {
			t.Fatal(err)
		}
		seen := s.Index()
		pod := pendingPod("cj-cost-pod", "1m")
		if _, err := s.Get("pods", "default", pod.Name); err == nil {
			p.remove(t, "pods", pod.Name, ptrTo(int64(0)))
		} else {
			p.create(t, pod)
		}
		ch := changesSince(t, s, seen)
		reads := readsOf(s, func() {
			if err := c.pass(ctx, s, ch); err != nil {
				t.Fatal(err)
			}
		})
		if reads != 0 {
			t.Fatalf("a pass after a pod change read %d records, want none", reads)
		}
		return reads
	})
}
