package sched

import (
	"math"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
)

// Reasons of Kubernetes' InterPodAffinity filter.
const (
	errReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	errReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
	errReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
)

// hardPodAffinityWeight is the weight an existing pod's required affinity
// term gives, in the score, to the domain of a pod it matches
// (Kubernetes' default HardPodAffinityWeight).
const hardPodAffinityWeight = 1

// affinityTerm is a pod affinity term parsed: which pods it selects and
// the node label that names their domain.
type affinityTerm struct {
	namespaces  map[string]bool
	nsSelector  labels.Selector
	selector    labels.Selector
	topologyKey string
	weight      int32
}

// newAffinityTerm parses t as Kubernetes does: the owner's namespace when
// neither namespaces nor namespaceSelector is given; a nil selector
// selects nothing. Validation refused selectors that do not parse; one
// that still fails selects nothing.
func newAffinityTerm(owner *v1.Pod, t *v1.PodAffinityTerm, weight int32) affinityTerm {
	sel := func(s *metav1.LabelSelector) labels.Selector {
		out, err := metav1.LabelSelectorAsSelector(s)
		if err != nil {
			return labels.Nothing()
		}
		return out
	}
	at := affinityTerm{namespaces: map[string]bool{}, nsSelector: sel(t.NamespaceSelector),
		selector: sel(t.LabelSelector), topologyKey: t.TopologyKey, weight: weight}
	if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
		at.namespaces[owner.Namespace] = true
	}
	for _, ns := range t.Namespaces {
		at.namespaces[ns] = true
	}
	return at
}

// matches reports whether the term selects p, whose namespace has the
// labels nsLabels.
func (t *affinityTerm) matches(p *v1.Pod, nsLabels labels.Set) bool {
	if !t.namespaces[p.Namespace] && !t.nsSelector.Matches(nsLabels) {
		return false
	}
	return t.selector.Matches(labels.Set(p.Labels))
}

// podAffinityInfo is a pod's pod affinity and anti-affinity, parsed.
type podAffinityInfo struct {
	requiredAffinity, requiredAnti   []affinityTerm
	preferredAffinity, preferredAnti []affinityTerm
}

