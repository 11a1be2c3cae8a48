package sched

import (
	"slices"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

var jobT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func ptrTo[T any](v T) *T { return &v }

// testJob is a defaulted Job with a generated selector.
func testJob(change func(j *v1.Job)) *v1.Job {
	j := &v1.Job{ObjectMeta: v1.ObjectMeta{Name: "pi", Namespace: "default", UID: "uid-job"},
		Spec: v1.JobSpec{Template: v1.PodTemplateSpec{Spec: v1.PodSpec{RestartPolicy: v1.RestartNever,
			Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}}}
	if change != nil {
		change(j)
	}
	v1.Default(j)
	return j
}

// jobPod is a pod of j in phase (Running, Succeeded or Failed), finished at
// fin (Succeeded, Failed), with index idx (>= 0) for an Indexed Job.
func jobPod(j *v1.Job, name, phase string, idx int, fin time.Time) *v1.Pod {
	p := PodFromJobTemplate(j, idx)
	p.Name, p.UID = name, "uid-"+name
	p.CreationTimestamp = v1.NewTime(jobT0)
	p.Status.Phase = phase
	if phase == v1.PodSucceeded || phase == v1.PodFailed {
		code := int32(0)
		if phase == v1.PodFailed {
			code = 1
		}
		p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "c", State: v1.ContainerState{
			Terminated: &v1.ContainerStateTerminated{ExitCode: code, FinishedAt: v1.NewTime(fin)}}}}
	}
	return p
}

