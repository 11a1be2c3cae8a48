package v1

import (
	"fmt"
	"slices"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Limits of a Job, as Kubernetes' batch validation.
const (
	// DefaultJobBackoffLimit is spec.backoffLimit when unset.
	DefaultJobBackoffLimit = int32(6)
	// maxParallelismForIndexedJob bounds an Indexed Job's parallelism and
	// completions (so completedIndexes stays bounded).
	maxParallelismForIndexedJob = 100000
	maxPodFailurePolicyRules    = 20
	maxPodFailurePolicyValues   = 255
	maxPodFailurePolicyPatterns = 20
)

// defaultJob fills a Job's defaults as Kubernetes' SetDefaults_Job and,
// for a new Job (uid set, no selector, manualSelector not true), generates
// the selector and the template labels as its strategy does: the selector
// matches batch.kubernetes.io/controller-uid, and the template gets that
// label, batch.kubernetes.io/job-name and their legacy names.
func defaultJob(j *Job) {
	s := &j.Spec
	one := int32(1)
	if s.Completions == nil && s.Parallelism == nil {
		c := one
		s.Completions = &c
	}
	if s.Parallelism == nil {
		p := one
		s.Parallelism = &p
	}
	if s.BackoffLimit == nil {
		b := DefaultJobBackoffLimit
		s.BackoffLimit = &b
	}
	if s.CompletionMode == nil {
		m := NonIndexedCompletion
		s.CompletionMode = &m
	}
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	if s.PodFailurePolicy != nil {
		for i := range s.PodFailurePolicy.Rules {
			for k := range s.PodFailurePolicy.Rules[i].OnPodConditions {
				if p := &s.PodFailurePolicy.Rules[i].OnPodConditions[k]; p.Status == "" {
					p.Status = ConditionTrue
				}
			}
		}
	}
	if s.PodReplacementPolicy == nil {
		p := TerminatingOrFailed
		if s.PodFailurePolicy != nil {
			p = Failed
		}
		s.PodReplacementPolicy = &p
	}
	manual := s.ManualSelector != nil && *s.ManualSelector
	if s.Selector == nil && !manual && j.UID != "" {
		s.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{JobControllerUIDLabel: j.UID}}
		if s.Template.Labels == nil {
			s.Template.Labels = map[string]string{}
		}
		s.Template.Labels[LegacyJobControllerUIDLabel] = j.UID
		s.Template.Labels[LegacyJobNameLabel] = j.Name
		s.Template.Labels[JobControllerUIDLabel] = j.UID
		s.Template.Labels[JobNameLabel] = j.Name
	}
	if len(j.Labels) == 0 && len(s.Template.Labels) > 0 {
		j.Labels = make(map[string]string, len(s.Template.Labels))
		for k, v := range s.Template.Labels {
			j.Labels[k] = v
		}
	}
	DefaultPodSpec(&s.Template.Spec)
}

