package sched

import (
	"math"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
)

// Reasons of Kubernetes' PodTopologySpread filter.
const (
	errReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	errReasonNodeLabelNotMatch   = errReasonConstraintsNotMatch + " (missing required label)"
)

// spreadConstraint is a topology spread constraint parsed, with
// Kubernetes' defaults: minDomains 1, nodeAffinityPolicy Honor,
// nodeTaintsPolicy Ignore. Its selector already holds the pod's
// matchLabelKeys, merged when the pod was created.
type spreadConstraint struct {
	maxSkew     int32
	key         string
	selector    labels.Selector
	minDomains  int32
	honorAffine bool // count only nodes matching the pod's required node affinity
	honorTaints bool // count only nodes whose taints the pod tolerates
}

// spreadInfo is a pod's constraints: hard (DoNotSchedule) filter nodes,
// soft (ScheduleAnyway) score them.
type spreadInfo struct {
	hard, soft []spreadConstraint
}

func newSpreadInfo(s *v1.PodSpec) spreadInfo {
	var out spreadInfo
	for _, c := range s.TopologySpreadConstraints {
		// Validation refused selectors that do not parse; one that still
		// fails selects nothing.
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			sel = labels.Nothing()
		}
		sc := spreadConstraint{maxSkew: c.MaxSkew, key: c.TopologyKey, selector: sel, minDomains: 1, honorAffine: true}
		if c.MinDomains != nil {
			sc.minDomains = *c.MinDomains
		}
		if c.NodeAffinityPolicy != nil {
			sc.honorAffine = *c.NodeAffinityPolicy == v1.NodeInclusionPolicyHonor
		}
		if c.NodeTaintsPolicy != nil {
			sc.honorTaints = *c.NodeTaintsPolicy == v1.NodeInclusionPolicyHonor
		}
		switch c.WhenUnsatisfiable {
		case v1.DoNotSchedule:
			out.hard = append(out.hard, sc)
		case v1.ScheduleAnyway:
			out.soft = append(out.soft, sc)
		}
	}
	return out
}

// waitsForPods reports whether a pod that fits nowhere may fit once
// other pods are bound or relabelled: it needs pods next to it (required
// pod affinity) or elsewhere (a DoNotSchedule spread constraint whose
// minimum another domain holds).
func waitsForPods(p *v1.Pod) bool {
	if hasRequiredPodAffinity(p) {
		return true
	}
	for _, c := range p.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable == v1.DoNotSchedule {
			return true
		}
	}
	return false
}

// hasKeys reports whether the node has the topology label of every constraint.
func hasKeys(nodeLabels map[string]string, cs []spreadConstraint) bool {
	for _, c := range cs {
		if _, ok := nodeLabels[c.key]; !ok {
			return false
		}
	}
	return true
}

// includes reports whether the constraint counts the node for the pod,
// by its node inclusion policies.
func (c *spreadConstraint) includes(p *podInfo, ni *NodeInfo) bool {
	if c.honorAffine && p.node.required != nil {
		if ok, _ := p.node.required.Match(ni.core); !ok {
			return false
		}
	}
	return !c.honorTaints || toleratesNode(p.pod, ni.Node)
}

// counts returns, for each constraint, the pods it selects (in the pod's
// namespace, not being deleted) per domain, over the nodes eligible says
// count for it; every domain of an eligible node is present, with 0 when
// it holds none. eligible(i, ni) is asked once per constraint and node.
func (s *Snapshot) spreadCounts(p *podInfo, cs []spreadConstraint, eligible func(i int, ni *NodeInfo) bool) []map[string]int {
	out := make([]map[string]int, len(cs))
	for i := range cs {
		c := &cs[i]
		ok := make([]bool, len(s.Nodes))
		out[i] = map[string]int{}
		for _, ni := range s.Nodes {
			if eligible(i, ni) {
				ok[ni.idx] = true
				out[i][ni.Node.Labels[c.key]] += 0
			}
		}
		if c.selector.Empty() {
			continue // Kubernetes counts no pods for an empty selector
		}
		for _, g := range s.groupList {
			if g.terminating || g.rep.pod.Namespace != p.pod.Namespace || !c.selector.Matches(labels.Set(g.rep.pod.Labels)) {
				continue
			}
			for ni, n := range g.nodes {
				if ok[ni.idx] {
					out[i][ni.Node.Labels[c.key]] += n
				}
			}
		}
	}
	return out
}