func TestPlanJob(t *testing.T) {
	now := jobT0.Add(time.Hour)
	type want struct {
		create     []int
		deletes    int
		conds      []string // condition types that are True
		succeeded  int32
		failed     int32
		completed  string
		wake       time.Time
		deleteJob  bool
		skip       bool
		startReset bool
	}
	cases := []struct {
		name string
		job  func(j *v1.Job)
		pods func(j *v1.Job) []*v1.Pod
		want want
	}{
		{"new job creates parallelism pods", func(j *v1.Job) { j.Spec.Completions, j.Spec.Parallelism = ptrTo(int32(3)), ptrTo(int32(2)) },
			nil, want{create: []int{-1, -1}}},
		{"creates no more than completions missing", func(j *v1.Job) { j.Spec.Completions, j.Spec.Parallelism = ptrTo(int32(3)), ptrTo(int32(2)) },
			func(j *v1.Job) []*v1.Pod {
				return []*v1.Pod{jobPod(j, "a", v1.PodSucceeded, -1, jobT0), jobPod(j, "b", v1.PodSucceeded, -1, jobT0), jobPod(j, "c", v1.PodRunning, -1, jobT0)}
			}, want{succeeded: 2}},
		{"completes with completions successes", func(j *v1.Job) { j.Spec.Completions, j.Spec.Parallelism = ptrTo(int32(2)), ptrTo(int32(2)) },
			func(j *v1.Job) []*v1.Pod {
				return []*v1.Pod{jobPod(j, "a", v1.PodSucceeded, -1, jobT0), jobPod(j, "b", v1.PodSucceeded, -1, jobT0)}
			}, want{succeeded: 2, conds: []string{v1.JobSuccessCriteriaMet, v1.JobComplete}}},
		{"completions unset: one success stops creates", func(j *v1.Job) { j.Spec.Parallelism = ptrTo(int32(3)) },
			func(j *v1.Job) []*v1.Pod {
				return []*v1.Pod{jobPod(j, "a", v1.PodSucceeded, -1, jobT0), jobPod(j, "b", v1.PodRunning, -1, jobT0)}
			}, want{succeeded: 1}},
		{"completions unset: complete once the others finished", func(j *v1.Job) { j.Spec.Parallelism = ptrTo(int32(3)) },
			func(j *v1.Job) []*v1.Pod {
				return []*v1.Pod{jobPod(j, "a", v1.PodSucceeded, -1, jobT0), jobPod(j, "b", v1.PodFailed, -1, jobT0)}
			}, want{succeeded: 1, failed: 1, conds: []string{v1.JobSuccessCriteriaMet, v1.JobComplete}}},
		{"back-off after a failure", nil,
			func(j *v1.Job) []*v1.Pod { return []*v1.Pod{jobPod(j, "a", v1.PodFailed, -1, now.Add(-5*time.Second))} },
			want{failed: 1, wake: now.Add(5 * time.Second)}},
		{"back-off doubles", nil,
			func(j *v1.Job) []*v1.Pod {
				return []*v1.Pod{jobPod(j, "a", v1.PodFailed, -1, now.Add(-time.Minute)), jobPod(j, "b", v1.PodFailed, -1, now.Add(-15*time.Second))}
			}, want{failed: 2, wake: now.Add(5 * time.Second)}},
		{"back-off over", nil,
			func(j *v1.Job) []*v1.Pod {
				return []*v1.Pod{jobPod(j, "a", v1.PodFailed, -1, now.Add(-10*time.Second))}
			},
			want{failed: 1, create: []int{-1}}},
		{"backoff limit exceeded", func(j *v1.Job) { j.Spec.BackoffLimit = ptrTo(int32(1)) },
			func(j *v1.Job) []*v1.Pod {
				return []*v1.Pod{jobPod(j, "a", v1.PodFailed, -1, jobT0), jobPod(j, "b", v1.PodFailed, -1, jobT0)}
			}, want{failed: 2, conds: []string{v1.JobFailureTarget, v1.JobFailed}}},
		{"failure deletes active pods first", func(j *v1.Job) {
			j.Spec.BackoffLimit = ptrTo(int32(0))
			j.Spec.Parallelism = ptrTo(int32(2))
		}, func(j *v1.Job) []*v1.Pod {
			return []*v1.Pod{jobPod(j, "a", v1.PodFailed, -1, jobT0), jobPod(j, "b", v1.PodRunning, -1, jobT0)}
		}, want{failed: 1, deletes: 1, conds: []string{v1.JobFailureTarget}}},
		{"OnFailure restarts count", func(j *v1.Job) {
			j.Spec.BackoffLimit = ptrTo(int32(2))
			j.Spec.Template.Spec.RestartPolicy = v1.RestartOnFailure
		}, func(j *v1.Job) []*v1.Pod {
			p := jobPod(j, "a", v1.PodRunning, -1, jobT0)
			p.Status.ContainerStatuses = []v1.ContainerStatus{{Name: "c", RestartCount: 2}}
			return []*v1.Pod{p}
		}, want{deletes: 1, conds: []string{v1.JobFailureTarget}}},
		{"deadline exceeded", func(j *v1.Job) {
			j.Spec.ActiveDeadlineSeconds = ptrTo(int64(60))
			j.Status.StartTime = ptrTo(v1.NewTime(now.Add(-time.Minute)))
		}, func(j *v1.Job) []*v1.Pod { return []*v1.Pod{jobPod(j, "a", v1.PodRunning, -1, jobT0)} },
			want{deletes: 1, conds: []string{v1.JobFailureTarget}}},
		{"deadline ahead wakes", func(j *v1.Job) {
			j.Spec.ActiveDeadlineSeconds = ptrTo(int64(60))
			j.Status.StartTime = ptrTo(v1.NewTime(now.Add(-time.Second)))
		}, func(j *v1.Job) []*v1.Pod { return []*v1.Pod{jobPod(j, "a", v1.PodRunning, -1, jobT0)} },
			want{wake: now.Add(59 * time.Second)}},
		{"suspended deletes active pods", func(j *v1.Job) { j.Spec.Suspend = ptrTo(true) },
			func(j *v1.Job) []*v1.Pod { return []*v1.Pod{jobPod(j, "a", v1.PodRunning, -1, jobT0)} },
			want{deletes: 1, conds: []string{v1.JobSuspended}}},
		{"resumed resets startTime", func(j *v1.Job) {
			j.Status.StartTime = ptrTo(v1.NewTime(jobT0))
			j.Status.Conditions = []v1.JobCondition{{Type: v1.JobSuspended, Status: v1.ConditionTrue}}
		}, nil, want{create: []int{-1}, startReset: true}},
		{"indexed creates lowest free indexes", func(j *v1.Job) {
			j.Spec.CompletionMode = ptrTo(v1.IndexedCompletion)
			j.Spec.Completions, j.Spec.Parallelism = ptrTo(int32(4)), ptrTo(int32(2))
		}, func(j *v1.Job) []*v1.Pod {
			return []*v1.Pod{jobPod(j, "a", v1.PodSucceeded, 0, jobT0), jobPod(j, "b", v1.PodRunning, 2, jobT0)}
		}, want{create: []int{1}, succeeded: 1, completed: "0"}},
		{"indexed duplicate deleted", func(j *v1.Job) {
			j.Spec.CompletionMode = ptrTo(v1.IndexedCompletion)
			j.Spec.Completions, j.Spec.Parallelism = ptrTo(int32(2)), ptrTo(int32(2))
		}, func(j *v1.Job) []*v1.Pod {
			return []*v1.Pod{jobPod(j, "a", v1.PodSucceeded, 0, jobT0), jobPod(j, "b", v1.PodRunning, 0, jobT0)}
		}, want{create: []int{1}, deletes: 1, succeeded: 1, completed: "0"}},
		{"indexed completes, indexes kept", func(j *v1.Job) {
			j.Spec.CompletionMode = ptrTo(v1.IndexedCompletion)
			j.Spec.Completions, j.Spec.Parallelism = ptrTo(int32(3)), ptrTo(int32(3))
			j.Status.CompletedIndexes = "0,1"
		}, func(j *v1.Job) []*v1.Pod { return []*v1.Pod{jobPod(j, "c", v1.PodSucceeded, 2, jobT0)} },
			want{succeeded: 3, completed: "0-2", conds: []string{v1.JobSuccessCriteriaMet, v1.JobComplete}}},
		{"pod failure policy FailJob", func(j *v1.Job) {
			j.Spec.PodFailurePolicy = &v1.PodFailurePolicy{Rules: []v1.PodFailurePolicyRule{{Action: v1.PodFailurePolicyActionFailJob,
				OnExitCodes: &v1.PodFailurePolicyOnExitCodesRequirement{Operator: v1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}}}}}
		}, func(j *v1.Job) []*v1.Pod { return []*v1.Pod{jobPod(j, "a", v1.PodFailed, -1, jobT0)} },
			want{failed: 1, conds: []string{v1.JobFailureTarget, v1.JobFailed}}},
		{"pod failure policy Ignore", func(j *v1.Job) {
			j.Spec.BackoffLimit = ptrTo(int32(0))
			j.Spec.PodFailurePolicy = &v1.PodFailurePolicy{Rules: []v1.PodFailurePolicyRule{{Action: v1.PodFailurePolicyActionIgnore,
				OnExitCodes: &v1.PodFailurePolicyOnExitCodesRequirement{Operator: v1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{2}}}}}
		}, func(j *v1.Job) []*v1.Pod { return []*v1.Pod{jobPod(j, "a", v1.PodFailed, -1, now)} },
			want{failed: 0, wake: now.Add(10 * time.Second)}},
		{"finished job: ttl ahead", func(j *v1.Job) {
			j.Spec.TTLSecondsAfterFinished = ptrTo(int32(30))
			j.Status.Conditions = []v1.JobCondition{{Type: v1.JobComplete, Status: v1.ConditionTrue, LastTransitionTime: v1.NewTime(now.Add(-10 * time.Second))}}
		}, nil, want{conds: []string{v1.JobComplete}, wake: now.Add(20 * time.Second)}},
		{"finished job: ttl passed", func(j *v1.Job) {
			j.Spec.TTLSecondsAfterFinished = ptrTo(int32(0))
			j.Status.Conditions = []v1.JobCondition{{Type: v1.JobFailed, Status: v1.ConditionTrue, LastTransitionTime: v1.NewTime(now)}}
		}, nil, want{conds: []string{v1.JobFailed}, deleteJob: true}},
		{"another manager's job", func(j *v1.Job) { j.Spec.ManagedBy = ptrTo("example.com/other") }, nil, want{skip: true}},
		{"replacement waits for terminating pods with policy Failed", func(j *v1.Job) {
			j.Spec.PodReplacementPolicy = ptrTo(v1.Failed)
		}, func(j *v1.Job) []*v1.Pod {
			p := jobPod(j, "a", v1.PodRunning, -1, jobT0)
			p.DeletionTimestamp = ptrTo(v1.NewTime(now))
			return []*v1.Pod{p}
		}, want{}},
		{"replacement of terminating pods by default", nil, func(j *v1.Job) []*v1.Pod {
			p := jobPod(j, "a", v1.PodRunning, -1, jobT0)
			p.DeletionTimestamp = ptrTo(v1.NewTime(now))
			return []*v1.Pod{p}
		}, want{create: []int{-1}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := testJob(tc.job)
			var pods []*v1.Pod
			if tc.pods != nil {
				pods = tc.pods(j)
			}
			plan := PlanJob(j, pods, nil, now)
			if plan.Skip != tc.want.skip {
				t.Fatalf("skip = %v", plan.Skip)
			}
			if tc.want.skip {
				return
			}
			var conds []string
			for _, c := range plan.Status.Conditions {
				if c.Status == v1.ConditionTrue {
					conds = append(conds, c.Type)
				}
			}
			got := want{create: plan.Create, deletes: len(plan.Delete), conds: conds, succeeded: plan.Status.Succeeded,
				failed: plan.Status.Failed, completed: plan.Status.CompletedIndexes, wake: plan.Wake, deleteJob: plan.DeleteJob,
				startReset: plan.Status.StartTime != nil && plan.Status.StartTime.Equal(now) && j.Status.StartTime != nil}
			if !slices.Equal(got.create, tc.want.create) || got.deletes != tc.want.deletes || !slices.Equal(got.conds, tc.want.conds) ||
				got.succeeded != tc.want.succeeded || got.failed != tc.want.failed || got.completed != tc.want.completed ||
				!got.wake.Equal(tc.want.wake) || got.deleteJob != tc.want.deleteJob || got.startReset != tc.want.startReset {
				t.Fatalf("plan:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestPlanJobFailedConditionCarriesReason(t *testing.T) {
	j := testJob(func(j *v1.Job) { j.Spec.BackoffLimit = ptrTo(int32(0)) })
	plan := PlanJob(j, []*v1.Pod{jobPod(j, "a", v1.PodFailed, -1, jobT0)}, nil, jobT0.Add(time.Hour))
	c := jobCondition(plan.Status.Conditions, v1.JobFailed)
	if c == nil || c.Reason != JobReasonBackoffLimitExceeded || c.Message != "Job has reached the specified backoff limit" {
		t.Fatalf("Failed condition %+v", c)
	}
	if plan.Status.CompletionTime != nil {
		t.Fatalf("a failed job has a completionTime")
	}
}

func TestPodFromJobTemplateIndexed(t *testing.T) {
	j := testJob(func(j *v1.Job) {
		j.Spec.CompletionMode = ptrTo(v1.IndexedCompletion)
		j.Spec.Completions = ptrTo(int32(3))
	})
	p := PodFromJobTemplate(j, 2)
	if p.GenerateName != "pi-2-" || p.Spec.Hostname != "pi-2" || p.Annotations[v1.JobCompletionIndexAnnotation] != "2" ||
		p.Labels[v1.JobCompletionIndexAnnotation] != "2" || p.Labels[v1.JobNameLabel] != "pi" {
		t.Fatalf("indexed pod %+v %+v", p.ObjectMeta, p.Spec)
	}
	env := p.Spec.Containers[0].Env
	if len(env) != 1 || env[0].Name != "JOB_COMPLETION_INDEX" || env[0].Value != "2" {
		t.Fatalf("env %v", env)
	}
	if len(j.Spec.Template.Spec.Containers[0].Env) != 0 || j.Spec.Template.Annotations != nil {
		t.Fatalf("the template was changed")
	}
	ref := p.ControllerRef()
	if ref == nil || ref.Kind != "Job" || ref.APIVersion != "batch/v1" || ref.UID != j.UID {
		t.Fatalf("controller ref %+v", ref)
	}
	if q := PodFromJobTemplate(j, -1); q.GenerateName != "pi-" || q.Spec.Hostname != "" {
		t.Fatalf("non-indexed pod %+v", q.ObjectMeta)
	}
}
