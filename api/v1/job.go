package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// BatchGroup is the API group of Jobs.
const BatchGroup = "batch"

// Job runs pods until a number of them succeed, as Kubernetes' batch/v1
// Job. The leader's job controller (sched) creates the pods, counts their
// outcomes and sets the Job's conditions.
//
// Counting: orch counts the outcomes of the Job's pods that exist (the
// pods stay after they finish, and a finished Job keeps them until it is
// deleted), not through pod finalizers and uncountedTerminatedPods as
// Kubernetes does: a finished pod deleted by hand before its Job finished
// is no longer counted, and the controller makes up for it.
type Job struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       JobSpec   `json:"spec,omitempty"`
	Status     JobStatus `json:"status,omitempty"`
}

// CompletionMode says how a Job's pod completions are tracked.
type CompletionMode string

// The completion modes.
const (
	// NonIndexedCompletion: the Job completes after spec.completions
	// pods succeeded, each as good as the others.
	NonIndexedCompletion CompletionMode = "NonIndexed"
	// IndexedCompletion: each pod has an index in [0, completions); the Job
	// completes when every index has a succeeded pod.
	IndexedCompletion CompletionMode = "Indexed"
)

// PodReplacementPolicy says when a Job replaces a pod.
type PodReplacementPolicy string

// The pod replacement policies.
const (
	// TerminatingOrFailed replaces a pod as soon as it is terminating.
	TerminatingOrFailed PodReplacementPolicy = "TerminatingOrFailed"
	// Failed replaces a pod only once it has finished.
	Failed PodReplacementPolicy = "Failed"
)

// JobSpec is the desired behaviour of a Job.
type JobSpec struct {
	// Parallelism is the most pods the Job runs at once (default 1).
	Parallelism *int32 `json:"parallelism,omitempty"`
	// Completions is how many pods must succeed; nil means any one
	// success completes the Job once all its pods have finished.
	Completions *int32 `json:"completions,omitempty"`
	// ActiveDeadlineSeconds bounds how long the Job may be active, from
	// its startTime; past it the Job fails with DeadlineExceeded.
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
	// PodFailurePolicy decides what a failed pod means for the Job, by
	// its containers' exit codes and its conditions. Only with
	// restartPolicy Never.
	PodFailurePolicy *PodFailurePolicy `json:"podFailurePolicy,omitempty"`
	// SuccessPolicy is refused: orch does not support it.
	SuccessPolicy *SuccessPolicy `json:"successPolicy,omitempty"`
	// BackoffLimit is how many pod failures the Job tolerates before it
	// fails with BackoffLimitExceeded (default 6).
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
	// BackoffLimitPerIndex is refused: orch does not support it.
	BackoffLimitPerIndex *int32 `json:"backoffLimitPerIndex,omitempty"`
	// MaxFailedIndexes is refused: orch does not support it.
	MaxFailedIndexes *int32 `json:"maxFailedIndexes,omitempty"`
	// Selector selects the Job's pods; generated from the Job's uid
	// unless manualSelector is true.
	Selector *metav1.LabelSelector `json:"selector,omitempty"`
	// ManualSelector says the user chose the selector.
	ManualSelector *bool `json:"manualSelector,omitempty"`
	// Template is the pod the Job creates (restartPolicy Never or OnFailure).
	Template PodTemplateSpec `json:"template"`
	// TTLSecondsAfterFinished deletes the Job (and its pods) this long
	// after it finished.
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
	// CompletionMode is NonIndexed (default) or Indexed.
	CompletionMode *CompletionMode `json:"completionMode,omitempty"`
	// Suspend stops the Job: its active pods are deleted and none are
	// created until it is false again.
	Suspend *bool `json:"suspend,omitempty"`
	// PodReplacementPolicy is TerminatingOrFailed (default) or Failed
	// (the default when podFailurePolicy is set).
	PodReplacementPolicy *PodReplacementPolicy `json:"podReplacementPolicy,omitempty"`
	// ManagedBy names the controller of the Job; a Job managed by another
	// controller than JobControllerName is left alone by orch's.
	ManagedBy *string `json:"managedBy,omitempty"`
}

// JobControllerName is the managedBy value of Jobs orch's controller syncs.
const JobControllerName = "kubernetes.io/job-controller"

// SuccessPolicy declares when an Indexed Job succeeds early (refused).
type SuccessPolicy struct {
	Rules []SuccessPolicyRule `json:"rules"`
}

// SuccessPolicyRule is one rule of a SuccessPolicy (refused).
type SuccessPolicyRule struct {
	SucceededIndexes *string `json:"succeededIndexes,omitempty"`
	SucceededCount   *int32  `json:"succeededCount,omitempty"`
}

// PodFailurePolicyAction is what a matching rule does with a failed pod.
type PodFailurePolicyAction string

// The pod failure policy actions.
const (
	// PodFailurePolicyActionFailJob fails the Job (reason PodFailurePolicy).
	PodFailurePolicyActionFailJob PodFailurePolicyAction = "FailJob"
	// PodFailurePolicyActionFailIndex fails the pod's index (refused:
	// needs backoffLimitPerIndex).
	PodFailurePolicyActionFailIndex PodFailurePolicyAction = "FailIndex"
	// PodFailurePolicyActionIgnore does not count the failure.
	PodFailurePolicyActionIgnore PodFailurePolicyAction = "Ignore"
	// PodFailurePolicyActionCount counts the failure against backoffLimit.
	PodFailurePolicyActionCount PodFailurePolicyAction = "Count"
)

