package sched

import (
	"encoding/json"
	"sort"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// podGroup is the placed pods that share a namespace, labels, pod
// (anti-)affinity terms and termination state: a controller's replicas
// are one group. A term that selects one of them selects them all, so the
// affinity and spreading computations match a selector once per group and
// read the group's counts per node and per topology domain, instead of
// visiting every placed pod for every pod they place (Kubernetes' PreFilter
// and PreScore states, kept up to date as a plan places pods).
type podGroup struct {
	// rep is the group's first pod: its labels, namespace and parsed terms
	// stand for every pod of the group.
	rep *podInfo
	// terminating: the pods are being deleted (topology spreading does
	// not count them).
	terminating bool
	// nodes counts the group's pods per node.
	nodes map[*NodeInfo]int
	// domains counts them per topology domain (key, then value), for the
	// keys the snapshot has indexed.
	domains map[string]map[string]int
	// dense holds the same counts by domain number (Snapshot.domainIDs),
	// for the keys a score has read them by: a node's domain is then an
	// index, not a hashed label value.
	dense map[string][]int32
	// size is how many pods the group holds; pos and affPos are its
	// places in Snapshot.groupList and affGroups (-1 when not there), so
	// a scheduler cache drops a group that empties in constant time.
	size, pos, affPos int
}

// groupKey is what pods of one group share. Pods with pod (anti-)affinity
// terms add them in a canonical form (JSON of the structs, whose maps are
// sorted), so only pods with the same terms share a group.
func groupKey(p *v1.Pod) string {
	var b strings.Builder
	b.WriteString(p.Namespace)
	if p.DeletionTimestamp != nil {
		b.WriteString("\x00d")
	}
	keys := make([]string, 0, len(p.Labels))
	for k := range p.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteByte(0)
		b.WriteString(k)
		b.WriteByte(1)
		b.WriteString(p.Labels[k])
	}
	if a := p.Spec.Affinity; a != nil && (a.PodAffinity != nil || a.PodAntiAffinity != nil) {
		// Marshalling these plain structs cannot fail.
		terms, _ := json.Marshal([2]any{a.PodAffinity, a.PodAntiAffinity})
		b.WriteString("\x00a")
		b.Write(terms)
	}
	return b.String()
}

// groupOf returns p's group, made (and indexed by every key indexed so
// far) when p is its first pod.
func (s *Snapshot) groupOf(p *podInfo) *podGroup {
	if g := s.groups[p.group]; g != nil {
		return g
	}
	g := &podGroup{rep: p, terminating: p.pod.DeletionTimestamp != nil, nodes: map[*NodeInfo]int{},
		domains: make(map[string]map[string]int, len(s.indexed)), pos: len(s.groupList), affPos: -1}
	for k := range s.indexed {
		g.domains[k] = map[string]int{}
	}
	if s.groups == nil {
		s.groups = map[string]*podGroup{}
	}
	s.groups[p.group] = g
	s.groupList = append(s.groupList, g)
	if p.aff != nil {
		g.affPos = len(s.affGroups)
		s.affGroups = append(s.affGroups, g)
	}
	return g
}

// addToGroup counts p, placed on ni, in its group.
func (s *Snapshot) addToGroup(ni *NodeInfo, p *podInfo) {
	g := s.groupOf(p)
	g.size++
	g.nodes[ni]++
	for k, counts := range g.domains {
		if v, ok := ni.Node.Labels[k]; ok {
			counts[v]++
		}
	}
	for k, dense := range g.dense {
		if id := s.domainIDs[k][ni.idx]; id >= 0 {
			dense[id]++
		}
	}
}

// denseCounts returns g's pods per domain number of the key, and each
// node's domain number (-1 for a node without the key).
func (s *Snapshot) denseCounts(g *podGroup, key string) (counts, ids []int32) {
	if s.domainIDs == nil {
		s.domainIDs, s.domainNames = map[string][]int32{}, map[string]map[string]int32{}
	}
	ids, ok := s.domainIDs[key]
	if !ok {
		ids = make([]int32, len(s.Nodes))
		names := map[string]int32{}
		for i, ni := range s.Nodes {
			v, has := ni.Node.Labels[key]
			if !has {
				ids[i] = -1
				continue
			}
			id, seen := names[v]
			if !seen {
				id = int32(len(names))
				names[v] = id
			}
			ids[i] = id
		}
		s.domainIDs[key], s.domainNames[key] = ids, names
	}
	if d, ok := g.dense[key]; ok {
		return d, ids
	}
	names := s.domainNames[key]
	d := make([]int32, len(names))
	for v, n := range s.domainCounts(g, key) {
		d[names[v]] = int32(n)
	}
	if g.dense == nil {
		g.dense = map[string][]int32{}
	}
	g.dense[key] = d
	return d, ids
}

// domainCounts returns g's pods per value of the topology key, indexing
// the key over every group the first time it is asked for. The map is the
// group's own: read it, do not change it.
func (s *Snapshot) domainCounts(g *podGroup, key string) map[string]int {
	if !s.indexed[key] {
		if s.indexed == nil {
			s.indexed = map[string]bool{}
		}
		s.indexed[key] = true
		for _, og := range s.groupList {
			counts := map[string]int{}
			for ni, n := range og.nodes {
				if v, ok := ni.Node.Labels[key]; ok {
					counts[v] += n
				}
			}
			og.domains[key] = counts
		}
	}
	return g.domains[key]
}

// parsedAffinity returns the pod's parsed pod (anti-)affinity terms,
// those of its group when the group exists (the same terms, parsed once).
func (s *Snapshot) parsedAffinity(p *v1.Pod, key string) *podAffinityInfo {
	if g := s.groups[key]; g != nil {
		return g.rep.aff
	}
	return newPodAffinityInfo(p)
}