// newPodAffinityInfo parses the pod's terms; nil when it has none.
func newPodAffinityInfo(p *v1.Pod) *podAffinityInfo {
	a := p.Spec.Affinity
	if a == nil || a.PodAffinity == nil && a.PodAntiAffinity == nil {
		return nil
	}
	out := &podAffinityInfo{}
	required := func(ts []v1.PodAffinityTerm) []affinityTerm {
		var r []affinityTerm
		for i := range ts {
			r = append(r, newAffinityTerm(p, &ts[i], 0))
		}
		return r
	}
	preferred := func(ts []v1.WeightedPodAffinityTerm) []affinityTerm {
		var r []affinityTerm
		for i := range ts {
			if ts[i].Weight != 0 {
				r = append(r, newAffinityTerm(p, &ts[i].PodAffinityTerm, ts[i].Weight))
			}
		}
		return r
	}
	if pa := a.PodAffinity; pa != nil {
		out.requiredAffinity = required(pa.RequiredDuringSchedulingIgnoredDuringExecution)
		out.preferredAffinity = preferred(pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if pa := a.PodAntiAffinity; pa != nil {
		out.requiredAnti = required(pa.RequiredDuringSchedulingIgnoredDuringExecution)
		out.preferredAnti = preferred(pa.PreferredDuringSchedulingIgnoredDuringExecution)
	}
	if len(out.requiredAffinity)+len(out.requiredAnti)+len(out.preferredAffinity)+len(out.preferredAnti) == 0 {
		return nil
	}
	return out
}

// hasRequiredPodAffinity reports whether p can only be placed next to
// other pods.
func hasRequiredPodAffinity(p *v1.Pod) bool {
	a := p.Spec.Affinity
	return a != nil && a.PodAffinity != nil && len(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution) > 0
}

// topologyPair is one topology domain: a node label and its value.
type topologyPair struct{ key, value string }

// podAffinityState is what Kubernetes' InterPodAffinity PreFilter counts
// for a pod over the whole snapshot, per topology domain.
type podAffinityState struct {
	// existingAnti counts the placed pods whose required anti-affinity
	// terms select the pod.
	existingAnti map[topologyPair]int
	// affinity counts the placed pods that match all the pod's required
	// affinity terms; antiAffinity those matching one of its required
	// anti-affinity terms (once per term).
	affinity, antiAffinity map[topologyPair]int
	// selfMatch: the pod matches all its own required affinity terms.
	selfMatch bool
}

// prefilter counts, for the pod about to be filtered, the pods of the
// snapshot its required terms (and theirs) select, by domain, and what
// its topology spread constraints need.
func (s *Snapshot) prefilter(p *podInfo) {
	st := podAffinityState{}
	nsl := s.nsLabels[p.pod.Namespace]
	for _, g := range s.affGroups {
		for i := range g.rep.aff.requiredAnti {
			t := &g.rep.aff.requiredAnti[i]
			if !t.matches(p.pod, nsl) {
				continue
			}
			for v, n := range s.domainCounts(g, t.topologyKey) {
				if st.existingAnti == nil {
					st.existingAnti = map[topologyPair]int{}
				}
				st.existingAnti[topologyPair{t.topologyKey, v}] += n
			}
		}
	}
	if p.aff != nil && len(p.aff.requiredAffinity)+len(p.aff.requiredAnti) > 0 {
		st.affinity, st.antiAffinity = map[topologyPair]int{}, map[topologyPair]int{}
		st.selfMatch = allMatch(p.aff.requiredAffinity, p.pod, nsl)
		for _, g := range s.groupList {
			e := g.rep.pod
			enl := s.nsLabels[e.Namespace]
			if len(p.aff.requiredAffinity) > 0 && allMatch(p.aff.requiredAffinity, e, enl) {
				for _, t := range p.aff.requiredAffinity {
					for v, n := range s.domainCounts(g, t.topologyKey) {
						st.affinity[topologyPair{t.topologyKey, v}] += n
					}
				}
			}
			for i := range p.aff.requiredAnti {
				t := &p.aff.requiredAnti[i]
				if t.matches(e, enl) {
					for v, n := range s.domainCounts(g, t.topologyKey) {
						st.antiAffinity[topologyPair{t.topologyKey, v}] += n
					}
				}
			}
		}
	}
	p.state = st
	if len(p.spread.hard) > 0 {
		p.spreadState = s.spreadFilterState(p)
	}
}

// allMatch reports whether every term selects p.
func allMatch(terms []affinityTerm, p *v1.Pod, nsLabels labels.Set) bool {
	for i := range terms {
		if !terms[i].matches(p, nsLabels) {
			return false
		}
	}
	return true
}

// podAffinity is Kubernetes' InterPodAffinity filter: the node's domains
// must hold pods matching the pod's required affinity, none matching its
// required anti-affinity, and no pod whose required anti-affinity selects
// the pod (the symmetric check).
func podAffinity(p *podInfo, ni *NodeInfo) string {
	if p.aff == nil && len(p.state.existingAnti) == 0 {
		return ""
	}
	nodeLabels := ni.Node.Labels
	if p.aff != nil && len(p.aff.requiredAffinity) > 0 && !satisfiesPodAffinity(p, nodeLabels) {
		return errReasonAffinityRulesNotMatch
	}
	if p.aff != nil && len(p.state.antiAffinity) > 0 {
		for _, t := range p.aff.requiredAnti {
			if v, ok := nodeLabels[t.topologyKey]; ok && p.state.antiAffinity[topologyPair{t.topologyKey, v}] > 0 {
				return errReasonAntiAffinityRulesNotMatch
			}
		}
	}
	if len(p.state.existingAnti) > 0 {
		for k, v := range nodeLabels {
			if p.state.existingAnti[topologyPair{k, v}] > 0 {
				return errReasonExistingAntiAffinityRulesNotMatch
			}
		}
	}
	return ""
}

// satisfiesPodAffinity: the node has every term's topology label and each
// of its domains holds a matching pod; or, as in Kubernetes, no pod in the
// cluster matches yet and the pod matches its own terms, so the first pod
// of a group that wants to be together is not left pending forever.
func satisfiesPodAffinity(p *podInfo, nodeLabels map[string]string) bool {
	found := true
	for _, t := range p.aff.requiredAffinity {
		v, ok := nodeLabels[t.topologyKey]
		if !ok {
			return false
		}
		if p.state.affinity[topologyPair{t.topologyKey, v}] <= 0 {
			found = false
		}
	}
	if found {
		return true
	}
	return len(p.state.affinity) == 0 && p.state.selfMatch
}

// domainWeight is one part of a pod affinity score: weight times the
// pods a term selects in the domain of the node (a group's counts by the
// term's topology key, by domain number).
type domainWeight struct {
	key    string
	group  *podGroup
	counts []int32 // by domain number
	ids    []int32 // each node's domain number, -1 for none
	weight int64
}

// topologyScore is the pod affinity score of each domain: the sum of its
// parts, or, when there are many, their sums per domain.
type topologyScore struct {
	parts  []domainWeight
	merged map[string]map[string]int64
}

// maxScoreParts is how many parts a score keeps before summing them per
// domain (many groups, as pods with labels of their own make, would
// otherwise cost every node a visit to each).
const maxScoreParts = 16

func (ts *topologyScore) add(s *Snapshot, g *podGroup, key string, weight int64) {
	if ts.merged == nil && len(ts.parts) < maxScoreParts {
		counts, ids := s.denseCounts(g, key)
		ts.parts = append(ts.parts, domainWeight{key: key, group: g, counts: counts, ids: ids, weight: weight})
		return
	}
	if ts.merged == nil {
		ts.merged = map[string]map[string]int64{}
		for _, d := range ts.parts {
			ts.merge(d.key, s.domainCounts(d.group, d.key), d.weight)
		}
		ts.parts = nil
	}
	ts.merge(key, s.domainCounts(g, key), weight)
}

func (ts *topologyScore) merge(key string, counts map[string]int, weight int64) {
	m := ts.merged[key]
	if m == nil {
		m = map[string]int64{}
		ts.merged[key] = m
	}
	for v, n := range counts {
		m[v] += weight * int64(n)
	}
}

func (ts *topologyScore) empty() bool { return len(ts.parts) == 0 && ts.merged == nil }

// score is the node's raw score: the sum over its domains.
func (ts *topologyScore) score(ni *NodeInfo) int64 {
	var sum int64
	for _, d := range ts.parts {
		if id := d.ids[ni.idx]; id >= 0 {
			sum += d.weight * int64(d.counts[id])
		}
	}
	for k, vals := range ts.merged {
		if v, ok := ni.Node.Labels[k]; ok {
			sum += vals[v]
		}
	}
	return sum
}

// podAffinityTopologyScores is Kubernetes' InterPodAffinity PreScore: for
// every placed pod, the weights of the pod's preferred terms that select
// it, and of its own terms that select the pod (required affinity with
// hardPodAffinityWeight), added to its domain; anti-affinity subtracts.
// Placed pods are visited a group at a time. Nil when no term scores.
func (s *Snapshot) podAffinityTopologyScores(p *podInfo) *topologyScore {
	ts := &topologyScore{}
	nsl := s.nsLabels[p.pod.Namespace]
	if p.aff != nil && len(p.aff.preferredAffinity)+len(p.aff.preferredAnti) > 0 {
		for _, g := range s.groupList {
			enl := s.nsLabels[g.rep.pod.Namespace]
			for i := range p.aff.preferredAffinity {
				if t := &p.aff.preferredAffinity[i]; t.matches(g.rep.pod, enl) {
					ts.add(s, g, t.topologyKey, int64(t.weight))
				}
			}
			for i := range p.aff.preferredAnti {
				if t := &p.aff.preferredAnti[i]; t.matches(g.rep.pod, enl) {
					ts.add(s, g, t.topologyKey, -int64(t.weight))
				}
			}
		}
	}
	for _, g := range s.affGroups {
		e := g.rep.aff
		for i := range e.requiredAffinity {
			if t := &e.requiredAffinity[i]; t.matches(p.pod, nsl) {
				ts.add(s, g, t.topologyKey, hardPodAffinityWeight)
			}
		}
		for i := range e.preferredAffinity {
			if t := &e.preferredAffinity[i]; t.matches(p.pod, nsl) {
				ts.add(s, g, t.topologyKey, int64(t.weight))
			}
		}
		for i := range e.preferredAnti {
			if t := &e.preferredAnti[i]; t.matches(p.pod, nsl) {
				ts.add(s, g, t.topologyKey, -int64(t.weight))
			}
		}
	}
	if ts.empty() {
		return nil
	}
	return ts
}

// maxNodeScore is the top of a normalised score, Kubernetes' MaxNodeScore.
const maxNodeScore = 100

// normalizeToMax scales raw scores to 0-maxNodeScore by the highest, as
// Kubernetes' DefaultNormalizeScore (NodeAffinity's normalisation).
func normalizeToMax(nodes []*NodeInfo, raw func(*NodeInfo) int64) []int64 {
	out := make([]int64, len(nodes))
	var top int64
	for i, ni := range nodes {
		out[i] = raw(ni)
		top = max(top, out[i])
	}
	for i := range out {
		if top == 0 {
			out[i] = 0
			continue
		}
		out[i] = maxNodeScore * out[i] / top
	}
	return out
}

// normalizeMinMax scales raw scores (which may be negative) to
// 0-maxNodeScore between the lowest and the highest, as Kubernetes'
// InterPodAffinity NormalizeScore; all equal scores become 0.
func normalizeMinMax(nodes []*NodeInfo, raw func(*NodeInfo) int64) []int64 {
	out := make([]int64, len(nodes))
	lo, hi := int64(math.MaxInt64), int64(math.MinInt64)
	for i, ni := range nodes {
		out[i] = raw(ni)
		lo, hi = min(lo, out[i]), max(hi, out[i])
	}
	for i := range out {
		if hi > lo {
			out[i] = int64(float64(maxNodeScore) * float64(out[i]-lo) / float64(hi-lo))
		} else {
			out[i] = 0
		}
	}
	return out
}
