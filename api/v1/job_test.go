package v1

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// newTestJob returns a defaulted Job with a uid, as the API server makes it.
func newTestJob(change func(j *Job)) *Job {
	j := &Job{ObjectMeta: ObjectMeta{Name: "pi", Namespace: "default", UID: "1234"},
		Spec: JobSpec{Template: PodTemplateSpec{Spec: PodSpec{RestartPolicy: RestartNever,
			Containers: []Container{{Name: "pi", Image: "busybox"}}}}}}
	if change != nil {
		change(j)
	}
	Default(j)
	return j
}

func ptr[T any](v T) *T { return &v }

func TestJobDefaults(t *testing.T) {
	j := newTestJob(nil)
	if *j.Spec.Parallelism != 1 || *j.Spec.Completions != 1 || *j.Spec.BackoffLimit != 6 ||
		*j.Spec.CompletionMode != NonIndexedCompletion || *j.Spec.Suspend || *j.Spec.PodReplacementPolicy != TerminatingOrFailed {
		t.Fatalf("defaults: %+v", j.Spec)
	}
	if got := j.Spec.Selector.MatchLabels; len(got) != 1 || got[JobControllerUIDLabel] != "1234" {
		t.Fatalf("selector = %v", got)
	}
	for k, v := range map[string]string{JobControllerUIDLabel: "1234", LegacyJobControllerUIDLabel: "1234", JobNameLabel: "pi", LegacyJobNameLabel: "pi"} {
		if j.Spec.Template.Labels[k] != v || j.Labels[k] != v {
			t.Errorf("label %s: template %q, job %q, want %q", k, j.Spec.Template.Labels[k], j.Labels[k], v)
		}
	}
	if err := Validate(j); err != nil {
		t.Fatalf("defaulted job: %v", err)
	}
	// Parallelism alone leaves completions nil (any success completes).
	p := newTestJob(func(j *Job) { j.Spec.Parallelism = ptr(int32(3)) })
	if p.Spec.Completions != nil {
		t.Fatalf("completions = %d, want nil", *p.Spec.Completions)
	}
	// A manual selector is not generated.
	m := newTestJob(func(j *Job) { j.Spec.ManualSelector = ptr(true) })
	if m.Spec.Selector != nil {
		t.Fatalf("manual selector generated: %v", m.Spec.Selector)
	}
	// With a podFailurePolicy, pods are replaced only once failed.
	f := newTestJob(func(j *Job) {
		j.Spec.PodFailurePolicy = &PodFailurePolicy{Rules: []PodFailurePolicyRule{{Action: PodFailurePolicyActionIgnore,
			OnPodConditions: []PodFailurePolicyOnPodConditionsPattern{{Type: "DisruptionTarget"}}}}}
	})
	if *f.Spec.PodReplacementPolicy != Failed || f.Spec.PodFailurePolicy.Rules[0].OnPodConditions[0].Status != ConditionTrue {
		t.Fatalf("pod failure policy defaults: %+v", f.Spec)
	}
}