// spreadFilterState is what Kubernetes' PodTopologySpread PreFilter counts
// for a pod's hard constraints: the pods per domain and the global minimum.
type spreadFilterState struct {
	counts []map[string]int
	min    []int
}

func (s *Snapshot) spreadFilterState(p *podInfo) *spreadFilterState {
	cs := p.spread.hard
	st := &spreadFilterState{min: make([]int, len(cs))}
	// A node counts when it has every constraint's key and passes the
	// constraint's inclusion policies.
	st.counts = s.spreadCounts(p, cs, func(i int, ni *NodeInfo) bool {
		return hasKeys(ni.Node.Labels, cs) && cs[i].includes(p, ni)
	})
	for i, counts := range st.counts {
		m := math.MaxInt
		for _, n := range counts {
			m = min(m, n)
		}
		if len(counts) < int(cs[i].minDomains) || m == math.MaxInt {
			m = 0 // fewer eligible domains than minDomains: the minimum is 0
		}
		st.min[i] = m
	}
	return st
}

// podTopologySpread is Kubernetes' PodTopologySpread filter: the node must
// have every hard constraint's topology label, and placing the pod in its
// domains must keep each skew (the domain's matching pods, the pod itself
// when it matches, less the global minimum) within maxSkew.
func podTopologySpread(p *podInfo, ni *NodeInfo) string {
	st := p.spreadState
	if st == nil {
		return ""
	}
	for i := range p.spread.hard {
		c := &p.spread.hard[i]
		v, ok := ni.Node.Labels[c.key]
		if !ok {
			return errReasonNodeLabelNotMatch
		}
		self := 0
		if c.selector.Matches(labels.Set(p.pod.Labels)) {
			self = 1
		}
		if st.counts[i][v]+self-st.min[i] > int(c.maxSkew) {
			return errReasonConstraintsNotMatch
		}
	}
	return ""
}

// spreadScores is Kubernetes' PodTopologySpread score for the soft
// constraints, normalised to 0-maxNodeScore: a node scores higher the
// fewer matching pods its domains hold, each constraint's count weighted
// by the log of its number of domains among the feasible nodes. Feasible
// nodes missing a constraint's key score 0.
func (s *Snapshot) spreadScores(p *podInfo, feasible []*NodeInfo) []int64 {
	cs := p.spread.soft
	ignored := make([]bool, len(feasible))
	candidates := make([]map[string]bool, len(cs))
	for i := range cs {
		candidates[i] = map[string]bool{}
	}
	for j, ni := range feasible {
		if !hasKeys(ni.Node.Labels, cs) {
			ignored[j] = true
			continue
		}
		for i, c := range cs {
			candidates[i][ni.Node.Labels[c.key]] = true
		}
	}
	counts := s.spreadCounts(p, cs, func(i int, ni *NodeInfo) bool {
		return candidates[i][ni.Node.Labels[cs[i].key]] && hasKeys(ni.Node.Labels, cs) && cs[i].includes(p, ni)
	})
	weights := make([]float64, len(cs))
	for i := range cs {
		weights[i] = math.Log(float64(len(candidates[i]) + 2))
	}
	raw := make([]int64, len(feasible))
	lo, hi := int64(math.MaxInt64), int64(0)
	for j, ni := range feasible {
		if ignored[j] {
			continue
		}
		var sum float64
		for i, c := range cs {
			sum += float64(counts[i][ni.Node.Labels[c.key]])*weights[i] + float64(c.maxSkew-1)
		}
		raw[j] = int64(math.Round(sum))
		lo, hi = min(lo, raw[j]), max(hi, raw[j])
	}
	out := make([]int64, len(feasible))
	for j := range feasible {
		switch {
		case ignored[j]:
			out[j] = 0
		case hi == 0:
			out[j] = maxNodeScore
		default:
			out[j] = maxNodeScore * (hi + lo - raw[j]) / hi
		}
	}
	return out
}
