package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// StatefulSet keeps pods with stable identities running, as Kubernetes'
// apps/v1 StatefulSet: pod <name>-<ordinal> for each ordinal, with the
// host name of the pod's name under the governing service's domain.
type StatefulSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       StatefulSetSpec   `json:"spec,omitempty"`
	Status     StatefulSetStatus `json:"status,omitempty"`
}

// Pod management policies of a stateful set.
const (
	// OrderedReadyPodManagement creates pods in ordinal order, each once the
	// one before is Running and Ready, and removes them in reverse order.
	OrderedReadyPodManagement = "OrderedReady"
	// ParallelPodManagement creates and removes pods all at once.
	ParallelPodManagement = "Parallel"
)

// Update strategies of a stateful set.
const (
	// RollingUpdateStatefulSetStrategyType replaces pods of an old revision
	// from the highest ordinal down, one at a time, above the partition.
	RollingUpdateStatefulSetStrategyType = "RollingUpdate"
	// OnDeleteStatefulSetStrategyType makes pods of the new revision only
	// when the old ones are deleted.
	OnDeleteStatefulSetStrategyType = "OnDelete"
)

// Labels the stateful set controller puts on its pods.
const (
	// StatefulSetPodNameLabel is the pod's own name, so a service can select
	// one pod of a set.
	StatefulSetPodNameLabel = "statefulset.kubernetes.io/pod-name"
	// PodIndexLabel is the pod's ordinal.
	PodIndexLabel = "apps.kubernetes.io/pod-index"
	// ControllerRevisionHashLabel names the revision the pod was made from.
	ControllerRevisionHashLabel = "controller-revision-hash"
)

// StatefulSetSpec is the desired state of a stateful set.
type StatefulSetSpec struct {
	// Replicas is the number of pods wanted (default 1).
	Replicas *int32 `json:"replicas,omitempty"`
	// Selector selects the pods the set counts. Required, must match the
	// template's labels and is immutable.
	Selector *metav1.LabelSelector `json:"selector"`
	// Template is the pod made for each ordinal.
	Template PodTemplateSpec `json:"template"`
	// VolumeClaimTemplates are claims each pod would get. orch has no
	// persistent volumes yet: a stateful set with any is refused.
	VolumeClaimTemplates []PersistentVolumeClaim `json:"volumeClaimTemplates,omitempty"`
	// ServiceName is the headless service that governs the set: each pod's
	// subdomain, so that it resolves as <pod>.<serviceName>.<ns>.svc.<domain>.
	ServiceName string `json:"serviceName,omitempty"`
	// PodManagementPolicy is OrderedReady (default) or Parallel; immutable.
	PodManagementPolicy string `json:"podManagementPolicy,omitempty"`
	// UpdateStrategy says how pods are replaced when the template changes.
	UpdateStrategy StatefulSetUpdateStrategy `json:"updateStrategy,omitempty"`
	// RevisionHistoryLimit is how many old revisions the set keeps
	// (default 10).
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
	// MinReadySeconds is how long a new pod must be ready before it counts
	// as available.
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// PersistentVolumeClaimRetentionPolicy says what happens to the claims
	// of volumeClaimTemplates; with none, only Retain (the default) is
	// accepted.
	PersistentVolumeClaimRetentionPolicy *StatefulSetPersistentVolumeClaimRetentionPolicy `json:"persistentVolumeClaimRetentionPolicy,omitempty"`
	// Ordinals sets the first ordinal of the set's pods (default 0).
	Ordinals *StatefulSetOrdinals `json:"ordinals,omitempty"`
}

// StatefulSetUpdateStrategy says how the controller replaces pods.
type StatefulSetUpdateStrategy struct {
	// Type is RollingUpdate (default) or OnDelete.
	Type string `json:"type,omitempty"`
	// RollingUpdate holds the parameters of a RollingUpdate.
	RollingUpdate *RollingUpdateStatefulSetStrategy `json:"rollingUpdate,omitempty"`
}

// RollingUpdateStatefulSetStrategy holds a rolling update's parameters.
type RollingUpdateStatefulSetStrategy struct {
	// Partition is the lowest ordinal updated: pods below it keep their
	// revision (default 0).
	Partition *int32 `json:"partition,omitempty"`
	// MaxUnavailable is how many pods an update may take down at once.
	// orch updates one at a time and refuses the field.
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
}

// StatefulSetPersistentVolumeClaimRetentionPolicy says whether claims are
// kept or deleted when the set is deleted or scaled down.
type StatefulSetPersistentVolumeClaimRetentionPolicy struct {
	// WhenDeleted is Retain or Delete.
	WhenDeleted string `json:"whenDeleted,omitempty"`
	// WhenScaled is Retain or Delete.
	WhenScaled string `json:"whenScaled,omitempty"`
}

