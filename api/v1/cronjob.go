package v1

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// CronJob creates Jobs on a cron schedule, as Kubernetes' batch/v1
// CronJob. The leader's cronjob controller (sched) reads the schedule on
// its own clock.
type CronJob struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       CronJobSpec   `json:"spec,omitempty"`
	Status     CronJobStatus `json:"status,omitempty"`
}

// ConcurrencyPolicy says what a CronJob does when a run is due while an
// earlier one is still active.
type ConcurrencyPolicy string

// The concurrency policies.
const (
	// AllowConcurrent runs them side by side (the default).
	AllowConcurrent ConcurrencyPolicy = "Allow"
	// ForbidConcurrent skips the new run while one is active.
	ForbidConcurrent ConcurrencyPolicy = "Forbid"
	// ReplaceConcurrent deletes the active runs and starts the new one.
	ReplaceConcurrent ConcurrencyPolicy = "Replace"
)

// CronJobSpec is the desired behaviour of a CronJob.
type CronJobSpec struct {
	// Schedule is a standard cron schedule ("*/5 * * * *", "@hourly").
	Schedule string `json:"schedule"`
	// TimeZone is the IANA time zone of the schedule (default: the
	// leader's local time, as kube-controller-manager's).
	TimeZone *string `json:"timeZone,omitempty"`
	// StartingDeadlineSeconds is how late a run may still start; a run
	// missed by more is skipped.
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`
	// ConcurrencyPolicy is Allow (default), Forbid or Replace.
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`
	// Suspend stops the runs that are not started yet.
	Suspend *bool `json:"suspend,omitempty"`
	// JobTemplate is the Job each run creates.
	JobTemplate JobTemplateSpec `json:"jobTemplate"`
	// SuccessfulJobsHistoryLimit is how many completed Jobs are kept
	// (default 3).
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`
	// FailedJobsHistoryLimit is how many failed Jobs are kept (default 1).
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`
}

// JobTemplateSpec is the Job a CronJob creates.
type JobTemplateSpec struct {
	ObjectMeta `json:"metadata,omitempty"`
	Spec       JobSpec `json:"spec,omitempty"`
}

// CronJobStatus is the observed state of a CronJob.
type CronJobStatus struct {
	// Active are the CronJob's running Jobs.
	Active []ObjectReference `json:"active,omitempty"`
	// LastScheduleTime is the scheduled time of the last run started.
	LastScheduleTime *Time `json:"lastScheduleTime,omitempty"`
	// LastSuccessfulTime is when a Job of the CronJob last completed.
	LastSuccessfulTime *Time `json:"lastSuccessfulTime,omitempty"`
}

// CronJobScheduledTimestampAnnotation holds a Job's scheduled time
// (RFC 3339, in the CronJob's time zone).
const CronJobScheduledTimestampAnnotation = "batch.kubernetes.io/cronjob-scheduled-timestamp"

// validTimeZoneCharacters are the characters of an IANA time zone name.
var validTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

// defaultCronJob fills a CronJob's defaults as Kubernetes'
// SetDefaults_CronJob, and its pod template's; the Jobs it creates get
// the Job defaults when they are created.
func defaultCronJob(cj *CronJob) {
	s := &cj.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = AllowConcurrent
	}
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		n := int32(3)
		s.SuccessfulJobsHistoryLimit = &n
	}
	if s.FailedJobsHistoryLimit == nil {
		n := int32(1)
		s.FailedJobsHistoryLimit = &n
	}
	DefaultPodSpec(&s.JobTemplate.Spec.Template.Spec)
}

// CronSchedule parses a CronJob's schedule in its time zone (the local
// one when unset).
func CronSchedule(cj *CronJob) (cron.Schedule, *time.Location, error) {
	loc := time.Local
	if tz := cj.Spec.TimeZone; tz != nil {
		l, err := time.LoadLocation(*tz)
		if err != nil {
			return nil, nil, fmt.Errorf("cronjob %s/%s: time zone: %w", cj.Namespace, cj.Name, err)
		}
		loc = l
	}
	s, err := cron.ParseStandard(cj.Spec.Schedule)
	if err != nil {
		return nil, nil, fmt.Errorf("cronjob %s/%s: schedule: %w", cj.Namespace, cj.Name, err)
	}
	return s, loc, nil
}

