package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Well-known node labels every node carries from registration; the
// hostname is the usual topology key of pod (anti-)affinity.
const (
	LabelHostname = "kubernetes.io/hostname"
	LabelOS       = "kubernetes.io/os"
	LabelArch     = "kubernetes.io/arch"
)

// Affinity groups a pod's scheduling constraints: on node labels (node
// affinity) and on the pods already running in a topology domain (pod
// affinity and anti-affinity).
type Affinity struct {
	// NodeAffinity constrains the nodes the pod may go to, or prefers some.
	NodeAffinity *NodeAffinity `json:"nodeAffinity,omitempty"`
	// PodAffinity puts the pod in the same topology domain as other pods.
	PodAffinity *PodAffinity `json:"podAffinity,omitempty"`
	// PodAntiAffinity keeps the pod out of the topology domains of other pods.
	PodAntiAffinity *PodAntiAffinity `json:"podAntiAffinity,omitempty"`
}

// NodeAffinity is a group of node affinity rules.
type NodeAffinity struct {
	// RequiredDuringSchedulingIgnoredDuringExecution: the pod goes only to
	// a node that matches one of the terms. A node whose labels change
	// later keeps the pod.
	RequiredDuringSchedulingIgnoredDuringExecution *NodeSelector `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// PreferredDuringSchedulingIgnoredDuringExecution: the scheduler
	// prefers nodes matching the terms, the more so the higher the sum of
	// the weights of the terms they match.
	PreferredDuringSchedulingIgnoredDuringExecution []PreferredSchedulingTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// NodeSelector is the union (OR) of its terms.
type NodeSelector struct {
	// NodeSelectorTerms: a node matches when it matches one of them.
	NodeSelectorTerms []NodeSelectorTerm `json:"nodeSelectorTerms"`
}

// NodeSelectorTerm is the intersection (AND) of its requirements; an empty
// term matches no node.
type NodeSelectorTerm struct {
	// MatchExpressions are requirements on the node's labels.
	MatchExpressions []NodeSelectorRequirement `json:"matchExpressions,omitempty"`
	// MatchFields are requirements on the node's fields (metadata.name).
	MatchFields []NodeSelectorRequirement `json:"matchFields,omitempty"`
}

// NodeSelectorOperator relates a node label's key to values.
type NodeSelectorOperator string

// Node selector operators.
const (
	NodeSelectorOpIn           NodeSelectorOperator = "In"
	NodeSelectorOpNotIn        NodeSelectorOperator = "NotIn"
	NodeSelectorOpExists       NodeSelectorOperator = "Exists"
	NodeSelectorOpDoesNotExist NodeSelectorOperator = "DoesNotExist"
	NodeSelectorOpGt           NodeSelectorOperator = "Gt"
	NodeSelectorOpLt           NodeSelectorOperator = "Lt"
)

// NodeSelectorRequirement is a key, an operator and values: In and NotIn
// take values, Exists and DoesNotExist none, Gt and Lt one integer.
type NodeSelectorRequirement struct {
	// Key is the label key (or, in matchFields, the field: metadata.name).
	Key string `json:"key"`
	// Operator is In, NotIn, Exists, DoesNotExist, Gt or Lt.
	Operator NodeSelectorOperator `json:"operator"`
	// Values the operator compares the label's value with.
	Values []string `json:"values,omitempty"`
}

// PreferredSchedulingTerm is a node selector term with a weight.
type PreferredSchedulingTerm struct {
	// Weight, 1-100, added to the score of every node matching the preference.
	Weight int32 `json:"weight"`
	// Preference is the term a node should match.
	Preference NodeSelectorTerm `json:"preference"`
}

// PodAffinity is a group of inter-pod affinity rules.
type PodAffinity struct {
	// RequiredDuringSchedulingIgnoredDuringExecution: the pod goes only to
	// a node in a topology domain that runs pods matching every term.
	RequiredDuringSchedulingIgnoredDuringExecution []PodAffinityTerm `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// PreferredDuringSchedulingIgnoredDuringExecution: the scheduler
	// prefers topology domains running pods that match the terms.
	PreferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PodAntiAffinity is a group of inter-pod anti-affinity rules.
type PodAntiAffinity struct {
	// RequiredDuringSchedulingIgnoredDuringExecution: the pod never goes
	// to a topology domain running a pod that matches one of the terms,
	// and no later pod that matches a term goes to the pod's domain.
	RequiredDuringSchedulingIgnoredDuringExecution []PodAffinityTerm `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// PreferredDuringSchedulingIgnoredDuringExecution: the scheduler
	// avoids topology domains running pods that match the terms.
	PreferredDuringSchedulingIgnoredDuringExecution []WeightedPodAffinityTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// PodAffinityTerm selects pods (labelSelector, in the namespaces named and
// those namespaceSelector selects; the pod's own namespace when both are
// empty) and the topology domain they share: the nodes whose label
// topologyKey has the same value.
type PodAffinityTerm struct {
	// LabelSelector selects the pods; none when nil.
	LabelSelector *metav1.LabelSelector `json:"labelSelector,omitempty"`
	// Namespaces the selected pods are in.
	Namespaces []string `json:"namespaces,omitempty"`
	// TopologyKey is the node label whose value names the domain.
	TopologyKey string `json:"topologyKey"`
	// NamespaceSelector selects namespaces by their labels; {} selects all.
	NamespaceSelector *metav1.LabelSelector `json:"namespaceSelector,omitempty"`
	// MatchLabelKeys are keys of the pod's labels: when the pod is
	// created, key In (the pod's value) is added to labelSelector for each
	// key the pod has. Requires labelSelector.
	MatchLabelKeys []string `json:"matchLabelKeys,omitempty"`
	// MismatchLabelKeys are keys of the pod's labels: when the pod is
	// created, key NotIn (the pod's value) is added to labelSelector for
	// each key the pod has. Requires labelSelector.
	MismatchLabelKeys []string `json:"mismatchLabelKeys,omitempty"`
}

// WeightedPodAffinityTerm is a pod affinity term with a weight.
type WeightedPodAffinityTerm struct {
	// Weight, 1-100, of the term in the node's score.
	Weight int32 `json:"weight"`
	// PodAffinityTerm is the term.
	PodAffinityTerm PodAffinityTerm `json:"podAffinityTerm"`
}
