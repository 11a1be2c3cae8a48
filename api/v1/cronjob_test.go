package v1

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newTestCronJob(change func(cj *CronJob)) *CronJob {
	cj := &CronJob{ObjectMeta: ObjectMeta{Name: "tick", Namespace: "default", UID: "1"},
		Spec: CronJobSpec{Schedule: "*/1 * * * *", JobTemplate: JobTemplateSpec{Spec: JobSpec{Template: PodTemplateSpec{
			Spec: PodSpec{RestartPolicy: RestartOnFailure, Containers: []Container{{Name: "c", Image: "busybox"}}}}}}}}
	if change != nil {
		change(cj)
	}
	Default(cj)
	return cj
}

func TestCronJobDefaultsAndValidation(t *testing.T) {
	d := newTestCronJob(nil)
	if d.Spec.ConcurrencyPolicy != AllowConcurrent || *d.Spec.Suspend || *d.Spec.SuccessfulJobsHistoryLimit != 3 || *d.Spec.FailedJobsHistoryLimit != 1 {
		t.Fatalf("defaults %+v", d.Spec)
	}
	cases := []struct {
		name   string
		change func(cj *CronJob)
		field  string
		msg    string
	}{
		{"valid", nil, "", ""},
		{"valid time zone", func(cj *CronJob) { cj.Spec.TimeZone = ptr("Europe/Paris") }, "", ""},
		{"no schedule", func(cj *CronJob) { cj.Spec.Schedule = "" }, "spec.schedule", "Required value"},
		{"bad schedule", func(cj *CronJob) { cj.Spec.Schedule = "61 * * * *" }, "spec.schedule", "end of range (61) above maximum (59)"},
		{"TZ in schedule", func(cj *CronJob) { cj.Spec.Schedule = "CRON_TZ=UTC 0 * * * *" }, "spec.schedule",
			"cannot use TZ or CRON_TZ in schedule, use timeZone field instead"},
		{"Local time zone", func(cj *CronJob) { cj.Spec.TimeZone = ptr("Local") }, "spec.timeZone", "timeZone must be an explicit time zone"},
		{"unknown time zone", func(cj *CronJob) { cj.Spec.TimeZone = ptr("Mars/Olympus") }, "spec.timeZone", "unknown time zone"},
		{"empty time zone", func(cj *CronJob) { cj.Spec.TimeZone = ptr("") }, "spec.timeZone", "timeZone must be nil or non-empty string"},
		{"concurrency policy", func(cj *CronJob) { cj.Spec.ConcurrencyPolicy = "Sometimes" }, "spec.concurrencyPolicy", "Unsupported value"},
		{"negative deadline", func(cj *CronJob) { cj.Spec.StartingDeadlineSeconds = ptr(int64(-1)) }, "spec.startingDeadlineSeconds", "must be greater than or equal to 0"},
		{"negative history", func(cj *CronJob) { cj.Spec.FailedJobsHistoryLimit = ptr(int32(-1)) }, "spec.failedJobsHistoryLimit", "must be greater than or equal to 0"},
		{"template selector", func(cj *CronJob) {
			cj.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, "spec.jobTemplate.spec.selector", "`selector` will be auto-generated"},
		{"template restartPolicy", func(cj *CronJob) { cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = RestartAlways },
			"spec.jobTemplate.spec.template.spec.restartPolicy", "Unsupported value"},
		{"long name", func(cj *CronJob) { cj.Name = strings.Repeat("a", 53) }, "metadata.name", "must be no more than 52 characters"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(newTestCronJob(tc.change))
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid cronjob refused: %v", err)
				}
				return
			}
			if CodeOf(err) != 422 || !namesField(err, tc.field) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want 422 on %s with %q", err, tc.field, tc.msg)
			}
		})
	}
}
