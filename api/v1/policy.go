package v1

import (
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// PolicyGroup is the API group of PodDisruptionBudgets and Evictions.
const PolicyGroup = "policy"

// PodDisruptionBudget bounds how many pods of a set may be down at once
// through voluntary disruptions (evictions), as Kubernetes' policy/v1
// PodDisruptionBudget.
type PodDisruptionBudget struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       PodDisruptionBudgetSpec   `json:"spec,omitempty"`
	Status     PodDisruptionBudgetStatus `json:"status,omitempty"`
}

// PodDisruptionBudgetSpec says which pods the budget covers and how many
// of them must stay available. Exactly one of MinAvailable and
// MaxUnavailable is set.
type PodDisruptionBudgetSpec struct {
	// MinAvailable is how many of the selected pods must still be
	// available after an eviction: a number or a percentage ("50%").
	MinAvailable *IntOrString `json:"minAvailable,omitempty"`
	// Selector selects the pods of the budget; an empty selector selects
	// every pod of the namespace, a missing one none.
	Selector *metav1.LabelSelector `json:"selector,omitempty" patchStrategy:"replace"`
	// MaxUnavailable is how many of the selected pods may be unavailable
	// after an eviction: a number or a percentage ("25%").
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
	// UnhealthyPodEvictionPolicy says when a running pod that is not
	// Ready may be evicted: IfHealthyBudget (the default) only while the
	// budget is met, AlwaysAllow always.
	UnhealthyPodEvictionPolicy *UnhealthyPodEvictionPolicyType `json:"unhealthyPodEvictionPolicy,omitempty"`
}

// UnhealthyPodEvictionPolicyType says when unhealthy pods may be evicted.
type UnhealthyPodEvictionPolicyType string

// The unhealthy pod eviction policies.
const (
	IfHealthyBudget UnhealthyPodEvictionPolicyType = "IfHealthyBudget"
	AlwaysAllow     UnhealthyPodEvictionPolicyType = "AlwaysAllow"
)

// PodDisruptionBudgetStatus is the budget as the disruption controller
// last computed it, less the evictions made since.
type PodDisruptionBudgetStatus struct {
	// ObservedGeneration is the spec generation the status was computed for.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// DisruptedPods are the pods evicted whose deletion the controller has
	// not yet seen, with the time of their eviction.
	DisruptedPods map[string]Time `json:"disruptedPods,omitempty"`
	// DisruptionsAllowed is how many more pods may be evicted now.
	DisruptionsAllowed int32 `json:"disruptionsAllowed"`
	// CurrentHealthy is how many selected pods are Ready.
	CurrentHealthy int32 `json:"currentHealthy"`
	// DesiredHealthy is how many selected pods must stay Ready.
	DesiredHealthy int32 `json:"desiredHealthy"`
	// ExpectedPods is how many pods the budget counts on.
	ExpectedPods int32 `json:"expectedPods"`
	// Conditions hold DisruptionAllowed.
	Conditions []Condition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
}

// The DisruptionAllowed condition and its reasons.
const (
	DisruptionAllowedCondition = "DisruptionAllowed"
	SufficientPodsReason       = "SufficientPods"
	InsufficientPodsReason     = "InsufficientPods"
	SyncFailedReason           = "SyncFailed"
	// DisruptionBudgetCause is the cause of an eviction refused by a budget.
	DisruptionBudgetCause = "DisruptionBudget"
)

// Condition is one aspect of an object's state, as meta/v1 Condition.
type Condition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	ObservedGeneration int64  `json:"observedGeneration,omitempty"`
	LastTransitionTime Time   `json:"lastTransitionTime"`
	Reason             string `json:"reason"`
	Message            string `json:"message"`
}

// PDBSelector returns the budget's pod selector: a missing selector
// selects nothing, an empty one every pod of the namespace
// (metav1.LabelSelectorAsSelector).
func PDBSelector(pdb *PodDisruptionBudget) (labels.Selector, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("poddisruptionbudget %s/%s: label selector: %w", pdb.Namespace, pdb.Name, err)
	}
	return sel, nil
}

