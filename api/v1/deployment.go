package v1

import (
	"fmt"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Deployment rolls a pod template out through ReplicaSets, as Kubernetes'
// apps/v1 Deployment: one ReplicaSet per template revision, the newest
// scaled up and the older ones down by its strategy.
type Deployment struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       DeploymentSpec   `json:"spec,omitempty"`
	Status     DeploymentStatus `json:"status,omitempty"`
}

// DeploymentSpec is the desired state of a deployment.
type DeploymentSpec struct {
	// Replicas is the number of pods wanted (default 1).
	Replicas *int32 `json:"replicas,omitempty"`
	// Selector selects the pods (and ReplicaSets) the deployment owns.
	// Required, must match the template's labels and is immutable.
	Selector *metav1.LabelSelector `json:"selector"`
	// Template is the pod template rolled out.
	Template PodTemplateSpec `json:"template"`
	// Strategy is how old pods are replaced by new ones.
	Strategy DeploymentStrategy `json:"strategy,omitempty" patchStrategy:"retainKeys"`
	// MinReadySeconds is how long a new pod must be ready before it counts
	// as available.
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// RevisionHistoryLimit is how many old ReplicaSets with no replicas are
	// kept for rollback (default 10).
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
	// Paused stops rollouts (scaling still applies).
	Paused bool `json:"paused,omitempty"`
	// ProgressDeadlineSeconds is how long a rollout may go without progress
	// before the deployment reports ProgressDeadlineExceeded (default 600).
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
}

// Deployment strategy types.
const (
	RecreateDeploymentStrategyType      = "Recreate"
	RollingUpdateDeploymentStrategyType = "RollingUpdate"
)

// DeploymentStrategy is how a deployment replaces its pods.
type DeploymentStrategy struct {
	// Type is Recreate or RollingUpdate (default).
	Type string `json:"type,omitempty"`
	// RollingUpdate shapes a RollingUpdate; only with that type.
	RollingUpdate *RollingUpdateDeployment `json:"rollingUpdate,omitempty"`
}

// RollingUpdateDeployment bounds a rolling update.
type RollingUpdateDeployment struct {
	// MaxUnavailable is how many pods (or what percentage of replicas,
	// rounded down) may be unavailable during the update (default 25%).
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
	// MaxSurge is how many pods (or what percentage, rounded up) may exist
	// beyond replicas during the update (default 25%).
	MaxSurge *IntOrString `json:"maxSurge,omitempty"`
}

// DeploymentStatus is the observed state of a deployment.
type DeploymentStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Replicas is the number of pods of all the deployment's ReplicaSets.
	Replicas int32 `json:"replicas,omitempty"`
	// UpdatedReplicas counts the pods of the newest template.
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// ReadyReplicas counts the ready pods.
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// AvailableReplicas counts the pods ready for minReadySeconds.
	AvailableReplicas int32 `json:"availableReplicas,omitempty"`
	// UnavailableReplicas is replicas wanted minus available ones.
	UnavailableReplicas int32 `json:"unavailableReplicas,omitempty"`
	// Conditions are Available, Progressing and ReplicaFailure.
	Conditions []DeploymentCondition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	// CollisionCount counts hash collisions of the template; it is mixed
	// into the pod-template-hash to find a free ReplicaSet name.
	CollisionCount *int32 `json:"collisionCount,omitempty"`
}

// Deployment condition types.
const (
	DeploymentAvailable      = "Available"
	DeploymentProgressing    = "Progressing"
	DeploymentReplicaFailure = "ReplicaFailure"
)

// DeploymentCondition is one condition of a deployment.
type DeploymentCondition struct {
	// Type is Available, Progressing or ReplicaFailure.
	Type string `json:"type"`
	// Status is True, False or Unknown.
	Status string `json:"status"`
	// LastUpdateTime is when the condition was last written.
	LastUpdateTime Time `json:"lastUpdateTime,omitempty"`
	// LastTransitionTime is when the status last changed.
	LastTransitionTime Time `json:"lastTransitionTime,omitempty"`
	// Reason is the condition's reason, one CamelCase word.
	Reason string `json:"reason,omitempty"`
	// Message says what happened, for people.
	Message string `json:"message,omitempty"`
}

// Labels and annotations of deployments and their ReplicaSets, as
// Kubernetes names them (kubectl reads them).
const (
	// DefaultDeploymentUniqueLabelKey labels a deployment's ReplicaSets and
	// pods with the hash of their template.
	DefaultDeploymentUniqueLabelKey = "pod-template-hash"
	// RevisionAnnotation is the revision of a ReplicaSet (and of its
	// deployment: the newest).
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	// RevisionHistoryAnnotation lists a ReplicaSet's earlier revisions.
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	// DesiredReplicasAnnotation is the deployment's replicas when it last
	// scaled the ReplicaSet.
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	// MaxReplicasAnnotation is desired replicas plus maxSurge then.
	MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"
	// ChangeCauseAnnotation is what `kubectl rollout history` prints.
	ChangeCauseAnnotation = "kubernetes.io/change-cause"
)

