package v1

import (
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// DaemonSet runs one pod of its template on every eligible node, as
// Kubernetes' apps/v1 DaemonSet.
type DaemonSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       DaemonSetSpec   `json:"spec,omitempty"`
	Status     DaemonSetStatus `json:"status,omitempty"`
}

// DaemonSetSpec is the desired state of a daemon set.
type DaemonSetSpec struct {
	// Selector selects the pods the daemon set counts (matchLabels and
	// matchExpressions). Required, must match the template's labels and is
	// immutable.
	Selector *metav1.LabelSelector `json:"selector"`
	// Template is the pod run on every eligible node; its nodeSelector,
	// node affinity and tolerations choose the nodes.
	Template PodTemplateSpec `json:"template"`
	// UpdateStrategy says how pods of an older template are replaced
	// (default RollingUpdate with maxUnavailable 1).
	UpdateStrategy DaemonSetUpdateStrategy `json:"updateStrategy,omitempty"`
	// MinReadySeconds is how long a new pod must be ready, with no
	// container crashing, before it counts as available.
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// RevisionHistoryLimit is how many old ControllerRevisions are kept
	// for rollback (default 10).
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
}

// Daemon set update strategies.
const (
	// DaemonSetRollingUpdate replaces old pods a few at a time.
	DaemonSetRollingUpdate = "RollingUpdate"
	// DaemonSetOnDelete replaces an old pod only once it is deleted.
	DaemonSetOnDelete = "OnDelete"
)

// DaemonSetUpdateStrategy is how a daemon set replaces its pods.
type DaemonSetUpdateStrategy struct {
	// Type is RollingUpdate (default) or OnDelete.
	Type string `json:"type,omitempty"`
	// RollingUpdate tunes a RollingUpdate; set only with that type.
	RollingUpdate *RollingUpdateDaemonSet `json:"rollingUpdate,omitempty"`
}

// RollingUpdateDaemonSet tunes a daemon set's rolling update. Exactly one
// of the two is non-zero.
type RollingUpdateDaemonSet struct {
	// MaxUnavailable is how many nodes (a number or a percentage of the
	// nodes that should run the pod, rounded up) may lack an available
	// pod during the update (default 1).
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
	// MaxSurge is how many nodes (a number or a percentage, rounded up)
	// may run an old and a new pod at once during the update (default 0).
	MaxSurge *IntOrString `json:"maxSurge,omitempty"`
}