// validateCronJob is Kubernetes' ValidateCronJobCreate and
// ValidateCronJobSpec.
func validateCronJob(cj *CronJob) field.ErrorList {
	var errs field.ErrorList
	if len(cj.Name) > 52 {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), cj.Name, "must be no more than 52 characters"))
	}
	sp := field.NewPath("spec")
	s := &cj.Spec
	switch {
	case s.Schedule == "":
		errs = append(errs, field.Required(sp.Child("schedule"), ""))
	case strings.Contains(s.Schedule, "TZ"):
		errs = append(errs, field.Invalid(sp.Child("schedule"), s.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
	default:
		if _, err := cron.ParseStandard(s.Schedule); err != nil {
			errs = append(errs, field.Invalid(sp.Child("schedule"), s.Schedule, err.Error()))
		}
	}
	if tz := s.TimeZone; tz != nil {
		tp := sp.Child("timeZone")
		switch {
		case *tz == "":
			errs = append(errs, field.Invalid(tp, *tz, "timeZone must be nil or non-empty string"))
		case strings.EqualFold(*tz, "Local"):
			errs = append(errs, field.Invalid(tp, *tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
		default:
			for _, part := range strings.Split(*tz, "/") {
				if part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZoneCharacters.MatchString(part) {
					errs = append(errs, field.Invalid(tp, *tz, fmt.Sprintf("unknown time zone %s", *tz)))
					break
				}
			}
			if len(errs) == 0 {
				if _, err := time.LoadLocation(*tz); err != nil {
					errs = append(errs, field.Invalid(tp, *tz, err.Error()))
				}
			}
		}
	}
	if d := s.StartingDeadlineSeconds; d != nil && *d < 0 {
		errs = append(errs, field.Invalid(sp.Child("startingDeadlineSeconds"), *d, "must be greater than or equal to 0"))
	}
	switch s.ConcurrencyPolicy {
	case AllowConcurrent, ForbidConcurrent, ReplaceConcurrent:
	case "":
		errs = append(errs, field.Required(sp.Child("concurrencyPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(sp.Child("concurrencyPolicy"), s.ConcurrencyPolicy,
			[]ConcurrencyPolicy{AllowConcurrent, ForbidConcurrent, ReplaceConcurrent}))
	}
	for _, f := range []struct {
		name string
		v    *int32
	}{{"successfulJobsHistoryLimit", s.SuccessfulJobsHistoryLimit}, {"failedJobsHistoryLimit", s.FailedJobsHistoryLimit}} {
		if f.v != nil && *f.v < 0 {
			errs = append(errs, field.Invalid(sp.Child(f.name), *f.v, "must be greater than or equal to 0"))
		}
	}
	jp := sp.Child("jobTemplate")
	errs = append(errs, ValidateLabels(s.JobTemplate.Labels, jp.Child("metadata", "labels"))...)
	errs = append(errs, validateAnnotations(s.JobTemplate.Annotations, func() *field.Path { return jp.Child("metadata", "annotations") })...)
	js := &s.JobTemplate.Spec
	errs = append(errs, validateJobSpec(js, jp.Child("spec"))...)
	if js.Selector != nil {
		errs = append(errs, field.Invalid(jp.Child("spec", "selector"), js.Selector, "`selector` will be auto-generated"))
		errs = append(errs, metav1validation.ValidateLabelSelector(js.Selector, metav1validation.LabelSelectorValidationOptions{},
			jp.Child("spec", "selector"))...)
	}
	if js.ManualSelector != nil && *js.ManualSelector {
		errs = append(errs, field.NotSupported(jp.Child("spec", "manualSelector"), *js.ManualSelector, []string{"nil", "false"}))
	}
	return errs
}