// RetainPersistentVolumeClaimRetentionPolicyType keeps claims.
const RetainPersistentVolumeClaimRetentionPolicyType = "Retain"

// StatefulSetOrdinals sets the range of a set's ordinals.
type StatefulSetOrdinals struct {
	// Start is the first ordinal; the pods are start .. start+replicas-1.
	Start int32 `json:"start"`
}

// PersistentVolumeClaim is the shape of a claim template of a stateful
// set, decoded so that the set can be refused with a clear error: orch has
// no persistent volumes yet.
type PersistentVolumeClaim struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	// Spec is the claim's desired state.
	Spec PersistentVolumeClaimSpec `json:"spec,omitempty"`
}

// PersistentVolumeClaimSpec is what a claim asks for.
type PersistentVolumeClaimSpec struct {
	// AccessModes are the modes the volume should support.
	AccessModes []string `json:"accessModes,omitempty"`
	// Selector is a label query over volumes.
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// Resources are the storage the claim requests.
	Resources VolumeResourceRequirements `json:"resources,omitempty"`
	// VolumeName binds the claim to a named volume.
	VolumeName string `json:"volumeName,omitempty"`
	// StorageClassName names the claim's storage class.
	StorageClassName *string `json:"storageClassName,omitempty"`
	// VolumeMode is Filesystem or Block.
	VolumeMode *string `json:"volumeMode,omitempty"`
}

// VolumeResourceRequirements are a claim's storage requests and limits.
type VolumeResourceRequirements struct {
	// Limits is the most storage the claim may use.
	Limits ResourceList `json:"limits,omitempty"`
	// Requests is the least storage the claim needs.
	Requests ResourceList `json:"requests,omitempty"`
}

// StatefulSetStatus is the observed state of a stateful set.
type StatefulSetStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Replicas is the number of pods the set made that exist.
	Replicas int32 `json:"replicas"`
	// ReadyReplicas counts those that are Ready.
	ReadyReplicas int32 `json:"readyReplicas,omitempty"`
	// CurrentReplicas counts those of currentRevision.
	CurrentReplicas int32 `json:"currentReplicas,omitempty"`
	// UpdatedReplicas counts those of updateRevision.
	UpdatedReplicas int32 `json:"updatedReplicas,omitempty"`
	// CurrentRevision is the revision of the pods below the partition (all
	// pods once an update is done).
	CurrentRevision string `json:"currentRevision,omitempty"`
	// UpdateRevision is the revision of the current template.
	UpdateRevision string `json:"updateRevision,omitempty"`
	// CollisionCount counts hash collisions of the set's revision names.
	CollisionCount *int32 `json:"collisionCount,omitempty"`
	// Conditions are the set's conditions.
	Conditions []StatefulSetCondition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	// AvailableReplicas counts the ready pods ready for minReadySeconds.
	AvailableReplicas int32 `json:"availableReplicas"`
}