// DaemonSetStatus is the observed state of a daemon set.
type DaemonSetStatus struct {
	// CurrentNumberScheduled is the number of nodes that run at least
	// one of the daemon set's pods and should.
	CurrentNumberScheduled int32 `json:"currentNumberScheduled"`
	// NumberMisscheduled is the number of nodes that run one of its pods
	// and should not.
	NumberMisscheduled int32 `json:"numberMisscheduled"`
	// DesiredNumberScheduled is the number of nodes that should run one.
	DesiredNumberScheduled int32 `json:"desiredNumberScheduled"`
	// NumberReady is the number of nodes that should run one and whose
	// pod is Ready.
	NumberReady int32 `json:"numberReady"`
	// ObservedGeneration is the generation the status was computed for.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// UpdatedNumberScheduled is the number of nodes that run a pod of the
	// current template.
	UpdatedNumberScheduled int32 `json:"updatedNumberScheduled,omitempty"`
	// NumberAvailable is the number of nodes that should run one and whose
	// pod has been ready for minReadySeconds.
	NumberAvailable int32 `json:"numberAvailable,omitempty"`
	// NumberUnavailable is the number of nodes that should run one and
	// have no available pod.
	NumberUnavailable int32 `json:"numberUnavailable,omitempty"`
	// CollisionCount counts hash collisions of the template's revisions;
	// it goes into the name of the next revision.
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// Conditions are the daemon set's conditions.
	Conditions []DaemonSetCondition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// DaemonSetCondition is one condition of a daemon set.
type DaemonSetCondition struct {
	// Type is the condition's type.
	Type string `json:"type"`
	// Status is True, False or Unknown.
	Status string `json:"status"`
	// LastTransitionTime is when the status last changed.
	LastTransitionTime Time `json:"lastTransitionTime,omitempty"`
	// Reason is the condition's reason, one CamelCase word.
	Reason string `json:"reason,omitempty"`
	// Message says what happened, for people.
	Message string `json:"message,omitempty"`
}

// PodTemplate returns the daemon set's pod template.
func (ds *DaemonSet) PodTemplate() *PodTemplateSpec { return &ds.Spec.Template }

// DaemonSetSelector returns the daemon set's pod selector. A missing or
// invalid selector selects nothing (validation refuses both).
func DaemonSetSelector(ds *DaemonSet) labels.Selector {
	if ds.Spec.Selector == nil {
		return labels.Nothing()
	}
	sel, err := metav1.LabelSelectorAsSelector(ds.Spec.Selector)
	if err != nil || sel.Empty() {
		return labels.Nothing()
	}
	return sel
}

// DefaultDaemonSetRevisionHistoryLimit is apps/v1's default
// revisionHistoryLimit of a daemon set.
const DefaultDaemonSetRevisionHistoryLimit = 10

// defaultDaemonSet is apps/v1's SetDefaults_DaemonSet: a RollingUpdate
// with maxUnavailable 1 and maxSurge 0, and ten revisions kept.
func defaultDaemonSet(ds *DaemonSet) {
	u := &ds.Spec.UpdateStrategy
	if u.Type == "" {
		u.Type = DaemonSetRollingUpdate
	}
	if u.Type == DaemonSetRollingUpdate {
		if u.RollingUpdate == nil {
			u.RollingUpdate = &RollingUpdateDaemonSet{}
		}
		if u.RollingUpdate.MaxUnavailable == nil {
			one := intstr.FromInt32(1)
			u.RollingUpdate.MaxUnavailable = &one
		}
		if u.RollingUpdate.MaxSurge == nil {
			zero := intstr.FromInt32(0)
			u.RollingUpdate.MaxSurge = &zero
		}
	}
	if ds.Spec.RevisionHistoryLimit == nil {
		n := int32(DefaultDaemonSetRevisionHistoryLimit)
		ds.Spec.RevisionHistoryLimit = &n
	}
	DefaultPodSpec(&ds.Spec.Template.Spec)
}

// validateDaemonSet is Kubernetes' ValidateDaemonSetSpec and
// ValidateDaemonSetStatus (pkg/apis/apps/validation).
func validateDaemonSet(ds *DaemonSet) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	spec := &ds.Spec
	if spec.Selector == nil {
		errs = append(errs, field.Required(sp.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector,
			metav1validation.LabelSelectorValidationOptions{}, sp.Child("selector"))...)
		if len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(sp.Child("selector"), spec.Selector, "empty selector is invalid for daemonset"))
		}
	}
	tp := sp.Child("template")
	t := &spec.Template
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, ValidateLabels(t.Labels, tp.Child("metadata", "labels"))...)
	errs = append(errs, ValidatePodSpec(&t.Spec, tp.Child("spec"))...)
	errs = append(errs, validateReplicaTemplateSpec(&t.Spec, "DaemonSet", tp.Child("spec"))...)
	if spec.MinReadySeconds < 0 {
		errs = append(errs, field.Invalid(sp.Child("minReadySeconds"), int64(spec.MinReadySeconds), "must be greater than or equal to 0"))
	}
	if n := spec.RevisionHistoryLimit; n != nil && *n < 0 {
		errs = append(errs, field.Invalid(sp.Child("revisionHistoryLimit"), int64(*n), "must be greater than or equal to 0"))
	}
	errs = append(errs, validateDaemonSetUpdateStrategy(&spec.UpdateStrategy, sp.Child("updateStrategy"))...)
	return append(errs, validateDaemonSetStatus(&ds.Status, field.NewPath("status"))...)
}

