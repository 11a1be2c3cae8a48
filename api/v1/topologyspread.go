package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// LabelTopologyZone is the well-known node label naming a node's zone,
// the usual topology key of zone spreading.
const LabelTopologyZone = "topology.kubernetes.io/zone"

// UnsatisfiableConstraintAction says what the scheduler does with a pod
// whose topology spread constraint it cannot satisfy.
type UnsatisfiableConstraintAction string

// Actions of a topology spread constraint.
const (
	// DoNotSchedule leaves the pod pending: the constraint filters nodes.
	DoNotSchedule UnsatisfiableConstraintAction = "DoNotSchedule"
	// ScheduleAnyway places the pod, preferring the domains that keep the
	// skew low: the constraint scores nodes.
	ScheduleAnyway UnsatisfiableConstraintAction = "ScheduleAnyway"
)

// NodeInclusionPolicy says whether a scheduling directive of the pod
// decides which nodes count when the skew is computed.
type NodeInclusionPolicy string

// Node inclusion policies.
const (
	// NodeInclusionPolicyIgnore counts every node.
	NodeInclusionPolicyIgnore NodeInclusionPolicy = "Ignore"
	// NodeInclusionPolicyHonor counts only the nodes the directive admits.
	NodeInclusionPolicyHonor NodeInclusionPolicy = "Honor"
)

// TopologySpreadConstraint spreads the pods its labelSelector selects (in
// the pod's namespace) evenly over the domains of a topology: the nodes
// sharing a value of the label topologyKey.
type TopologySpreadConstraint struct {
	// MaxSkew is the most the number of matching pods in a domain may
	// exceed the global minimum (the fewest in any eligible domain, or 0
	// when there are fewer eligible domains than minDomains). Must be
	// greater than zero.
	MaxSkew int32 `json:"maxSkew"`
	// TopologyKey is the node label whose values are the domains. A node
	// without it is not a candidate for a DoNotSchedule constraint.
	TopologyKey string `json:"topologyKey"`
	// WhenUnsatisfiable is DoNotSchedule (nodes that would break maxSkew
	// are filtered out) or ScheduleAnyway (they are only scored lower).
	WhenUnsatisfiable UnsatisfiableConstraintAction `json:"whenUnsatisfiable"`
	// LabelSelector selects the pods counted in each domain; a nil
	// selector selects none.
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// MinDomains is the fewest eligible domains under which the global
	// minimum counts as 0; 1 when nil. Only with DoNotSchedule.
	MinDomains *int32 `json:"minDomains,omitempty"`
	// NodeAffinityPolicy: Honor (the default) counts only the nodes that
	// match the pod's nodeSelector and required node affinity; Ignore
	// counts every node.
	NodeAffinityPolicy *NodeInclusionPolicy `json:"nodeAffinityPolicy,omitempty"`
	// NodeTaintsPolicy: Honor counts only the nodes whose NoSchedule and
	// NoExecute taints the pod tolerates; Ignore (the default) counts
	// every node.
	NodeTaintsPolicy *NodeInclusionPolicy `json:"nodeTaintsPolicy,omitempty"`
	// MatchLabelKeys are keys of the pod's labels: when the pod is
	// created, key In (the pod's value) is added to labelSelector for
	// each key the pod has, so a controller's pods of one revision spread
	// among themselves. Requires labelSelector.
	MatchLabelKeys []string `json:"matchLabelKeys,omitempty"`
}
