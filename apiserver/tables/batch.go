package tables

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"

	v1 "orch.io/orch/api/v1"
)

// jobPrinter is Kubernetes' printer of Jobs (printJob).
var jobPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Status", "string", 0, "Status of the job."),
		col("Completions", "string", 0, "The desired number of successfully finished pods the job should be run with."),
		col("Duration", "string", 0, "Time required to complete the job."),
		ageColumn,
		col("Containers", "string", 1, "Names of each container in the template."),
		col("Images", "string", 1, "Images referenced by each container in the template."),
		col("Selector", "string", 1, "A label query over pods that should match the pod count."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		j := obj.(*v1.Job)
		var completions string
		switch {
		case j.Spec.Completions != nil:
			completions = fmt.Sprintf("%d/%d", j.Status.Succeeded, *j.Spec.Completions)
		case j.Spec.Parallelism != nil && *j.Spec.Parallelism > 1:
			completions = fmt.Sprintf("%d/1 of %d", j.Status.Succeeded, *j.Spec.Parallelism)
		default:
			completions = fmt.Sprintf("%d/1", j.Status.Succeeded)
		}
		var dur string
		switch {
		case j.Status.StartTime == nil:
		case j.Status.CompletionTime == nil:
			dur = duration.HumanDuration(now.Sub(j.Status.StartTime.Time))
		default:
			dur = duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
		}
		names, images := containerCells(j.Spec.Template.Spec.Containers)
		return []any{j.Name, jobStatus(j), completions, dur, age(j.CreationTimestamp, now),
			names, images, metav1.FormatLabelSelector(j.Spec.Selector)}, nil
	},
}

// jobStatus is the Status column: the first of Complete, Failed,
// Terminating, Suspended, FailureTarget, SuccessCriteriaMet, else Running.
func jobStatus(j *v1.Job) string {
	st := &j.Status
	switch {
	case v1.JobHasCondition(st, v1.JobComplete):
		return "Complete"
	case v1.JobHasCondition(st, v1.JobFailed):
		return "Failed"
	case j.DeletionTimestamp != nil:
		return "Terminating"
	case v1.JobHasCondition(st, v1.JobSuspended):
		return "Suspended"
	case v1.JobHasCondition(st, v1.JobFailureTarget):
		return "FailureTarget"
	case v1.JobHasCondition(st, v1.JobSuccessCriteriaMet):
		return "SuccessCriteriaMet"
	}
	return "Running"
}

// cronJobPrinter is Kubernetes' printer of CronJobs (printCronJob).
var cronJobPrinter = Printer{
	Columns: []metav1.TableColumnDefinition{nameColumn,
		col("Schedule", "string", 0, "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
		col("Timezone", "string", 0, "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
		col("Suspend", "boolean", 0, "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false."),
		col("Active", "integer", 0, "A list of pointers to currently running jobs."),
		col("Last Schedule", "string", 0, "Information when was the last time the job was successfully scheduled."),
		ageColumn,
		col("Containers", "string", 1, "Names of each container in the template."),
		col("Images", "string", 1, "Images referenced by each container in the template."),
		col("Selector", "string", 1, "A label query over pods that should match the pod count."),
	},
	Row: func(obj v1.Object, now time.Time) ([]any, []metav1.TableRowCondition) {
		cj := obj.(*v1.CronJob)
		last := "<none>"
		if t := cj.Status.LastScheduleTime; t != nil {
			last = age(*t, now)
		}
		tz := "<none>"
		if cj.Spec.TimeZone != nil {
			tz = *cj.Spec.TimeZone
		}
		suspend := "<unset>"
		if cj.Spec.Suspend != nil {
			suspend = "False"
			if *cj.Spec.Suspend {
				suspend = "True"
			}
		}
		names, images := containerCells(cj.Spec.JobTemplate.Spec.Template.Spec.Containers)
		return []any{cj.Name, cj.Spec.Schedule, tz, suspend, int64(len(cj.Status.Active)), last, age(cj.CreationTimestamp, now),
			names, images, metav1.FormatLabelSelector(cj.Spec.JobTemplate.Spec.Selector)}, nil
	},
}