// validateDaemonSetUpdateStrategy is Kubernetes'
// ValidateDaemonSetUpdateStrategy and ValidateRollingUpdateDaemonSet.
func validateDaemonSetUpdateStrategy(u *DaemonSetUpdateStrategy, p *field.Path) field.ErrorList {
	switch u.Type {
	case DaemonSetOnDelete:
		if u.RollingUpdate != nil {
			// Kubernetes drops it when the type is OnDelete; orch refuses
			// rather than store a field it ignores.
			return field.ErrorList{field.Forbidden(p.Child("rollingUpdate"), "may not be specified when strategy `type` is 'OnDelete'")}
		}
		return nil
	case DaemonSetRollingUpdate:
	default:
		return field.ErrorList{field.NotSupported(p, u, []string{DaemonSetRollingUpdate, DaemonSetOnDelete})}
	}
	rp := p.Child("rollingUpdate")
	if u.RollingUpdate == nil {
		return field.ErrorList{field.Required(rp, "")}
	}
	var errs field.ErrorList
	ru := u.RollingUpdate
	zero := intstr.FromInt32(0)
	maxUnavailable, maxSurge := &zero, &zero
	if ru.MaxUnavailable != nil {
		maxUnavailable = ru.MaxUnavailable
	}
	if ru.MaxSurge != nil {
		maxSurge = ru.MaxSurge
	}
	errs = append(errs, validatePositiveIntOrPercent(*maxUnavailable, rp.Child("maxUnavailable"))...)
	errs = append(errs, validatePositiveIntOrPercent(*maxSurge, rp.Child("maxSurge"))...)
	hasUnavailable, hasSurge := intOrPercentValue(*maxUnavailable) != 0, intOrPercentValue(*maxSurge) != 0
	switch {
	case hasUnavailable && hasSurge:
		errs = append(errs, field.Invalid(rp.Child("maxSurge"), maxSurge, "may not be set when maxUnavailable is non-zero"))
	case !hasUnavailable && !hasSurge:
		errs = append(errs, field.Required(rp.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
	}
	return errs
}

// intOrPercentValue is Kubernetes' getIntOrPercentValue: the number, or
// the percentage's number (0 when it does not parse).
func intOrPercentValue(v IntOrString) int {
	if v.Type == intstr.Int {
		return int(v.IntVal)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil {
		return 0
	}
	return n
}

// validateDaemonSetStatus is Kubernetes' ValidateDaemonSetStatus: no
// count is negative.
func validateDaemonSetStatus(st *DaemonSetStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	counts := []struct {
		name string
		n    int64
	}{{"currentNumberScheduled", int64(st.CurrentNumberScheduled)}, {"numberMisscheduled", int64(st.NumberMisscheduled)},
		{"desiredNumberScheduled", int64(st.DesiredNumberScheduled)}, {"numberReady", int64(st.NumberReady)},
		{"observedGeneration", st.ObservedGeneration}, {"updatedNumberScheduled", int64(st.UpdatedNumberScheduled)},
		{"numberAvailable", int64(st.NumberAvailable)}, {"numberUnavailable", int64(st.NumberUnavailable)}}
	if st.CollisionCount != nil {
		counts = append(counts, struct {
			name string
			n    int64
		}{"collisionCount", int64(*st.CollisionCount)})
	}
	for _, f := range counts {
		if f.n < 0 {
			errs = append(errs, field.Invalid(p.Child(f.name), f.n, "must be greater than or equal to 0"))
		}
	}
	return errs
}

// validateDaemonSetUpdate refuses a change of the selector (immutable in
// apps/v1) and a smaller collisionCount (Kubernetes'
// ValidateDaemonSetUpdate and ValidateDaemonSetStatusUpdate).
func validateDaemonSetUpdate(ds, old *DaemonSet) field.ErrorList {
	var errs field.ErrorList
	if !JSONEqual(ds.Spec.Selector, old.Spec.Selector) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "selector"), ds.Spec.Selector, "field is immutable"))
	}
	if was := old.Status.CollisionCount; was != nil {
		if is := ds.Status.CollisionCount; is == nil || *is < *was {
			var v any = nil
			if is != nil {
				v = *is
			}
			errs = append(errs, field.Invalid(field.NewPath("status", "collisionCount"), v, "cannot be decremented"))
		}
	}
	return errs
}