// Eviction asks for a pod to be deleted with its disruption budget
// respected (POST .../pods/{name}/eviction), as policy/v1 Eviction.
type Eviction struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	// DeleteOptions are the options of the pod's deletion.
	DeleteOptions *DeleteOptions `json:"deleteOptions,omitempty"`
}

// validatePDB checks a PodDisruptionBudget as Kubernetes'
// ValidatePodDisruptionBudget, and also refuses a budget with neither
// minAvailable nor maxUnavailable.
func validatePDB(pdb *PodDisruptionBudget) field.ErrorList {
	sp := field.NewPath("spec")
	spec := pdb.Spec
	var errs field.ErrorList
	// Neither may be set, as in Kubernetes (whose disruption controller
	// then expects no pods, and so allows no disruption).
	if spec.MinAvailable != nil && spec.MaxUnavailable != nil {
		errs = append(errs, field.Invalid(sp, spec, "minAvailable and maxUnavailable cannot be both set"))
	}
	if spec.MinAvailable != nil {
		errs = append(errs, validatePositiveIntOrPercent(*spec.MinAvailable, sp.Child("minAvailable"))...)
	}
	if spec.MaxUnavailable != nil {
		errs = append(errs, validatePositiveIntOrPercent(*spec.MaxUnavailable, sp.Child("maxUnavailable"))...)
	}
	errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector,
		metav1validation.LabelSelectorValidationOptions{}, sp.Child("selector"))...)
	if p := spec.UnhealthyPodEvictionPolicy; p != nil && *p != IfHealthyBudget && *p != AlwaysAllow {
		errs = append(errs, field.NotSupported(sp.Child("unhealthyPodEvictionPolicy"), *p,
			[]string{string(AlwaysAllow), string(IfHealthyBudget)}))
	}
	errs = append(errs, validatePDBStatus(&pdb.Status, field.NewPath("status"))...)
	return errs
}

// validatePositiveIntOrPercent is Kubernetes' ValidatePositiveIntOrPercent
// and IsNotMoreThan100Percent.
func validatePositiveIntOrPercent(v IntOrString, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch v.Type {
	case intstr.String:
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			errs = append(errs, field.Invalid(p, v, msg))
		}
		if len(errs) == 0 {
			if n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%")); err == nil && n > 100 {
				errs = append(errs, field.Invalid(p, v, "must not be greater than 100%"))
			}
		}
	case intstr.Int:
		if v.IntVal < 0 {
			errs = append(errs, field.Invalid(p, v.IntVal, "must be greater than or equal to 0"))
		}
	default:
		errs = append(errs, field.Invalid(p, v, "must be an integer or percentage (e.g '5%')"))
	}
	return errs
}

// validatePDBStatus is Kubernetes' ValidatePodDisruptionBudgetStatusUpdate.
func validatePDBStatus(st *PodDisruptionBudgetStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		v    int32
	}{{"disruptionsAllowed", st.DisruptionsAllowed}, {"currentHealthy", st.CurrentHealthy},
		{"desiredHealthy", st.DesiredHealthy}, {"expectedPods", st.ExpectedPods}} {
		if f.v < 0 {
			errs = append(errs, field.Invalid(p.Child(f.name), int64(f.v), "must be greater than or equal to 0"))
		}
	}
	if st.ObservedGeneration < 0 {
		errs = append(errs, field.Invalid(p.Child("observedGeneration"), st.ObservedGeneration, "must be greater than or equal to 0"))
	}
	conds := make([]metav1.Condition, 0, len(st.Conditions))
	for _, c := range st.Conditions {
		conds = append(conds, metav1.Condition{Type: c.Type, Status: metav1.ConditionStatus(c.Status),
			ObservedGeneration: c.ObservedGeneration, LastTransitionTime: metav1.Time{Time: c.LastTransitionTime.Time},
			Reason: c.Reason, Message: c.Message})
	}
	errs = append(errs, metav1validation.ValidateConditions(conds, p.Child("conditions"))...)
	return errs
}
