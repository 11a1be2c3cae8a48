package sched

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/robfig/cron/v3"

	v1 "orch.io/orch/api/v1"
)

// This file is the pure decision core of the cronjob controller:
// PlanCronJob turns one CronJob, the Jobs of its namespace and the
// leader's clock into a plan, as Kubernetes' cronjob controller (v2):
//
//   - The run due is the most recent schedule time after the last one
//     started (or the CronJob's creation), and no older than
//     startingDeadlineSeconds; earlier missed times are skipped.
//   - Its Job is named "<cronjob>-<scheduled time in minutes>", so a run
//     is created once whatever happens: a new leader that finds the Job
//     of the run due records it instead of creating another, and the
//     status records a run only once its Job exists, so a failover
//     neither skips nor doubles a run.
//   - concurrencyPolicy Forbid waits while a Job is active (the run stays
//     due until its deadline); Replace deletes the active Jobs first.
//   - Finished Jobs beyond successfulJobsHistoryLimit and
//     failedJobsHistoryLimit are deleted, oldest first, with their pods.

// CronPlan is what one sync of a CronJob should do.
type CronPlan struct {
	// Create is the Job of the run due (without uid and creation time),
	// or nil.
	Create *v1.Job
	// Delete lists Jobs to delete with their pods (Replace, history).
	Delete []*v1.Job
	// Status is the CronJob's new status.
	Status v1.CronJobStatus
	// Wake is the next schedule time (zero when suspended).
	Wake time.Time
	// Missed says the run due was not started, and why (Forbid).
	Missed string
}

// PlanCronJob decides one sync of cj at now. jobs are the Jobs of cj's
// namespace. Neither is changed. An error is a schedule or time zone that
// cannot be read.
func PlanCronJob(cj *v1.CronJob, jobs []*v1.Job, now time.Time) (CronPlan, error) {
	var plan CronPlan
	st := v1.CronJobStatus{LastScheduleTime: cj.Status.LastScheduleTime, LastSuccessfulTime: cj.Status.LastSuccessfulTime}
	prior := map[string]v1.ObjectReference{}
	for _, r := range cj.Status.Active {
		prior[r.UID] = r
	}
	var owned, succeeded, failed []*v1.Job
	byName := map[string]*v1.Job{}
	for _, j := range jobs {
		if ref := j.ControllerRef(); j.Namespace != cj.Namespace || ref == nil || ref.UID != cj.UID {
			continue
		}
		owned = append(owned, j)
		byName[j.Name] = j
		switch {
		case v1.JobHasCondition(&j.Status, v1.JobComplete):
			succeeded = append(succeeded, j)
			if ct := j.Status.CompletionTime; ct != nil && (st.LastSuccessfulTime == nil || ct.After(st.LastSuccessfulTime.Time)) {
				t := *ct
				st.LastSuccessfulTime = &t
			}
		case v1.JobHasCondition(&j.Status, v1.JobFailed):
			failed = append(failed, j)
		default:
			ref, ok := prior[j.UID]
			if !ok {
				ref = jobRef(j)
			}
			st.Active = append(st.Active, ref)
		}
	}
	slices.SortFunc(st.Active, func(a, b v1.ObjectReference) int { return cmp.Compare(a.Name, b.Name) })
	plan.Delete = append(plan.Delete, oldestBeyond(succeeded, cj.Spec.SuccessfulJobsHistoryLimit)...)
	plan.Delete = append(plan.Delete, oldestBeyond(failed, cj.Spec.FailedJobsHistoryLimit)...)
	plan.Status = st
	if cj.DeletionTimestamp != nil || (cj.Spec.Suspend != nil && *cj.Spec.Suspend) {
		return plan, nil
	}
	sched, loc, err := v1.CronSchedule(cj)
	if err != nil {
		return plan, err
	}
	earliest := cj.CreationTimestamp.Time
	if st.LastScheduleTime != nil {
		earliest = st.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if from := now.Add(-time.Duration(*d) * time.Second); from.After(earliest) {
			earliest = from
		}
	}
	plan.Wake = sched.Next(now.In(loc))
	due, ok := mostRecentSchedule(sched, earliest.In(loc), now.In(loc))
	if !ok {
		return plan, nil
	}
	name := CronJobName(cj, due)
	if j := byName[name]; j != nil {
		// Created already (by this leader's last pass or another's).
		t := v1.NewTime(due)
		plan.Status.LastScheduleTime = &t
		return plan, nil
	}
	switch cj.Spec.ConcurrencyPolicy {
	case v1.ForbidConcurrent:
		if len(st.Active) > 0 {
			plan.Missed = "Not starting job because prior execution is running and concurrency policy is Forbid"
			return plan, nil
		}
	case v1.ReplaceConcurrent:
		for _, j := range owned {
			if !v1.JobFinished(j) {
				plan.Delete = append(plan.Delete, j)
			}
		}
		plan.Status.Active = nil
	}
	plan.Create = jobFromCronJob(cj, name, due.In(loc))
	t := v1.NewTime(due)
	plan.Status.LastScheduleTime = &t
	return plan, nil
}

