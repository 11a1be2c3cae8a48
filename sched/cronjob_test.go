package sched

import (
	"context"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

var cronT0 = time.Date(2026, 3, 1, 10, 0, 30, 0, time.UTC)

func testCronJob(change func(cj *v1.CronJob)) *v1.CronJob {
	utc := "UTC"
	cj := &v1.CronJob{ObjectMeta: v1.ObjectMeta{Name: "tick", Namespace: "default", UID: "uid-cj",
		CreationTimestamp: v1.NewTime(cronT0)},
		Spec: v1.CronJobSpec{Schedule: "*/5 * * * *", TimeZone: &utc, JobTemplate: v1.JobTemplateSpec{
			ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "tick"}},
			Spec: v1.JobSpec{Template: v1.PodTemplateSpec{Spec: v1.PodSpec{RestartPolicy: v1.RestartNever,
				Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}}}}
	if change != nil {
		change(cj)
	}
	v1.Default(cj)
	return cj
}

// cronJobRun is a Job of cj's run at t, finished with cond ("" running).
func cronJobRun(cj *v1.CronJob, t time.Time, cond string) *v1.Job {
	j := jobFromCronJob(cj, CronJobName(cj, t), t)
	j.UID = "uid-" + j.Name
	j.CreationTimestamp = v1.NewTime(t)
	start := v1.NewTime(t)
	j.Status.StartTime = &start
	if cond != "" {
		j.Status.Conditions = []v1.JobCondition{{Type: cond, Status: v1.ConditionTrue}}
		if cond == v1.JobComplete {
			end := v1.NewTime(t.Add(time.Minute))
			j.Status.CompletionTime = &end
		}
	}
	return j
}

func TestPlanCronJob(t *testing.T) {
	at := func(h, m int) time.Time { return time.Date(2026, 3, 1, h, m, 0, 0, time.UTC) }
	cases := []struct {
		name     string
		cj       func(cj *v1.CronJob)
		jobs     func(cj *v1.CronJob) []*v1.Job
		now      time.Time
		create   time.Time // zero: none
		deletes  int
		active   int
		last     time.Time
		missed   bool
		wakeZero bool
	}{
		{"nothing due yet", nil, nil, at(10, 4), time.Time{}, 0, 0, time.Time{}, false, false},
		{"first run due", nil, nil, at(10, 5).Add(3 * time.Second), at(10, 5), 0, 1, at(10, 5), false, false},
		{"only the latest missed run", nil, nil, at(12, 7), at(12, 5), 0, 1, at(12, 5), false, false},
		{"missed a year: still the latest", nil, nil, at(10, 7).AddDate(1, 0, 0), at(10, 5).AddDate(1, 0, 0), 0, 1, at(10, 5).AddDate(1, 0, 0), false, false},
		{"run already created: recorded, not doubled", nil, func(cj *v1.CronJob) []*v1.Job {
			return []*v1.Job{cronJobRun(cj, at(10, 5), "")}
		}, at(10, 6), time.Time{}, 0, 1, at(10, 5), false, false},
		{"starting deadline passed", func(cj *v1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptrTo(int64(30)) }, nil,
			at(10, 6), time.Time{}, 0, 0, time.Time{}, false, false},
		{"within the starting deadline", func(cj *v1.CronJob) { cj.Spec.StartingDeadlineSeconds = ptrTo(int64(90)) }, nil,
			at(10, 6), at(10, 5), 0, 1, at(10, 5), false, false},
		{"forbid while active", func(cj *v1.CronJob) {
			cj.Spec.ConcurrencyPolicy = v1.ForbidConcurrent
			cj.Status.LastScheduleTime = ptrTo(v1.NewTime(at(10, 5)))
		}, func(cj *v1.CronJob) []*v1.Job { return []*v1.Job{cronJobRun(cj, at(10, 5), "")} },
			at(10, 10), time.Time{}, 0, 1, at(10, 5), true, false},
		{"allow runs side by side", func(cj *v1.CronJob) { cj.Status.LastScheduleTime = ptrTo(v1.NewTime(at(10, 5))) },
			func(cj *v1.CronJob) []*v1.Job { return []*v1.Job{cronJobRun(cj, at(10, 5), "")} },
			at(10, 10), at(10, 10), 0, 2, at(10, 10), false, false},
		{"replace deletes the active run", func(cj *v1.CronJob) {
			cj.Spec.ConcurrencyPolicy = v1.ReplaceConcurrent
			cj.Status.LastScheduleTime = ptrTo(v1.NewTime(at(10, 5)))
		}, func(cj *v1.CronJob) []*v1.Job { return []*v1.Job{cronJobRun(cj, at(10, 5), "")} },
			at(10, 10), at(10, 10), 1, 1, at(10, 10), false, false},
		{"suspended", func(cj *v1.CronJob) { cj.Spec.Suspend = ptrTo(true) }, nil, at(10, 10), time.Time{}, 0, 0, time.Time{}, false, true},
		{"history limits", func(cj *v1.CronJob) {
			cj.Spec.SuccessfulJobsHistoryLimit = ptrTo(int32(1))
			cj.Status.LastScheduleTime = ptrTo(v1.NewTime(at(10, 25)))
		}, func(cj *v1.CronJob) []*v1.Job {
			return []*v1.Job{cronJobRun(cj, at(10, 5), v1.JobComplete), cronJobRun(cj, at(10, 10), v1.JobComplete),
				cronJobRun(cj, at(10, 15), v1.JobFailed), cronJobRun(cj, at(10, 20), v1.JobFailed), cronJobRun(cj, at(10, 25), v1.JobComplete)}
		}, at(10, 26), time.Time{}, 3, 0, at(10, 25), false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cj := testCronJob(tc.cj)
			var jobs []*v1.Job
			if tc.jobs != nil {
				jobs = tc.jobs(cj)
			}
			plan, err := PlanCronJob(cj, jobs, tc.now)
			if err != nil {
				t.Fatal(err)
			}
			var created time.Time
			if plan.Create != nil {
				created, _ = time.Parse(time.RFC3339, plan.Create.Annotations[v1.CronJobScheduledTimestampAnnotation])
				if plan.Create.Name != CronJobName(cj, created) || plan.Create.Labels["app"] != "tick" {
					t.Fatalf("job %+v", plan.Create.ObjectMeta)
				}
			}
			active := len(plan.Status.Active)
			if plan.Create != nil {
				active++ // the loop adds the created Job's reference
			}
			var last time.Time
			if plan.Status.LastScheduleTime != nil {
				last = plan.Status.LastScheduleTime.Time
			}
			if !created.Equal(tc.create) || len(plan.Delete) != tc.deletes || active != tc.active || !last.Equal(tc.last) ||
				(plan.Missed != "") != tc.missed || plan.Wake.IsZero() != tc.wakeZero {
				t.Fatalf("plan: create %v deletes %d active %d last %v missed %q wake %v", created, len(plan.Delete), active, last, plan.Missed, plan.Wake)
			}
		})
	}
}

