package sched

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	v1 "orch.io/orch/api/v1"
)

// errReasonNodeAffinity is Kubernetes' NodeAffinity filter reason, for a
// node that fails the pod's nodeSelector or its required node affinity.
const errReasonNodeAffinity = "node(s) didn't match Pod's node affinity/selector"

// nodeAffinityInfo is a pod's node selection parsed once per pass by
// Kubernetes' own matcher (component-helpers), on the core/v1 form of
// orch's types.
type nodeAffinityInfo struct {
	// required holds the nodeSelector and the required node affinity;
	// nil when the pod has neither.
	required *nodeaffinity.RequiredNodeAffinity
	// preferred holds the weighted preferred terms; nil when none.
	preferred *nodeaffinity.PreferredSchedulingTerms
}

func newNodeAffinityInfo(s *v1.PodSpec) nodeAffinityInfo {
	var out nodeAffinityInfo
	var na *v1.NodeAffinity
	if s.Affinity != nil {
		na = s.Affinity.NodeAffinity
	}
	var req *corev1.NodeSelector
	if na != nil && na.RequiredDuringSchedulingIgnoredDuringExecution != nil {
		req = coreNodeSelector(na.RequiredDuringSchedulingIgnoredDuringExecution)
	}
	if len(s.NodeSelector) > 0 || req != nil {
		r := nodeaffinity.NewRequiredNodeAffinity(s.NodeSelector,
			&corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: req}})
		out.required = &r
	}
	if na != nil && len(na.PreferredDuringSchedulingIgnoredDuringExecution) > 0 {
		terms := make([]corev1.PreferredSchedulingTerm, len(na.PreferredDuringSchedulingIgnoredDuringExecution))
		for i, t := range na.PreferredDuringSchedulingIgnoredDuringExecution {
			terms[i] = corev1.PreferredSchedulingTerm{Weight: t.Weight, Preference: coreNodeSelectorTerm(t.Preference)}
		}
		// Validation refused terms that do not parse; a stored one that
		// still fails (none should) prefers nothing rather than failing.
		if p, err := nodeaffinity.NewPreferredSchedulingTerms(terms); err == nil {
			out.preferred = p
		}
	}
	return out
}

func coreNodeSelector(s *v1.NodeSelector) *corev1.NodeSelector {
	out := &corev1.NodeSelector{NodeSelectorTerms: make([]corev1.NodeSelectorTerm, len(s.NodeSelectorTerms))}
	for i, t := range s.NodeSelectorTerms {
		out.NodeSelectorTerms[i] = coreNodeSelectorTerm(t)
	}
	return out
}

func coreNodeSelectorTerm(t v1.NodeSelectorTerm) corev1.NodeSelectorTerm {
	conv := func(rs []v1.NodeSelectorRequirement) []corev1.NodeSelectorRequirement {
		if rs == nil {
			return nil
		}
		out := make([]corev1.NodeSelectorRequirement, len(rs))
		for i, r := range rs {
			out[i] = corev1.NodeSelectorRequirement{Key: r.Key, Operator: corev1.NodeSelectorOperator(r.Operator), Values: r.Values}
		}
		return out
	}
	return corev1.NodeSelectorTerm{MatchExpressions: conv(t.MatchExpressions), MatchFields: conv(t.MatchFields)}
}

// coreNode is a node as the matcher reads it: its name and labels.
func coreNode(n *v1.Node) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: n.Labels}}
}

// nodeAffinity is Kubernetes' NodeAffinity filter: the node must match
// the pod's nodeSelector and one term of its required node affinity.
func nodeAffinity(p *podInfo, ni *NodeInfo) string {
	if p.node.required == nil {
		return ""
	}
	if ok, _ := p.node.required.Match(ni.core); !ok {
		return errReasonNodeAffinity
	}
	return ""
}

// nodeAffinityScore is the sum of the weights of the pod's preferred node
// affinity terms the node matches (Kubernetes' NodeAffinity score before
// normalisation).
func nodeAffinityScore(p *podInfo, ni *NodeInfo) int64 {
	if p.node.preferred == nil {
		return 0
	}
	return p.node.preferred.Score(ni.core)
}