func TestJobValidation(t *testing.T) {
	cases := []struct {
		name   string
		change func(j *Job)
		field  string // the 422 names it; "" means valid
		msg    string
	}{
		{"valid", nil, "", ""},
		{"restart always", func(j *Job) { j.Spec.Template.Spec.RestartPolicy = RestartAlways },
			"spec.template.spec.restartPolicy", `Unsupported value: "Always": supported values: "OnFailure", "Never"`},
		{"negative parallelism", func(j *Job) { j.Spec.Parallelism = ptr(int32(-1)) },
			"spec.parallelism", "must be greater than or equal to 0"},
		{"negative backoffLimit", func(j *Job) { j.Spec.BackoffLimit = ptr(int32(-1)) },
			"spec.backoffLimit", "must be greater than or equal to 0"},
		{"negative ttl", func(j *Job) { j.Spec.TTLSecondsAfterFinished = ptr(int32(-1)) },
			"spec.ttlSecondsAfterFinished", "must be greater than or equal to 0"},
		{"indexed without completions", func(j *Job) {
			j.Spec.CompletionMode = ptr(IndexedCompletion)
			j.Spec.Parallelism = ptr(int32(2))
		}, "spec.completions", "Required value: when completion mode is Indexed"},
		{"bad completion mode", func(j *Job) { j.Spec.CompletionMode = ptr(CompletionMode("Sometimes")) },
			"spec.completionMode", "Unsupported value"},
		{"selector does not match", func(j *Job) {
			j.Spec.ManualSelector = ptr(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, "spec.template.metadata.labels", "`selector` does not match template `labels`"},
		{"generated label removed", func(j *Job) {
			Default(j)
			delete(j.Spec.Template.Labels, JobNameLabel)
		}, "spec.template.metadata.labels[batch.kubernetes.io/job-name]", "Required value"},
		{"foreign selector", func(j *Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
			j.Spec.Template.Labels = map[string]string{"a": "b"}
		}, "spec.selector", "`selector` not auto-generated"},
		{"successPolicy refused", func(j *Job) { j.Spec.SuccessPolicy = &SuccessPolicy{} }, "spec.successPolicy", "Forbidden"},
		{"backoffLimitPerIndex refused", func(j *Job) { j.Spec.BackoffLimitPerIndex = ptr(int32(1)) }, "spec.backoffLimitPerIndex", "Forbidden"},
		{"maxFailedIndexes refused", func(j *Job) { j.Spec.MaxFailedIndexes = ptr(int32(1)) }, "spec.maxFailedIndexes", "Forbidden"},
		{"podReplacementPolicy", func(j *Job) { j.Spec.PodReplacementPolicy = ptr(PodReplacementPolicy("Never")) },
			"spec.podReplacementPolicy", "Unsupported value"},
		{"pod failure policy with OnFailure", func(j *Job) {
			j.Spec.Template.Spec.RestartPolicy = RestartOnFailure
			j.Spec.PodFailurePolicy = &PodFailurePolicy{Rules: []PodFailurePolicyRule{{Action: PodFailurePolicyActionFailJob,
				OnExitCodes: &PodFailurePolicyOnExitCodesRequirement{Operator: PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}}}}}
		}, "spec.template.spec.restartPolicy", `only "Never" is supported when podFailurePolicy is specified`},
		{"pod failure policy exit code 0", func(j *Job) {
			j.Spec.PodFailurePolicy = &PodFailurePolicy{Rules: []PodFailurePolicyRule{{Action: PodFailurePolicyActionFailJob,
				OnExitCodes: &PodFailurePolicyOnExitCodesRequirement{Operator: PodFailurePolicyOnExitCodesOpIn, Values: []int32{0}}}}}
		}, "spec.podFailurePolicy.rules[0].onExitCodes.values[0]", "must not be 0 for the In operator"},
		{"pod failure policy unordered", func(j *Job) {
			j.Spec.PodFailurePolicy = &PodFailurePolicy{Rules: []PodFailurePolicyRule{{Action: PodFailurePolicyActionCount,
				OnExitCodes: &PodFailurePolicyOnExitCodesRequirement{Operator: PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{3, 2}}}}}
		}, "spec.podFailurePolicy.rules[0].onExitCodes.values[1]", "must be ordered"},
		{"pod failure policy unknown container", func(j *Job) {
			j.Spec.PodFailurePolicy = &PodFailurePolicy{Rules: []PodFailurePolicyRule{{Action: PodFailurePolicyActionFailJob,
				OnExitCodes: &PodFailurePolicyOnExitCodesRequirement{ContainerName: ptr("nope"), Operator: PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}}}}}
		}, "spec.podFailurePolicy.rules[0].onExitCodes.containerName", "must be one of the container or initContainer names"},
		{"pod failure policy FailIndex", func(j *Job) {
			j.Spec.PodFailurePolicy = &PodFailurePolicy{Rules: []PodFailurePolicyRule{{Action: PodFailurePolicyActionFailIndex,
				OnExitCodes: &PodFailurePolicyOnExitCodesRequirement{Operator: PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}}}}}
		}, "spec.podFailurePolicy.rules[0].action", "requires the backoffLimitPerIndex to be set"},
		{"pod failure policy both", func(j *Job) {
			j.Spec.PodFailurePolicy = &PodFailurePolicy{Rules: []PodFailurePolicyRule{{Action: PodFailurePolicyActionIgnore,
				OnExitCodes:     &PodFailurePolicyOnExitCodesRequirement{Operator: PodFailurePolicyOnExitCodesOpIn, Values: []int32{1}},
				OnPodConditions: []PodFailurePolicyOnPodConditionsPattern{{Type: "DisruptionTarget"}}}}}
		}, "spec.podFailurePolicy.rules[0]", "specifying both OnExitCodes and OnPodConditions is not supported"},
		{"bad completed indexes", func(j *Job) { j.Status.CompletedIndexes = "3,1" }, "status.completedIndexes", "non-increasing order"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			j := newTestJob(tc.change)
			err := Validate(j)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid job refused: %v", err)
				}
				return
			}
			if CodeOf(err) != 422 || !namesField(err, tc.field) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want 422 on %s with %q", err, tc.field, tc.msg)
			}
		})
	}
}

