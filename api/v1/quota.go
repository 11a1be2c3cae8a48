package v1

// ResourceQuota bounds what the objects of one namespace may use, as
// Kubernetes' core/v1 ResourceQuota. spec.hard is what is allowed;
// status.hard and status.used are the FSM's: it copies spec.hard and counts
// the namespace's objects whenever the quota is written (a status written
// by a client is recounted at once, as Kubernetes' quota controller would
// correct it), and charges or releases usage in the same transaction as
// every create and removal.
type ResourceQuota struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ResourceQuotaSpec   `json:"spec,omitempty"`
	Status     ResourceQuotaStatus `json:"status,omitempty"`
}

// ResourceQuotaSpec is the desired hard limits and which objects they cover.
type ResourceQuotaSpec struct {
	// Hard maps a quota resource name (pods, requests.cpu, count/services,
	// ...) to the most the namespace may use.
	Hard ResourceList `json:"hard,omitempty"`
	// Scopes narrow the quota to the pods that match all of them.
	Scopes []ResourceQuotaScope `json:"scopes,omitempty"`
	// ScopeSelector is accepted by the decoder so a Kubernetes manifest
	// loads, and refused by validation: orch does not evaluate it.
	ScopeSelector *ScopeSelector `json:"scopeSelector,omitempty"`
}

// ScopeSelector selects quota scopes by expressions (not supported by orch).
type ScopeSelector struct {
	MatchExpressions []ScopedResourceSelectorRequirement `json:"matchExpressions,omitempty"`
}

// ScopedResourceSelectorRequirement is one expression of a ScopeSelector.
type ScopedResourceSelectorRequirement struct {
	ScopeName ResourceQuotaScope `json:"scopeName"`
	Operator  string             `json:"operator"`
	Values    []string           `json:"values,omitempty"`
}

// ResourceQuotaStatus is the enforced hard limits and the current usage.
type ResourceQuotaStatus struct {
	Hard ResourceList `json:"hard,omitempty"`
	Used ResourceList `json:"used,omitempty"`
}

// ResourceQuotaScope names a class of pods a quota may be limited to.
type ResourceQuotaScope string

// The quota scopes orch supports (Kubernetes' PriorityClass and
// CrossNamespacePodAffinity scopes are refused by validation).
const (
	// QuotaScopeTerminating matches pods with spec.activeDeadlineSeconds >= 0.
	QuotaScopeTerminating ResourceQuotaScope = "Terminating"
	// QuotaScopeNotTerminating matches pods without an active deadline.
	QuotaScopeNotTerminating ResourceQuotaScope = "NotTerminating"
	// QuotaScopeBestEffort matches pods of the BestEffort QoS class.
	QuotaScopeBestEffort ResourceQuotaScope = "BestEffort"
	// QuotaScopeNotBestEffort matches pods of the Burstable and Guaranteed classes.
	QuotaScopeNotBestEffort ResourceQuotaScope = "NotBestEffort"
)

// Quota resource names (Kubernetes' core/v1 names).
const (
	ResourceRequestsCPU            ResourceName = "requests.cpu"
	ResourceRequestsMemory         ResourceName = "requests.memory"
	ResourceLimitsCPU              ResourceName = "limits.cpu"
	ResourceLimitsMemory           ResourceName = "limits.memory"
	ResourceServices               ResourceName = "services"
	ResourceServicesNodePorts      ResourceName = "services.nodeports"
	ResourceServicesLoadBalancer   ResourceName = "services.loadbalancers"
	ResourceReplicationControllers ResourceName = "replicationcontrollers"
	ResourceQuotas                 ResourceName = "resourcequotas"
	// ObjectCountPrefix prefixes an object count: count/<resource>.
	ObjectCountPrefix = "count/"
)

// LimitRange sets defaults and bounds for the compute resources of the pods
// and containers of one namespace, as Kubernetes' core/v1 LimitRange. The
// API server applies it when a pod is created.
type LimitRange struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       LimitRangeSpec `json:"spec,omitempty"`
}

// LimitRangeSpec lists the limits, one item per kind of object.
type LimitRangeSpec struct {
	Limits []LimitRangeItem `json:"limits"`
}

// LimitType is what a LimitRangeItem bounds.
type LimitType string

// The limit types orch supports (Kubernetes' PersistentVolumeClaim type is
// refused by validation: orch has no volumes claims).
const (
	LimitTypePod       LimitType = "Pod"
	LimitTypeContainer LimitType = "Container"
)

// LimitRangeItem bounds one kind of object. Default and DefaultRequest
// apply to containers only.
type LimitRangeItem struct {
	Type                 LimitType    `json:"type"`
	Max                  ResourceList `json:"max,omitempty"`
	Min                  ResourceList `json:"min,omitempty"`
	Default              ResourceList `json:"default,omitempty"`
	DefaultRequest       ResourceList `json:"defaultRequest,omitempty"`
	MaxLimitRequestRatio ResourceList `json:"maxLimitRequestRatio,omitempty"`
}
