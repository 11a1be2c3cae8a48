package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// AppsGroup is the API group of ReplicaSets.
const AppsGroup = "apps"

// ReplicaSet keeps a number of pods matching its set-based selector
// running, as Kubernetes' apps/v1 ReplicaSet: the replication controller
// with a metav1.LabelSelector.
type ReplicaSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ReplicaSetSpec   `json:"spec,omitempty"`
	Status     ReplicaSetStatus `json:"status,omitempty"`
}

// ReplicaSetSpec is the desired state of a replica set.
type ReplicaSetSpec struct {
	// Replicas is the number of pods wanted (default 1).
	Replicas *int32 `json:"replicas,omitempty"`
	// MinReadySeconds is how long a new pod must be ready, with no
	// container crashing, before it counts as available.
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// Selector selects the pods the set counts (matchLabels and
	// matchExpressions). Required, must match the template's labels and is
	// immutable.
	Selector *metav1.LabelSelector `json:"selector"`
	// Template is the pod made when too few match the selector.
	Template PodTemplateSpec `json:"template,omitempty"`
}

// ReplicaSetStatus is the observed state of a replica set.
type ReplicaSetStatus struct {
	// Replicas is the number of active pods the set controls.
	Replicas int32 `json:"replicas"`
	// FullyLabeledReplicas counts those whose labels match the template's.
	FullyLabeledReplicas int32 `json:"fullyLabeledReplicas,omitempty"`
	// ReadyReplicas counts those that are Ready.
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// AvailableReplicas counts those Ready for at least minReadySeconds.
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// ObservedGeneration is the generation the status was computed for.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Conditions are the set's conditions (ReplicaFailure).
	Conditions []ReplicaSetCondition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// ReplicaSetCondition is one condition of a replica set.
type ReplicaSetCondition struct {
	// Type is the condition's type: ReplicaFailure.
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

// PodTemplate returns the replica set's pod template.
func (rs *ReplicaSet) PodTemplate() *PodTemplateSpec { return &rs.Spec.Template }

// SpecReplicas returns spec.replicas.
func (rs *ReplicaSet) SpecReplicas() *int32 { return rs.Spec.Replicas }

// SetSpecReplicas sets spec.replicas.
func (rs *ReplicaSet) SetSpecReplicas(n int32) { rs.Spec.Replicas = &n }

// ScaleStatus returns status.replicas and spec.selector in label selector
// syntax, as Kubernetes' scale subresource of a ReplicaSet.
func (rs *ReplicaSet) ScaleStatus() ScaleStatus {
	st := ScaleStatus{Replicas: rs.Status.Replicas}
	if sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector); err == nil {
		st.Selector = sel.String()
	}
	return st
}

// ReplicaSetSelector returns the set's pod selector. A missing or invalid
// selector selects nothing (validation refuses both; a stored set always
// has a valid one).
func ReplicaSetSelector(rs *ReplicaSet) labels.Selector {
	if rs.Spec.Selector == nil {
		return labels.Nothing()
	}
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil || sel.Empty() {
		return labels.Nothing()
	}
	return sel
}

// defaultReplicaSet is apps/v1's SetDefaults_ReplicaSet: one replica. The
// selector and labels are not defaulted from the template (they were in
// extensions/v1beta1).
func defaultReplicaSet(rs *ReplicaSet) {
	if rs.Spec.Replicas == nil {
		one := int32(1)
		rs.Spec.Replicas = &one
	}
	DefaultPodSpec(&rs.Spec.Template.Spec)
}

// validateReplicaSet is Kubernetes' ValidateReplicaSetSpec and
// ValidateReplicaSetStatus (pkg/apis/apps/validation).
func validateReplicaSet(rs *ReplicaSet) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	spec := &rs.Spec
	if spec.Replicas != nil && *spec.Replicas < 0 {
		errs = append(errs, field.Invalid(sp.Child("replicas"), int64(*spec.Replicas), "must be greater than or equal to 0"))
	}
	if spec.MinReadySeconds < 0 {
		errs = append(errs, field.Invalid(sp.Child("minReadySeconds"), int64(spec.MinReadySeconds), "must be greater than or equal to 0"))
	}
	if spec.Selector == nil {
		errs = append(errs, field.Required(sp.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector,
			metav1validation.LabelSelectorValidationOptions{}, sp.Child("selector"))...)
		if len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(sp.Child("selector"), spec.Selector, "empty selector is invalid for deployment"))
		}
	}
	tp := sp.Child("template")
	t := &spec.Template
	sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil {
		errs = append(errs, field.Invalid(sp.Child("selector"), spec.Selector, "invalid label selector"))
	} else if !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		errs = append(errs, field.Invalid(tp.Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	errs = append(errs, ValidateLabels(t.Labels, tp.Child("metadata", "labels"))...)
	errs = append(errs, ValidatePodSpec(&t.Spec, tp.Child("spec"))...)
	errs = append(errs, validateReplicaTemplateSpec(&t.Spec, "ReplicaSet", tp.Child("spec"))...)
	if t.Spec.NodeName != "" {
		errs = append(errs, field.Forbidden(tp.Child("spec", "nodeName"), "a template may not name a node"))
	}
	return append(errs, validateReplicaSetStatus(&rs.Status, field.NewPath("status"))...)
}

// validateReplicaSetStatus is Kubernetes' ValidateReplicaSetStatus.
func validateReplicaSetStatus(st *ReplicaSetStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		n    int64
	}{{"replicas", int64(st.Replicas)}, {"fullyLabeledReplicas", int64(st.FullyLabeledReplicas)},
		{"readyReplicas", int64(st.ReadyReplicas)}, {"availableReplicas", int64(st.AvailableReplicas)},
		{"observedGeneration", st.ObservedGeneration}} {
		if f.n < 0 {
			errs = append(errs, field.Invalid(p.Child(f.name), f.n, "must be greater than or equal to 0"))
		}
	}
	if st.FullyLabeledReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("fullyLabeledReplicas"), st.FullyLabeledReplicas, "cannot be greater than status.replicas"))
	}
	if st.ReadyReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), st.ReadyReplicas, "cannot be greater than status.replicas"))
	}
	if st.AvailableReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than status.replicas"))
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

// validateReplicaSetUpdate refuses a change of the selector: it is
// immutable in apps/v1 (Kubernetes' ValidateReplicaSetUpdate).
func validateReplicaSetUpdate(rs, old *ReplicaSet) field.ErrorList {
	if JSONEqual(rs.Spec.Selector, old.Spec.Selector) {
		return nil
	}
	return field.ErrorList{field.Invalid(field.NewPath("spec", "selector"), rs.Spec.Selector, "field is immutable")}
}