// StatefulSetCondition is one condition of a stateful set.
type StatefulSetCondition struct {
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

// PodTemplate returns the stateful set's pod template.
func (ss *StatefulSet) PodTemplate() *PodTemplateSpec { return &ss.Spec.Template }

// SpecReplicas returns spec.replicas.
func (ss *StatefulSet) SpecReplicas() *int32 { return ss.Spec.Replicas }

// SetSpecReplicas sets spec.replicas.
func (ss *StatefulSet) SetSpecReplicas(n int32) { ss.Spec.Replicas = &n }

// ScaleStatus returns status.replicas and spec.selector in label selector
// syntax, as Kubernetes' scale subresource of a StatefulSet.
func (ss *StatefulSet) ScaleStatus() ScaleStatus {
	st := ScaleStatus{Replicas: ss.Status.Replicas}
	if sel, err := metav1.LabelSelectorAsSelector(ss.Spec.Selector); err == nil {
		st.Selector = sel.String()
	}
	return st
}

// StatefulSetSelector returns the set's pod selector; a missing, empty or
// invalid one selects nothing.
func StatefulSetSelector(ss *StatefulSet) labels.Selector {
	if ss.Spec.Selector == nil {
		return labels.Nothing()
	}
	sel, err := metav1.LabelSelectorAsSelector(ss.Spec.Selector)
	if err != nil || sel.Empty() {
		return labels.Nothing()
	}
	return sel
}

// defaultStatefulSet is apps/v1's SetDefaults_StatefulSet.
func defaultStatefulSet(ss *StatefulSet) {
	s := &ss.Spec
	if s.PodManagementPolicy == "" {
		s.PodManagementPolicy = OrderedReadyPodManagement
	}
	if s.UpdateStrategy.Type == "" {
		s.UpdateStrategy.Type = RollingUpdateStatefulSetStrategyType
		if s.UpdateStrategy.RollingUpdate == nil {
			s.UpdateStrategy.RollingUpdate = &RollingUpdateStatefulSetStrategy{}
		}
	}
	if s.UpdateStrategy.Type == RollingUpdateStatefulSetStrategyType && s.UpdateStrategy.RollingUpdate != nil &&
		s.UpdateStrategy.RollingUpdate.Partition == nil {
		zero := int32(0)
		s.UpdateStrategy.RollingUpdate.Partition = &zero
	}
	if s.PersistentVolumeClaimRetentionPolicy == nil {
		s.PersistentVolumeClaimRetentionPolicy = &StatefulSetPersistentVolumeClaimRetentionPolicy{}
	}
	if s.PersistentVolumeClaimRetentionPolicy.WhenDeleted == "" {
		s.PersistentVolumeClaimRetentionPolicy.WhenDeleted = RetainPersistentVolumeClaimRetentionPolicyType
	}
	if s.PersistentVolumeClaimRetentionPolicy.WhenScaled == "" {
		s.PersistentVolumeClaimRetentionPolicy.WhenScaled = RetainPersistentVolumeClaimRetentionPolicyType
	}
	if s.Replicas == nil {
		one := int32(1)
		s.Replicas = &one
	}
	if s.RevisionHistoryLimit == nil {
		ten := int32(10)
		s.RevisionHistoryLimit = &ten
	}
	DefaultPodSpec(&s.Template.Spec)
}

// validateStatefulSet is Kubernetes' ValidateStatefulSetSpec and
// ValidateStatefulSetStatus (pkg/apis/apps/validation), with what orch
// cannot do yet refused.
func validateStatefulSet(ss *StatefulSet) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	spec := &ss.Spec
	switch spec.PodManagementPolicy {
	case "":
		errs = append(errs, field.Required(sp.Child("podManagementPolicy"), ""))
	case OrderedReadyPodManagement, ParallelPodManagement:
	default:
		errs = append(errs, field.Invalid(sp.Child("podManagementPolicy"), spec.PodManagementPolicy,
			"must be '"+OrderedReadyPodManagement+"' or '"+ParallelPodManagement+"'"))
	}
	up := sp.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		errs = append(errs, field.Required(up, ""))
	case OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			errs = append(errs, field.Invalid(up.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate,
				"only allowed for updateStrategy '"+RollingUpdateStatefulSetStrategyType+"'"))
		}
	case RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			if ru.Partition != nil && *ru.Partition < 0 {
				errs = append(errs, field.Invalid(up.Child("rollingUpdate", "partition"), int64(*ru.Partition), "must be greater than or equal to 0"))
			}
			if ru.MaxUnavailable != nil {
				errs = append(errs, field.Forbidden(up.Child("rollingUpdate", "maxUnavailable"),
					"not supported by orch: a rolling update replaces one pod at a time"))
			}
		}
	default:
		errs = append(errs, field.Invalid(up, spec.UpdateStrategy,
			"must be '"+RollingUpdateStatefulSetStrategyType+"' or '"+OnDeleteStatefulSetStrategyType+"'"))
	}
	if spec.Replicas != nil && *spec.Replicas < 0 {
		errs = append(errs, field.Invalid(sp.Child("replicas"), int64(*spec.Replicas), "must be greater than or equal to 0"))
	}
	if spec.MinReadySeconds < 0 {
		errs = append(errs, field.Invalid(sp.Child("minReadySeconds"), int64(spec.MinReadySeconds), "must be greater than or equal to 0"))
	}
	if spec.RevisionHistoryLimit != nil && *spec.RevisionHistoryLimit < 0 {
		errs = append(errs, field.Invalid(sp.Child("revisionHistoryLimit"), int64(*spec.RevisionHistoryLimit), "must be greater than or equal to 0"))
	}
	if spec.Ordinals != nil && spec.Ordinals.Start < 0 {
		errs = append(errs, field.Invalid(sp.Child("ordinals", "start"), int64(spec.Ordinals.Start), "must be greater than or equal to 0"))
	}
	if spec.ServiceName != "" {
		for _, msg := range isDNS1123Label(spec.ServiceName) {
			errs = append(errs, field.Invalid(sp.Child("serviceName"), spec.ServiceName, msg))
		}
	}
	if len(spec.VolumeClaimTemplates) > 0 {
		errs = append(errs, field.Forbidden(sp.Child("volumeClaimTemplates"),
			"orch has no persistent volumes yet: a stateful set may not have volume claim templates"))
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		pp := sp.Child("persistentVolumeClaimRetentionPolicy")
		for _, f := range []struct{ name, v string }{{"whenDeleted", p.WhenDeleted}, {"whenScaled", p.WhenScaled}} {
			if f.v != "" && f.v != RetainPersistentVolumeClaimRetentionPolicyType {
				errs = append(errs, field.NotSupported(pp.Child(f.name), f.v, []string{RetainPersistentVolumeClaimRetentionPolicyType}))
			}
		}
	}
	if spec.Selector == nil {
		errs = append(errs, field.Required(sp.Child("selector"), ""))
	} else {
		errs = append(errs, metav1validation.ValidateLabelSelector(spec.Selector,
			metav1validation.LabelSelectorValidationOptions{}, sp.Child("selector"))...)
		if len(spec.Selector.MatchLabels)+len(spec.Selector.MatchExpressions) == 0 {
			errs = append(errs, field.Invalid(sp.Child("selector"), spec.Selector, "empty selector is invalid for statefulset"))
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
	errs = append(errs, validateReplicaTemplateSpec(&t.Spec, "StatefulSet", tp.Child("spec"))...)
	if t.Spec.NodeName != "" {
		errs = append(errs, field.Forbidden(tp.Child("spec", "nodeName"), "a template may not name a node"))
	}
	// The controller sets both on every pod: its name and serviceName.
	if t.Spec.Hostname != "" {
		errs = append(errs, field.Forbidden(tp.Child("spec", "hostname"), "a stateful set's pods are named by the set"))
	}
	if t.Spec.Subdomain != "" {
		errs = append(errs, field.Forbidden(tp.Child("spec", "subdomain"), "a stateful set's pods are in the domain of spec.serviceName"))
	}
	return append(errs, validateStatefulSetStatus(&ss.Status, field.NewPath("status"))...)
}

// validateStatefulSetStatus is Kubernetes' ValidateStatefulSetStatus.
func validateStatefulSetStatus(st *StatefulSetStatus, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, f := range []struct {
		name string
		n    int64
	}{{"replicas", int64(st.Replicas)}, {"readyReplicas", int64(st.ReadyReplicas)},
		{"currentReplicas", int64(st.CurrentReplicas)}, {"updatedReplicas", int64(st.UpdatedReplicas)},
		{"availableReplicas", int64(st.AvailableReplicas)}, {"observedGeneration", st.ObservedGeneration}} {
		if f.n < 0 {
			errs = append(errs, field.Invalid(p.Child(f.name), f.n, "must be greater than or equal to 0"))
		}
	}
	if st.CollisionCount != nil && *st.CollisionCount < 0 {
		errs = append(errs, field.Invalid(p.Child("collisionCount"), int64(*st.CollisionCount), "must be greater than or equal to 0"))
	}
	const msg = "cannot be greater than status.replicas"
	for _, f := range []struct {
		name string
		n    int32
	}{{"readyReplicas", st.ReadyReplicas}, {"currentReplicas", st.CurrentReplicas}, {"updatedReplicas", st.UpdatedReplicas}} {
		if f.n > st.Replicas {
			errs = append(errs, field.Invalid(p.Child(f.name), f.n, msg))
		}
	}
	if st.AvailableReplicas > st.ReadyReplicas {
		errs = append(errs, field.Invalid(p.Child("availableReplicas"), st.AvailableReplicas, "cannot be greater than readyReplicas"))
	}
	return errs
}

// validateStatefulSetUpdate is Kubernetes' ValidateStatefulSetUpdate: only
// replicas, ordinals, template, updateStrategy, revisionHistoryLimit,
// persistentVolumeClaimRetentionPolicy and minReadySeconds may change.
func validateStatefulSetUpdate(ss, old *StatefulSet) field.ErrorList {
	a, b := ss.Spec, old.Spec
	for _, s := range []*StatefulSetSpec{&a, &b} {
		s.Replicas, s.Ordinals, s.Template, s.UpdateStrategy = nil, nil, PodTemplateSpec{}, StatefulSetUpdateStrategy{}
		s.RevisionHistoryLimit, s.PersistentVolumeClaimRetentionPolicy, s.MinReadySeconds = nil, nil, 0
	}
	if JSONEqual(a, b) {
		return nil
	}
	return field.ErrorList{field.Forbidden(field.NewPath("spec"), "updates to statefulset spec for fields other than "+
		"'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' "+
		"and 'minReadySeconds' are forbidden")}
}
