package e2e

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// jobOf is a Job of busybox pods that run script, with restartPolicy Never.
func jobOf(name, script string, change func(j *v1.Job)) *v1.Job {
	j := &v1.Job{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.JobSpec{Template: v1.PodTemplateSpec{Spec: v1.PodSpec{RestartPolicy: v1.RestartNever,
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", script}}}}}}}
	if change != nil {
		change(j)
	}
	return j
}

func int32p(v int32) *int32 { return &v }

// jobPodsOf lists the pods of the Job named name (by its job-name label).
func jobPodsOf(t *testing.T, cl *client.Client, name string) []v1.Pod {
	t.Helper()
	pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default",
		client.ListOptions{LabelSelector: v1.JobNameLabel + "=" + name})
	if err != nil {
		t.Fatalf("list pods of job %s: %v", name, err)
	}
	return pods
}

// waitJobCondition waits until the Job has condition typ True and returns it.
func waitJobCondition(t *testing.T, cl *client.Client, name, typ string, timeout time.Duration) *v1.Job {
	t.Helper()
	var j v1.Job
	eventually(t, timeout, "job "+name+" "+typ, func() error {
		if err := cl.Get(ctxT(t, 5*time.Second), "jobs", "default", name, &j); err != nil {
			return err
		}
		if v1.JobHasCondition(&j.Status, typ) {
			return nil
		}
		return fmt.Errorf("status %+v", j.Status)
	})
	return &j
}

// piJobYAML is the Kubernetes docs' controllers/job.yaml.
const piJobYAML = `apiVersion: batch/v1
kind: Job
metadata:
  name: pi
spec:
  template:
    spec:
      containers:
      - name: pi
        image: perl:5.34.0
        command: ["perl",  "-Mbignum=bpi", "-wle", "print bpi(2000)"]
      restartPolicy: Never
  backoffLimit: 4
`

// Done when 3 of the Jobs task: in one cluster with a real node, a Job of
// 3 completions 2 at a time completes with 3 succeeded pods; a failing
// Job reaches its backoffLimit and is Failed with BackoffLimitExceeded;
// an Indexed Job's pods see their index; kubectl prints the Jobs' table
// and deletes a Job with its pods; a CronJob's runs complete; the
// Kubernetes docs' pi Job is accepted.
func TestJobs(t *testing.T) {
	t.Parallel()
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	k := adminKubectl(t, c)

	for _, j := range []*v1.Job{
		jobOf("three", "echo done", func(j *v1.Job) { j.Spec.Completions, j.Spec.Parallelism = int32p(3), int32p(2) }),
		jobOf("failing", "exit 3", func(j *v1.Job) { j.Spec.BackoffLimit = int32p(1) }),
		jobOf("indexed", `echo "index=$JOB_COMPLETION_INDEX host=$(hostname)"`, func(j *v1.Job) {
			mode := v1.IndexedCompletion
			j.Spec.CompletionMode = &mode
			j.Spec.Completions, j.Spec.Parallelism = int32p(3), int32p(3)
		}),
		jobOf("sleeper", "sleep 3600", func(j *v1.Job) {
			grace := int64(1)
			j.Spec.Template.Spec.TerminationGracePeriodSeconds = &grace
		}),
	} {
		if err := cl.Create(ctxT(t, 10*time.Second), j); err != nil {
			t.Fatalf("create job %s: %v", j.Name, err)
		}
	}

	// A CronJob every minute, checked last (its first run is up to a
	// minute away).
	utc := "UTC"
	cj := &v1.CronJob{ObjectMeta: v1.ObjectMeta{Name: "tick", Namespace: "default"}, Spec: v1.CronJobSpec{
		Schedule: "* * * * *", TimeZone: &utc, SuccessfulJobsHistoryLimit: int32p(1),
		JobTemplate: v1.JobTemplateSpec{Spec: jobOf("", "echo tick", nil).Spec}}}
	if err := cl.Create(ctxT(t, 10*time.Second), cj); err != nil {
		t.Fatalf("create cronjob: %v", err)
	}

	// (a) 3 completions, 2 at a time.
	three := waitJobCondition(t, cl, "three", v1.JobComplete, 90*time.Second)
	if three.Status.Succeeded != 3 || three.Status.Active != 0 || three.Status.Failed != 0 ||
		three.Status.StartTime == nil || three.Status.CompletionTime == nil {
		t.Fatalf("job three: status %+v", three.Status)
	}
	if !v1.JobHasCondition(&three.Status, v1.JobSuccessCriteriaMet) {
		t.Fatalf("job three completed without SuccessCriteriaMet: %+v", three.Status.Conditions)
	}
	pods := jobPodsOf(t, cl, "three")
	succeeded := 0
	for _, p := range pods {
		if p.Status.Phase == v1.PodSucceeded {
			succeeded++
		}
		if ref := p.ControllerRef(); ref == nil || ref.Kind != "Job" || ref.UID != three.UID {
			t.Fatalf("pod %s is not controlled by job three: %+v", p.Name, p.OwnerReferences)
		}
	}
	if succeeded != 3 || len(pods) != 3 {
		t.Fatalf("job three has %d pods, %d succeeded; want 3 and 3", len(pods), succeeded)
	}

	// (b) Two failures with backoffLimit 1: Failed, BackoffLimitExceeded,
	// the second pod created after the 10 s back-off.
	failing := waitJobCondition(t, cl, "failing", v1.JobFailed, 120*time.Second)
	var cond *v1.JobCondition
	for i := range failing.Status.Conditions {
		if failing.Status.Conditions[i].Type == v1.JobFailed {
			cond = &failing.Status.Conditions[i]
		}
	}
	if cond.Reason != "BackoffLimitExceeded" || cond.Message != "Job has reached the specified backoff limit" || failing.Status.Failed != 2 {
		t.Fatalf("job failing: %+v", failing.Status)
	}
	fpods := jobPodsOf(t, cl, "failing")
	if len(fpods) != 2 {
		t.Fatalf("job failing has %d pods, want 2", len(fpods))
	}
	slices.SortFunc(fpods, func(a, b v1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	if gap := fpods[1].CreationTimestamp.Sub(fpods[0].CreationTimestamp.Time); gap < 10*time.Second {
		t.Fatalf("the second pod came %v after the first: no back-off", gap)
	}

	// (c) Each indexed pod sees its index, in its environment and host name.
	indexed := waitJobCondition(t, cl, "indexed", v1.JobComplete, 90*time.Second)
	if indexed.Status.CompletedIndexes != "0-2" {
		t.Fatalf("job indexed: completedIndexes %q", indexed.Status.CompletedIndexes)
	}
	var seen []string
	for _, p := range jobPodsOf(t, cl, "indexed") {
		idx := p.Annotations[v1.JobCompletionIndexAnnotation]
		out := strings.TrimSpace(podLogs(t, c.Orchctl, p.Name))
		if want := fmt.Sprintf("index=%s host=indexed-%s", idx, idx); out != want {
			t.Fatalf("pod %s (index %q) printed %q, want %q", p.Name, idx, out, want)
		}
		seen = append(seen, idx)
	}
	slices.Sort(seen)
	if !slices.Equal(seen, []string{"0", "1", "2"}) {
		t.Fatalf("indexes of the pods: %v", seen)
	}

	// (d) kubectl's table.
	eventually(t, 30*time.Second, "sleeper running", func() error {
		for _, p := range jobPodsOf(t, cl, "sleeper") {
			if p.Status.Phase == v1.PodRunning {
				return nil
			}
		}
		return fmt.Errorf("no running pod")
	})
	tab := parseKubectlTable(t, k.ok(t, "", "get", "jobs", "-o", "wide"))
	if want := []string{"NAME", "STATUS", "COMPLETIONS", "DURATION", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"}; !slices.Equal(tab.header, want) {
		t.Fatalf("kubectl get jobs header %v, want %v", tab.header, want)
	}
	for name, want := range map[string][2]string{"three": {"Complete", "3/3"}, "failing": {"Failed", "0/1"},
		"indexed": {"Complete", "3/3"}, "sleeper": {"Running", "0/1"}} {
		row := tab.row(t, name)
		if row["STATUS"] != want[0] || row["COMPLETIONS"] != want[1] || row["CONTAINERS"] != "c" || row["IMAGES"] != "busybox:1.35" ||
			!strings.HasPrefix(row["SELECTOR"], v1.JobControllerUIDLabel+"=") {
			t.Fatalf("kubectl get jobs row %s: %v", name, row)
		}
	}

	// (e) kubectl delete job deletes its pods (background propagation).
	if len(jobPodsOf(t, cl, "sleeper")) == 0 {
		t.Fatal("job sleeper has no pods")
	}
	k.ok(t, "", "delete", "job", "sleeper")
	eventually(t, 60*time.Second, "sleeper's pods gone", func() error {
		if n := len(jobPodsOf(t, cl, "sleeper")); n > 0 {
			return fmt.Errorf("%d pods left", n)
		}
		return nil
	})

	// (f) The CronJob's runs complete, each named by its scheduled minute.
	eventually(t, 150*time.Second, "a completed run of cronjob tick", func() error {
		var got v1.CronJob
		if err := cl.Get(ctxT(t, 5*time.Second), "cronjobs", "default", "tick", &got); err != nil {
			return err
		}
		if got.Status.LastSuccessfulTime == nil || got.Status.LastScheduleTime == nil {
			return fmt.Errorf("status %+v", got.Status)
		}
		return nil
	})
	jobs, _, err := client.ListTyped[v1.Job](ctxT(t, 5*time.Second), cl, "jobs", "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	runs := 0
	for _, j := range jobs {
		ref := j.ControllerRef()
		if ref == nil || ref.Kind != "CronJob" {
			continue
		}
		runs++
		at, err := time.Parse(time.RFC3339, j.Annotations[v1.CronJobScheduledTimestampAnnotation])
		if err != nil || at.Second() != 0 || j.Name != fmt.Sprintf("tick-%d", at.Unix()/60) {
			t.Fatalf("cronjob run %s scheduled at %q (%v)", j.Name, j.Annotations[v1.CronJobScheduledTimestampAnnotation], err)
		}
	}
	if runs == 0 {
		t.Fatal("no Job of cronjob tick")
	}
	ctab := parseKubectlTable(t, k.ok(t, "", "get", "cronjobs"))
	if row := ctab.row(t, "tick"); row["SCHEDULE"] != "* * * * *" || row["TIMEZONE"] != "UTC" || row["SUSPEND"] != "False" ||
		row["LAST SCHEDULE"] == "<none>" {
		t.Fatalf("kubectl get cronjobs row: %v", row)
	}

	// (g) The Kubernetes docs' controllers/job.yaml, as kubectl validates
	// and sends it.
	pi := manifest(t, "job.yaml", piJobYAML)
	if out := k.ok(t, "", "create", "--dry-run=server", "-f", pi); !strings.Contains(out, "job.batch/pi created") {
		t.Fatalf("kubectl create of the docs' job: %q", out)
	}
	// A Job whose pods would restart Always is refused with Kubernetes' words.
	bad := manifest(t, "bad.yaml", strings.Replace(piJobYAML, "Never", "Always", 1))
	if _, stderr, code := k.run(t, "", "create", "-f", bad); code == 0 ||
		!strings.Contains(stderr, `spec.template.spec.restartPolicy: Unsupported value: "Always": supported values: "OnFailure", "Never"`) {
		t.Fatalf("a Job with restartPolicy Always: exit %d, %s", code, stderr)
	}
}