// PodTemplate returns the deployment's pod template.
func (d *Deployment) PodTemplate() *PodTemplateSpec { return &d.Spec.Template }

// SpecReplicas returns spec.replicas.
func (d *Deployment) SpecReplicas() *int32 { return d.Spec.Replicas }

// SetSpecReplicas sets spec.replicas.
func (d *Deployment) SetSpecReplicas(n int32) { d.Spec.Replicas = &n }

// ScaleStatus returns status.replicas and spec.selector in label selector
// syntax, as Kubernetes' scale subresource of a Deployment.
func (d *Deployment) ScaleStatus() ScaleStatus {
	st := ScaleStatus{Replicas: d.Status.Replicas}
	if sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
		st.Selector = sel.String()
	}
	return st
}

// DeploymentSelector returns the deployment's selector; a missing, empty
// or invalid one selects nothing.
func DeploymentSelector(d *Deployment) labels.Selector {
	if d.Spec.Selector == nil {
		return labels.Nothing()
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || sel.Empty() {
		return labels.Nothing()
	}
	return sel
}

// defaultDeployment is apps/v1's SetDefaults_Deployment.
func defaultDeployment(d *Deployment) {
	if d.Spec.Replicas == nil {
		one := int32(1)
		d.Spec.Replicas = &one
	}
	st := &d.Spec.Strategy
	if st.Type == "" {
		st.Type = RollingUpdateDeploymentStrategyType
	}
	if st.Type == RollingUpdateDeploymentStrategyType {
		if st.RollingUpdate == nil {
			st.RollingUpdate = &RollingUpdateDeployment{}
		}
		if st.RollingUpdate.MaxUnavailable == nil {
			v := intstr.FromString("25%")
			st.RollingUpdate.MaxUnavailable = &v
		}
		if st.RollingUpdate.MaxSurge == nil {
			v := intstr.FromString("25%")
			st.RollingUpdate.MaxSurge = &v
		}
	}
	if d.Spec.RevisionHistoryLimit == nil {
		n := int32(10)
		d.Spec.RevisionHistoryLimit = &n
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		n := int32(600)
		d.Spec.ProgressDeadlineSeconds = &n
	}
	DefaultPodSpec(&d.Spec.Template.Spec)
}

// validateDeployment is Kubernetes' ValidateDeploymentSpec and
// ValidateDeploymentStatus (pkg/apis/apps/validation).
func validateDeployment(d *Deployment) field.ErrorList {
	var errs field.ErrorList
	sp := pathSpec
	spec := &d.Spec
	nonNegative := func(name string, n int64) {
		if n < 0 {
			errs = append(errs, field.Invalid(sp.Child(name), n, "must be greater than or equal to 0"))
		}
	}
	if spec.Replicas != nil {
		nonNegative("replicas", int64(*spec.Replicas))
	}
	selectorValid := true
	if spec.Selector == nil {
		errs = append(errs, field.Required(sp.Child("selector"), ""))
	} else {
		selErrs := metav1validation.ValidateLabelSelector(spec.Selector,
			metav1validation.LabelSelectorValidationOptions{}, sp.Child("selector"))
		selectorValid = len(selErrs) == 0
		errs = append(errs, selErrs...)
		if len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(sp.Child("selector"), spec.Selector, "empty selector is invalid for deployment"))
		}
	}
	tp := pathFn(func() *field.Path { return sp.Child("template") })
	t := &spec.Template
	switch invalid, mismatch := templateSelectorVerdict(spec.Selector, selectorValid, t.Labels); {
	case invalid:
		errs = append(errs, field.Invalid(sp.Child("selector"), spec.Selector, "invalid label selector"))
	case mismatch:
		errs = append(errs, field.Invalid(tp().Child("metadata", "labels"), t.Labels, "`selector` does not match template `labels`"))
	}
	if len(t.Labels) > 0 {
		errs = append(errs, validateLabelsAt(t.Labels, func() *field.Path { return tp().Child("metadata", "labels") })...)
	}
	tsp := tp.child("spec")
	errs = append(errs, ValidatePodSpec(&t.Spec, tsp)...)
	errs = append(errs, validateReplicaTemplateSpec(&t.Spec, "Deployment", tsp)...)
	if t.Spec.NodeName != "" {
		errs = append(errs, field.Forbidden(tp().Child("spec", "nodeName"), "a template may not name a node"))
	}
	errs = append(errs, validateDeploymentStrategy(&spec.Strategy, func() *field.Path { return sp.Child("strategy") })...)
	nonNegative("minReadySeconds", int64(spec.MinReadySeconds))
	if spec.RevisionHistoryLimit != nil {
		nonNegative("revisionHistoryLimit", int64(*spec.RevisionHistoryLimit))
	}
	if spec.ProgressDeadlineSeconds != nil {
		nonNegative("progressDeadlineSeconds", int64(*spec.ProgressDeadlineSeconds))
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			errs = append(errs, field.Invalid(sp.Child("progressDeadlineSeconds"), *spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return append(errs, validateDeploymentStatus(&d.Status, pathStatus)...)
}

// validateDeploymentStrategy is Kubernetes' ValidateDeploymentStrategy and
// ValidateRollingUpdateDeployment, of the strategy at the path p makes
// (built only for an error).
func validateDeploymentStrategy(s *DeploymentStrategy, p pathFn) field.ErrorList {
	var errs field.ErrorList
	switch s.Type {
	case RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			errs = append(errs, field.Forbidden(p.child("rollingUpdate"),
				fmt.Sprintf("may not be specified when strategy `type` is '%s'", RecreateDeploymentStrategyType)))
		}
	case RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			return append(errs, field.Required(p.child("rollingUpdate"), "this should be defaulted and never be nil"))
		}
		rp := pathFn(func() *field.Path { return p.child("rollingUpdate") })
		mu, ms := s.RollingUpdate.MaxUnavailable, s.RollingUpdate.MaxSurge
		if mu == nil || ms == nil {
			return append(errs, field.Required(rp(), "maxUnavailable and maxSurge should be defaulted and never be nil"))
		}
		if !validIntOrPercent(*mu) {
			errs = append(errs, validateIntOrPercent(*mu, rp.child("maxUnavailable"))...)
		}
		if !validIntOrPercent(*ms) {
			errs = append(errs, validateIntOrPercent(*ms, rp.child("maxSurge"))...)
		}
		if intOrPercentValue(*mu) == 0 && intOrPercentValue(*ms) == 0 {
			errs = append(errs, field.Invalid(rp.child("maxUnavailable"), mu, "may not be 0 when `maxSurge` is 0"))
		}
		if mu.Type == intstr.String && intOrPercentValue(*mu) > 100 {
			errs = append(errs, field.Invalid(rp.child("maxUnavailable"), mu, "must not be greater than 100%"))
		}
	default:
		errs = append(errs, field.NotSupported(p.child("type"), s.Type,
			[]string{RecreateDeploymentStrategyType, RollingUpdateDeploymentStrategyType}))
	}
	return errs
}