// validateJob checks a Job as Kubernetes' ValidateJob: the generated
// selector, the spec and the status. Fields orch does not support are
// refused with 422 naming them.
func validateJob(j *Job) field.ErrorList {
	errs := validateGeneratedSelector(j)
	sp := field.NewPath("spec")
	s := &j.Spec
	if s.Selector == nil {
		errs = append(errs, field.Required(sp.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(s.Selector,
			metav1validation.LabelSelectorValidationOptions{}, sp.Child("selector"))...)
		if sel, err := metav1.LabelSelectorAsSelector(s.Selector); err == nil && !sel.Matches(labels.Set(s.Template.Labels)) {
			errs = append(errs, field.Invalid(sp.Child("template", "metadata", "labels"), s.Template.Labels,
				"`selector` does not match template `labels`"))
		}
	}
	errs = append(errs, validateJobSpec(s, sp)...)
	errs = append(errs, validateJobStatus(&j.Status, field.NewPath("status"))...)
	return errs
}

// validateGeneratedSelector is Kubernetes' ValidateGeneratedSelector: a
// Job whose selector was generated must carry the generated labels.
func validateGeneratedSelector(j *Job) field.ErrorList {
	var errs field.ErrorList
	if (j.Spec.ManualSelector != nil && *j.Spec.ManualSelector) || j.Spec.Selector == nil {
		return nil
	}
	if j.UID == "" {
		errs = append(errs, field.Required(field.NewPath("metadata", "uid"), ""))
	}
	mp := field.NewPath("spec", "template", "metadata")
	for _, l := range []struct{ key, want string }{
		{LegacyJobControllerUIDLabel, j.UID}, {LegacyJobNameLabel, j.Name},
		{JobControllerUIDLabel, j.UID}, {JobNameLabel, j.Name},
	} {
		got, ok := j.Spec.Template.Labels[l.key]
		switch {
		case !ok:
			errs = append(errs, field.Required(mp.Child("labels").Key(l.key), l.key))
		case got != l.want:
			errs = append(errs, field.Invalid(mp.Child("labels").Key(l.key), j.Spec.Template.Labels,
				fmt.Sprintf("must be '%s'", l.want)))
		}
	}
	if sel, err := metav1.LabelSelectorAsSelector(j.Spec.Selector); err == nil &&
		!sel.Matches(labels.Set{JobControllerUIDLabel: j.UID}) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), j.Spec.Selector, "`selector` not auto-generated"))
	}
	return errs
}