// mostRecentSchedule returns the latest schedule time in (earliest, now].
// It searches back from now in doubling steps, so a CronJob that missed
// a year of runs costs a few steps, not a year of them.
func mostRecentSchedule(s cron.Schedule, earliest, now time.Time) (time.Time, bool) {
	if s.Next(earliest).After(now) {
		return time.Time{}, false
	}
	from := earliest
	for d := time.Minute; ; d *= 2 {
		f := now.Add(-d)
		if !f.After(earliest) {
			break
		}
		if !s.Next(f).After(now) {
			from = f
			break
		}
	}
	t := s.Next(from)
	for {
		n := s.Next(t)
		if n.IsZero() || n.After(now) {
			return t, true
		}
		t = n
	}
}

// CronJobName is the name of the Job of cj's run scheduled at t, as
// Kubernetes names it: "<cronjob>-<t in minutes since the epoch>".
func CronJobName(cj *v1.CronJob, t time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, t.Unix()/60)
}

// jobFromCronJob is the Job of cj's run scheduled at t: the template's
// labels, annotations and spec, the scheduled time annotation, and cj as
// its controller.
func jobFromCronJob(cj *v1.CronJob, name string, t time.Time) *v1.Job {
	src := &v1.Job{}
	src.Labels = cj.Spec.JobTemplate.Labels
	src.Annotations = cj.Spec.JobTemplate.Annotations
	src.Spec = cj.Spec.JobTemplate.Spec
	j := v1.DeepCopy(src) // shares nothing with the stored CronJob
	v1.SetTypeMeta(j)
	j.Name, j.Namespace = name, cj.Namespace
	if j.Annotations == nil {
		j.Annotations = map[string]string{}
	}
	j.Annotations[v1.CronJobScheduledTimestampAnnotation] = t.Format(time.RFC3339)
	yes := true
	j.OwnerReferences = []v1.OwnerReference{{APIVersion: v1.BatchGroup + "/" + v1.APIVersion, Kind: "CronJob",
		Name: cj.Name, UID: cj.UID, Controller: &yes, BlockOwnerDeletion: &yes}}
	return j
}

// jobRef is the reference to a Job in a CronJob's status.active.
func jobRef(j *v1.Job) v1.ObjectReference {
	return v1.ObjectReference{Kind: "Job", Namespace: j.Namespace, Name: j.Name, UID: j.UID,
		APIVersion: v1.BatchGroup + "/" + v1.APIVersion, ResourceVersion: j.ResourceVersion}
}

// oldestBeyond returns the finished Jobs beyond limit (nil: none), the
// oldest (by start, then creation) first.
func oldestBeyond(jobs []*v1.Job, limit *int32) []*v1.Job {
	if limit == nil || len(jobs) <= int(*limit) {
		return nil
	}
	sorted := slices.Clone(jobs)
	slices.SortFunc(sorted, func(a, b *v1.Job) int {
		return cmp.Or(jobStart(a).Compare(jobStart(b)), cmp.Compare(a.Name, b.Name))
	})
	return sorted[:len(sorted)-int(*limit)]
}

// jobStart is a Job's startTime, else its creation time.
func jobStart(j *v1.Job) time.Time {
	if j.Status.StartTime != nil {
		return j.Status.StartTime.Time
	}
	return j.CreationTimestamp.Time
}