// validIntOrPercent reports whether validateIntOrPercent accepts v.
func validIntOrPercent(v IntOrString) bool {
	switch v.Type {
	case intstr.String:
		n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
		return strings.HasSuffix(v.StrVal, "%") && err == nil && n >= 0
	case intstr.Int:
		return v.IntVal >= 0
	}
	return true
}

// validateIntOrPercent is Kubernetes' ValidatePositiveIntOrPercent: a
// non-negative integer or a percentage (which may exceed 100%).
func validateIntOrPercent(v IntOrString, p *field.Path) field.ErrorList {
	switch v.Type {
	case intstr.String:
		if !strings.HasSuffix(v.StrVal, "%") {
			return field.ErrorList{field.Invalid(p, v.StrVal, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")}
		}
		if n, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%")); err != nil || n < 0 {
			return field.ErrorList{field.Invalid(p, v.StrVal, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')")}
		}
	case intstr.Int:
		if v.IntVal < 0 {
			return field.ErrorList{field.Invalid(p, int64(v.IntVal), "must be greater than or equal to 0")}
		}
	}
	return nil
}

// validateDeploymentStatus is Kubernetes' ValidateDeploymentStatus.
func validateDeploymentStatus(st *DeploymentStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		n    int64
	}{{"observedGeneration", st.ObservedGeneration}, {"replicas", int64(st.Replicas)},
		{"updatedReplicas", int64(st.UpdatedReplicas)}, {"readyReplicas", int64(st.ReadyReplicas)},
		{"availableReplicas", int64(st.AvailableReplicas)}, {"unavailableReplicas", int64(st.UnavailableReplicas)}} {
		if f.n < 0 {
			errs = append(errs, field.Invalid(p.Child(f.name), f.n, "must be greater than or equal to 0"))
		}
	}
	if st.CollisionCount != nil && *st.CollisionCount < 0 {
		errs = append(errs, field.Invalid(p.Child("collisionCount"), int64(*st.CollisionCount), "must be greater than or equal to 0"))
	}
	const msg = "cannot be greater than status.replicas"
	if st.UpdatedReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("updatedReplicas"), st.UpdatedReplicas, msg))
	}
	if st.ReadyReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("readyReplicas"), st.ReadyReplicas, msg))
	}
	if st.AvailableReplicas > st.Replicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, msg))
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

// validateDeploymentUpdate refuses a change of the selector: it is
// immutable in apps/v1 (Kubernetes' ValidateDeploymentUpdate).
func validateDeploymentUpdate(d, old *Deployment) field.ErrorList {
	if JSONEqual(d.Spec.Selector, old.Spec.Selector) {
		return nil
	}
	return field.ErrorList{field.Invalid(field.NewPath("spec", "selector"), d.Spec.Selector, "field is immutable")}
}