func TestJobUpdateValidation(t *testing.T) {
	indexed := func(j *Job) {
		j.Spec.CompletionMode = ptr(IndexedCompletion)
		j.Spec.Completions, j.Spec.Parallelism = ptr(int32(3)), ptr(int32(3))
	}
	cases := []struct {
		name   string
		base   func(j *Job)
		change func(j *Job)
		field  string
		msg    string
	}{
		{"parallelism may change", nil, func(j *Job) { j.Spec.Parallelism = ptr(int32(4)) }, "", ""},
		{"suspend may change", nil, func(j *Job) { j.Spec.Suspend = ptr(true) }, "", ""},
		{"completions immutable", nil, func(j *Job) { j.Spec.Completions = ptr(int32(4)) }, "spec.completions", "field is immutable"},
		{"selector immutable", nil, func(j *Job) {
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{JobControllerUIDLabel: "1234", "x": "y"}}
			j.Spec.Template.Labels["x"] = "y"
		}, "spec.selector", "field is immutable"},
		{"template immutable", nil, func(j *Job) { j.Spec.Template.Spec.Containers[0].Image = "other" }, "spec.template", "field is immutable"},
		{"elastic indexed", indexed, func(j *Job) { j.Spec.Completions, j.Spec.Parallelism = ptr(int32(5)), ptr(int32(5)) }, "", ""},
		{"indexed completions alone", indexed, func(j *Job) { j.Spec.Completions = ptr(int32(5)) },
			"spec.completions", "can only be modified in tandem with spec.parallelism"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			old := newTestJob(tc.base)
			j := DeepCopy(old)
			tc.change(j)
			j.UID = "" // an update may leave it out
			err := ValidateUpdate(j, old)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid update refused: %v", err)
				}
				return
			}
			if CodeOf(err) != 422 || !namesField(err, tc.field) || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("got %v, want 422 on %s with %q", err, tc.field, tc.msg)
			}
		})
	}
}

func TestJobIndexes(t *testing.T) {
	cases := []struct {
		in   []int
		text string
	}{
		{nil, ""}, {[]int{0}, "0"}, {[]int{0, 1}, "0,1"}, {[]int{0, 1, 2, 5, 7, 8, 9}, "0-2,5,7-9"},
	}
	for _, tc := range cases {
		if got := FormatIndexes(tc.in); got != tc.text {
			t.Errorf("FormatIndexes(%v) = %q, want %q", tc.in, got, tc.text)
		}
		back, err := ParseIndexes(tc.text)
		if err != nil || !JSONEqual(back, tc.in) {
			t.Errorf("ParseIndexes(%q) = %v, %v", tc.text, back, err)
		}
	}
	for _, bad := range []string{"x", "2,1", "1-1", "-1", "1,1", "0-200000"} {
		if _, err := ParseIndexes(bad); err == nil {
			t.Errorf("ParseIndexes(%q) accepted", bad)
		}
	}
}