// validateJobSpec is Kubernetes' validateJobSpec for the fields orch has.
func validateJobSpec(s *JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	nonNegative := func(v *int64, name string) {
		if v != nil && *v < 0 {
			errs = append(errs, field.Invalid(p.Child(name), *v, "must be greater than or equal to 0"))
		}
	}
	i64 := func(v *int32) *int64 {
		if v == nil {
			return nil
		}
		x := int64(*v)
		return &x
	}
	nonNegative(i64(s.Parallelism), "parallelism")
	nonNegative(i64(s.Completions), "completions")
	nonNegative(s.ActiveDeadlineSeconds, "activeDeadlineSeconds")
	nonNegative(i64(s.BackoffLimit), "backoffLimit")
	nonNegative(i64(s.TTLSecondsAfterFinished), "ttlSecondsAfterFinished")
	for _, f := range []struct {
		set  bool
		name string
	}{
		{s.SuccessPolicy != nil, "successPolicy"},
		{s.BackoffLimitPerIndex != nil, "backoffLimitPerIndex"},
		{s.MaxFailedIndexes != nil, "maxFailedIndexes"},
	} {
		if f.set {
			errs = append(errs, field.Forbidden(p.Child(f.name), "orch does not support it yet"))
		}
	}
	if s.ManagedBy != nil {
		for _, msg := range validation.IsDomainPrefixedPath(p.Child("managedBy"), *s.ManagedBy) {
			errs = append(errs, msg)
		}
		if len(*s.ManagedBy) > 63 {
			errs = append(errs, field.TooLongMaxLength(p.Child("managedBy"), *s.ManagedBy, 63))
		}
	}
	if m := s.CompletionMode; m != nil {
		switch *m {
		case NonIndexedCompletion:
		case IndexedCompletion:
			if s.Completions == nil {
				errs = append(errs, field.Required(p.Child("completions"), fmt.Sprintf("when completion mode is %s", IndexedCompletion)))
			} else if *s.Completions > maxParallelismForIndexedJob {
				errs = append(errs, field.Invalid(p.Child("completions"), *s.Completions,
					fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, IndexedCompletion)))
			}
			if s.Parallelism != nil && *s.Parallelism > maxParallelismForIndexedJob {
				errs = append(errs, field.Invalid(p.Child("parallelism"), *s.Parallelism,
					fmt.Sprintf("must be less than or equal to %d when completion mode is %s", maxParallelismForIndexedJob, IndexedCompletion)))
			}
		default:
			errs = append(errs, field.NotSupported(p.Child("completionMode"), *m,
				[]CompletionMode{NonIndexedCompletion, IndexedCompletion}))
		}
	}
	if r := s.PodReplacementPolicy; r != nil {
		switch {
		case *r != TerminatingOrFailed && *r != Failed:
			errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *r,
				[]PodReplacementPolicy{Failed, TerminatingOrFailed}))
		case s.PodFailurePolicy != nil && *r != Failed:
			errs = append(errs, field.NotSupported(p.Child("podReplacementPolicy"), *r, []PodReplacementPolicy{Failed}))
		}
	}
	tp := p.Child("template")
	errs = append(errs, ValidateLabels(s.Template.Labels, tp.Child("metadata", "labels"))...)
	errs = append(errs, validateAnnotations(s.Template.Annotations, func() *field.Path { return tp.Child("metadata", "annotations") })...)
	errs = append(errs, ValidatePodSpec(&s.Template.Spec, tp.Child("spec"))...)
	if len(s.Template.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(tp.Child("spec", "ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	if s.Template.Spec.NodeName != "" {
		errs = append(errs, field.Forbidden(tp.Child("spec", "nodeName"), "a template may not name a node"))
	}
	switch rp := s.Template.Spec.RestartPolicy; {
	case rp != RestartOnFailure && rp != RestartNever:
		errs = append(errs, field.NotSupported(tp.Child("spec", "restartPolicy"), rp, []string{RestartOnFailure, RestartNever}))
	case s.PodFailurePolicy != nil && rp != RestartNever:
		errs = append(errs, field.Invalid(tp.Child("spec", "restartPolicy"), rp,
			fmt.Sprintf("only %q is supported when podFailurePolicy is specified", RestartNever)))
	}
	if s.PodFailurePolicy != nil {
		errs = append(errs, validatePodFailurePolicy(s, p.Child("podFailurePolicy"))...)
	}
	return errs
}

// validatePodFailurePolicy is Kubernetes' validatePodFailurePolicy.
func validatePodFailurePolicy(s *JobSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rp := p.Child("rules")
	rules := s.PodFailurePolicy.Rules
	if len(rules) > maxPodFailurePolicyRules {
		errs = append(errs, field.TooMany(rp, len(rules), maxPodFailurePolicyRules))
	}
	names := map[string]bool{}
	for _, c := range s.Template.Spec.Containers {
		names[c.Name] = true
	}
	for _, c := range s.Template.Spec.InitContainers {
		names[c.Name] = true
	}
	actions := []PodFailurePolicyAction{PodFailurePolicyActionCount, PodFailurePolicyActionFailIndex,
		PodFailurePolicyActionFailJob, PodFailurePolicyActionIgnore}
	for i, r := range rules {
		ip := rp.Index(i)
		switch {
		case !slices.Contains(actions, r.Action):
			errs = append(errs, field.NotSupported(ip.Child("action"), r.Action, actions))
		case r.Action == PodFailurePolicyActionFailIndex:
			// Kubernetes allows it only with backoffLimitPerIndex, which
			// orch refuses.
			errs = append(errs, field.Invalid(ip.Child("action"), r.Action, "requires the backoffLimitPerIndex to be set"))
		}
		switch {
		case r.OnExitCodes != nil && len(r.OnPodConditions) > 0:
			errs = append(errs, field.Invalid(ip, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
		case r.OnExitCodes == nil && len(r.OnPodConditions) == 0:
			errs = append(errs, field.Invalid(ip, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
		}
		if ec := r.OnExitCodes; ec != nil {
			ep := ip.Child("onExitCodes")
			if ec.ContainerName != nil && !names[*ec.ContainerName] {
				errs = append(errs, field.Invalid(ep.Child("containerName"), *ec.ContainerName,
					"must be one of the container or initContainer names in the pod template"))
			}
			if ec.Operator != PodFailurePolicyOnExitCodesOpIn && ec.Operator != PodFailurePolicyOnExitCodesOpNotIn {
				errs = append(errs, field.NotSupported(ep.Child("operator"), ec.Operator,
					[]PodFailurePolicyOnExitCodesOperator{PodFailurePolicyOnExitCodesOpIn, PodFailurePolicyOnExitCodesOpNotIn}))
			}
			vp := ep.Child("values")
			switch {
			case len(ec.Values) == 0:
				errs = append(errs, field.Required(vp, "at least one value is required"))
			case len(ec.Values) > maxPodFailurePolicyValues:
				errs = append(errs, field.TooMany(vp, len(ec.Values), maxPodFailurePolicyValues))
			}
			for k, v := range ec.Values {
				switch {
				case ec.Operator == PodFailurePolicyOnExitCodesOpIn && v == 0:
					errs = append(errs, field.Invalid(vp.Index(k), v, "must not be 0 for the In operator"))
				case k > 0 && ec.Values[k-1] == v:
					errs = append(errs, field.Duplicate(vp.Index(k), v))
				case k > 0 && ec.Values[k-1] > v:
					errs = append(errs, field.Invalid(vp.Index(k), v, "must be ordered"))
				}
			}
		}
		cp := ip.Child("onPodConditions")
		if len(r.OnPodConditions) > maxPodFailurePolicyPatterns {
			errs = append(errs, field.TooMany(cp, len(r.OnPodConditions), maxPodFailurePolicyPatterns))
		}
		for k, c := range r.OnPodConditions {
			for _, msg := range validation.IsQualifiedName(c.Type) {
				errs = append(errs, field.Invalid(cp.Index(k).Child("type"), c.Type, msg))
			}
			if c.Status != ConditionTrue && c.Status != ConditionFalse && c.Status != ConditionUnknown {
				errs = append(errs, field.NotSupported(cp.Index(k).Child("status"), c.Status,
					[]string{ConditionTrue, ConditionFalse, ConditionUnknown}))
			}
		}
	}
	return errs
}

// validateJobStatus is Kubernetes' ValidateJobStatus for orch's fields.
func validateJobStatus(st *JobStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		v    *int32
	}{{"active", &st.Active}, {"succeeded", &st.Succeeded}, {"failed", &st.Failed}, {"ready", st.Ready}, {"terminating", st.Terminating}} {
		if f.v != nil && *f.v < 0 {
			errs = append(errs, field.Invalid(p.Child(f.name), int64(*f.v), "must be greater than or equal to 0"))
		}
	}
	if _, err := ParseIndexes(st.CompletedIndexes); err != nil {
		errs = append(errs, field.Invalid(p.Child("completedIndexes"), st.CompletedIndexes, err.Error()))
	}
	if st.CompletionTime != nil && st.StartTime != nil && st.CompletionTime.Time.Before(st.StartTime.Time) {
		errs = append(errs, field.Invalid(p.Child("completionTime"), st.CompletionTime,
			"completionTime cannot be set before startTime"))
	}
	return errs
}

// validateJobUpdate is Kubernetes' ValidateJobSpecUpdate: the selector,
// the completion mode, the pod failure policy and the template are
// immutable; completions too, except for an Indexed Job whose
// completions change with parallelism (an elastic Indexed Job).
func validateJobUpdate(j, old *Job) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	immutable := func(a, b any, name string) {
		if !JSONEqual(a, b) {
			errs = append(errs, field.Invalid(sp.Child(name), a, "field is immutable"))
		}
	}
	immutable(j.Spec.Selector, old.Spec.Selector, "selector")
	immutable(j.Spec.CompletionMode, old.Spec.CompletionMode, "completionMode")
	immutable(j.Spec.PodFailurePolicy, old.Spec.PodFailurePolicy, "podFailurePolicy")
	immutable(j.Spec.ManagedBy, old.Spec.ManagedBy, "managedBy")
	immutable(j.Spec.Template, old.Spec.Template, "template")
	if !JobIndexed(j) {
		immutable(j.Spec.Completions, old.Spec.Completions, "completions")
	} else if !JSONEqual(j.Spec.Completions, old.Spec.Completions) && j.Spec.Completions != nil &&
		(j.Spec.Parallelism == nil || *j.Spec.Completions != *j.Spec.Parallelism) {
		errs = append(errs, field.Invalid(sp.Child("completions"), j.Spec.Completions,
			fmt.Sprintf("can only be modified in tandem with %s", sp.Child("parallelism"))))
	}
	return errs
}
