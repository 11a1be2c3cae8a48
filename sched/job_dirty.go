package sched

import (
	"context"
	"fmt"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// pass is one pass of Run. A full pass plans every Job (Pass); a woken one
// only when Resync has passed since the last full pass. Otherwise the pass
// plans the Jobs its changes concern and those whose time came.
//
// Cost per event: a pod event costs O(pods of its Job): the Job by uid,
// its pods by the owner index and the orphans it may adopt; an orphan pod's event also reads the Jobs of its namespace to
// match their selectors (O(Jobs in the namespace), as Kubernetes'
// getPodJobs). A Job event costs O(pods of the Job).
func (c *JobController) pass(ctx context.Context, s *fsm.Store, ch changes) error {
	if err := c.pods.Sync(s); err != nil {
		return err
	}
	now := c.cfg.Now()
	if ch.full && (!ch.woken || c.lastFull.IsZero() || now.Sub(c.lastFull) >= c.cfg.Resync) {
		c.lastFull = now
		return c.Pass(ctx, s)
	}
	dirty := c.due.take(now)
	inNS := map[string][]*v1.Job{}
	for _, ev := range ch.events {
		if err := c.dirtyFrom(s, ev, dirty, inNS); err != nil {
			return err
		}
	}
	jobs, err := getKeys[*v1.Job](s, "jobs", dirty)
	if err != nil {
		return err
	}
	if len(jobs) == 0 {
		return nil
	}
	return c.sync(ctx, jobs, func(j *v1.Job) ([]*v1.Pod, error) { return c.podsOf(s, j) })
}

// jobKind finds the Jobs a pod's change concerns.
var jobKind = controllerKind[*v1.Job]{kind: "Job", resource: "jobs", selector: jobSelector}

// dirtyFrom adds to dirty the keys of the Jobs ev concerns: a Job's own
// change; for a pod, before and after the change, its controller, or when
// it has none the Jobs of its namespace whose selector matches it.
func (c *JobController) dirtyFrom(s *fsm.Store, ev fsm.Event, dirty map[string]bool, inNS map[string][]*v1.Job) error {
	switch ev.Resource {
	case "jobs":
		m := &ev.Record.Summary().Meta
		dirty[v1.Key(m.Namespace, m.Name)] = true
		delete(inNS, m.Namespace)
		if ev.Type == v1.Deleted {
			key := ExpectationsKey(m.Namespace, m.Name, m.UID)
			c.exp.Forget(key)
			c.backoff.forget(key)
		}
	case "pods":
		for _, r := range []*fsm.Record{ev.Record, ev.Prev} {
			if r == nil {
				continue
			}
			if err := jobKind.dirtyByDependent(s, &r.Summary().Meta, true, dirty, inNS); err != nil {
				return fmt.Errorf("pod: %w", err)
			}
		}
	}
	return nil
}

// podsOf returns the pods j is planned against: those it controls (owner
// index) and the orphans its selector matches (orphansMatching).
func (c *JobController) podsOf(s *fsm.Store, j *v1.Job) ([]*v1.Pod, error) {
	// A finished Job adopts nothing.
	return ownedPods(s, c.pods, j.UID, j.Namespace, jobSelector(j), !v1.JobFinished(j))
}

// scheduleJob records when j must be synced again without a change, or
// that it need not be: the earliest of its plan's wake (a deadline, a time
// to live), its back-off's end and its expectations' timeout, after now.
func (c *JobController) scheduleJob(j *v1.Job, wake, now time.Time) {
	key := ExpectationsKey(j.Namespace, j.Name, j.UID)
	var at time.Time
	consider := func(t time.Time, ok bool) {
		if ok && t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	consider(wake, !wake.IsZero())
	consider(c.backoff.retryAt(key))
	consider(c.exp.Expiry(key))
	c.due.set(v1.Key(j.Namespace, j.Name), at)
}