func TestMostRecentScheduleTimeZone(t *testing.T) {
	s, err := cron.ParseStandard("0 9 * * *")
	if err != nil {
		t.Fatal(err)
	}
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 2, 1, 0, 0, 0, time.UTC) // 10:00 in Tokyo
	got, ok := mostRecentSchedule(s, now.Add(-48*time.Hour).In(tokyo), now.In(tokyo))
	if want := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC); !ok || !got.Equal(want) {
		t.Fatalf("most recent 09:00 Tokyo = %v, %v; want %v", got, ok, want)
	}
}

// A new leader that took over after the Job of a run was created, but
// before the status recorded it, records that Job: the run is neither
// skipped nor doubled.
func TestCronJobPassFailoverNeitherSkipsNorDoubles(t *testing.T) {
	p := newFakeProposer(t)
	now := time.Date(2026, 3, 1, 10, 5, 2, 0, time.UTC)
	cj := testCronJob(nil)
	p.create(t, cj)
	// The old leader's entry: the Job of the 10:05 run, no status.
	j := jobFromCronJob(cj, CronJobName(cj, now.Truncate(time.Minute)), now.Truncate(time.Minute))
	j.UID = "uid-run"
	j.CreationTimestamp = v1.NewTime(now)
	v1.Default(j)
	p.create(t, j)
	c := NewCronJobController(CronJobConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
	for range 2 {
		if err := c.Pass(context.Background(), p.store()); err != nil {
			t.Fatal(err)
		}
	}
	l, err := p.store().List("jobs", fsm.ListOptions{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Items) != 1 {
		t.Fatalf("%d jobs, want the one run", len(l.Items))
	}
	rec, err := p.store().Get("cronjobs", "default", "tick")
	if err != nil {
		t.Fatal(err)
	}
	st := rec.Object().(*v1.CronJob).Status
	if st.LastScheduleTime == nil || !st.LastScheduleTime.Equal(now.Truncate(time.Minute)) || len(st.Active) != 1 || st.Active[0].UID != "uid-run" {
		t.Fatalf("status %+v", st)
	}
	// The next run is created at its time, once.
	now = now.Add(5 * time.Minute)
	for range 2 {
		if err := c.Pass(context.Background(), p.store()); err != nil {
			t.Fatal(err)
		}
	}
	l, _ = p.store().List("jobs", fsm.ListOptions{Namespace: "default"})
	if len(l.Items) != 2 {
		t.Fatalf("%d jobs after the second run, want 2", len(l.Items))
	}
	created := l.Items[1].Object().(*v1.Job)
	if created.Spec.Selector == nil || created.Labels["app"] != "tick" || created.ControllerRef() == nil {
		t.Fatalf("created job %+v", created.ObjectMeta)
	}
}