// PodFailurePolicyOnExitCodesOperator relates an exit code to the values.
type PodFailurePolicyOnExitCodesOperator string

// The exit code operators.
const (
	PodFailurePolicyOnExitCodesOpIn    PodFailurePolicyOnExitCodesOperator = "In"
	PodFailurePolicyOnExitCodesOpNotIn PodFailurePolicyOnExitCodesOperator = "NotIn"
)

// PodFailurePolicy is a list of rules; the first that matches a failed pod
// decides.
type PodFailurePolicy struct {
	Rules []PodFailurePolicyRule `json:"rules"`
}

// PodFailurePolicyRule matches a failed pod by its containers' exit codes
// or by its conditions (exactly one of the two).
type PodFailurePolicyRule struct {
	Action          PodFailurePolicyAction                   `json:"action"`
	OnExitCodes     *PodFailurePolicyOnExitCodesRequirement  `json:"onExitCodes,omitempty"`
	OnPodConditions []PodFailurePolicyOnPodConditionsPattern `json:"onPodConditions,omitempty"`
}

// PodFailurePolicyOnExitCodesRequirement matches a container that ended
// with an exit code In (or NotIn) the values; 0 is never matched.
type PodFailurePolicyOnExitCodesRequirement struct {
	// ContainerName restricts the match to one container.
	ContainerName *string                             `json:"containerName,omitempty"`
	Operator      PodFailurePolicyOnExitCodesOperator `json:"operator"`
	Values        []int32                             `json:"values"`
}

// PodFailurePolicyOnPodConditionsPattern matches a pod condition by type
// and status (default True).
type PodFailurePolicyOnPodConditionsPattern struct {
	Type   string `json:"type"`
	Status string `json:"status"`
}

// The Job condition types.
const (
	JobSuspended          = "Suspended"
	JobComplete           = "Complete"
	JobFailed             = "Failed"
	JobFailureTarget      = "FailureTarget"
	JobSuccessCriteriaMet = "SuccessCriteriaMet"
)

// The Job labels and annotations, as Kubernetes names them.
const (
	// JobControllerUIDLabel holds the Job's uid on its pods; the
	// generated selector selects on it.
	JobControllerUIDLabel = "batch.kubernetes.io/controller-uid"
	// JobNameLabel holds the Job's name on its pods.
	JobNameLabel = "batch.kubernetes.io/job-name"
	// LegacyJobControllerUIDLabel and LegacyJobNameLabel are the older
	// names Kubernetes still sets.
	LegacyJobControllerUIDLabel = "controller-uid"
	LegacyJobNameLabel          = "job-name"
	// JobCompletionIndexAnnotation holds an Indexed Job pod's index (also
	// a label).
	JobCompletionIndexAnnotation = "batch.kubernetes.io/job-completion-index"
	// JobCompletionIndexEnv is the variable that gives the index to the
	// containers of an Indexed Job's pod.
	JobCompletionIndexEnv = "JOB_COMPLETION_INDEX"
)

// JobStatus is the observed state of a Job.
type JobStatus struct {
	// Conditions are Suspended, FailureTarget, SuccessCriteriaMet,
	// Complete and Failed.
	Conditions []JobCondition `json:"conditions,omitempty" patchStrategy:"merge" patchMergeKey:"type"`
	// StartTime is when the controller first started the Job (reset when
	// a suspended Job resumes).
	StartTime *Time `json:"startTime,omitempty"`
	// CompletionTime is when the Job completed (only with Complete).
	CompletionTime *Time `json:"completionTime,omitempty"`
	// Active is how many of the Job's pods are pending or running.
	Active int32 `json:"active,omitempty"`
	// Succeeded is how many of the Job's pods succeeded.
	Succeeded int32 `json:"succeeded,omitempty"`
	// Failed is how many of the Job's pods failed (with restartPolicy
	// OnFailure, the restarts of its containers count too).
	Failed int32 `json:"failed,omitempty"`
	// Terminating is how many of the Job's pods are being deleted.
	Terminating *int32 `json:"terminating,omitempty"`
	// CompletedIndexes are an Indexed Job's succeeded indexes, as
	// intervals ("1,3-5,7").
	CompletedIndexes string `json:"completedIndexes,omitempty"`
	// Ready is how many of the Job's active pods are Ready.
	Ready *int32 `json:"ready,omitempty"`
}

// JobCondition is one condition of a Job.
type JobCondition struct {
	Type               string `json:"type"`
	Status             string `json:"status"`
	LastProbeTime      Time   `json:"lastProbeTime,omitempty"`
	LastTransitionTime Time   `json:"lastTransitionTime,omitempty"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
}

// JobHasCondition reports whether st has condition typ with status True.
func JobHasCondition(st *JobStatus, typ string) bool {
	for _, c := range st.Conditions {
		if c.Type == typ && c.Status == ConditionTrue {
			return true
		}
	}
	return false
}

// JobFinished reports whether the Job is Complete or Failed.
func JobFinished(j *Job) bool {
	return JobHasCondition(&j.Status, JobComplete) || JobHasCondition(&j.Status, JobFailed)
}

// JobIndexed reports whether the Job's completion mode is Indexed.
func JobIndexed(j *Job) bool {
	return j.Spec.CompletionMode != nil && *j.Spec.CompletionMode == IndexedCompletion
}
