package sched

import (
	"math/rand/v2"
	"slices"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

func TestNormalizeScores(t *testing.T) {
	for _, tc := range []struct {
		name         string
		raw          []int64
		toMax, minMx []int64
	}{
		{"all zero", []int64{0, 0, 0}, []int64{0, 0, 0}, []int64{0, 0, 0}},
		{"all equal", []int64{7, 7}, []int64{100, 100}, []int64{0, 0}},
		{"scaled", []int64{0, 25, 50}, []int64{0, 50, 100}, []int64{0, 50, 100}},
		{"negative (node affinity has none; scaled as Kubernetes does)", []int64{-100, 0, 100}, []int64{-100, 0, 100}, []int64{0, 50, 100}},
		{"integer division rounds down", []int64{1, 3}, []int64{33, 100}, []int64{0, 100}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			nodes := make([]*NodeInfo, len(tc.raw))
			idx := map[*NodeInfo]int64{}
			for i := range nodes {
				nodes[i] = &NodeInfo{}
				idx[nodes[i]] = tc.raw[i]
			}
			raw := func(ni *NodeInfo) int64 { return idx[ni] }
			if got := normalizeToMax(nodes, raw); !slices.Equal(got, tc.toMax) {
				t.Errorf("normalizeToMax = %v, want %v", got, tc.toMax)
			}
			if got := normalizeMinMax(nodes, raw); !slices.Equal(got, tc.minMx) {
				t.Errorf("normalizeMinMax = %v, want %v", got, tc.minMx)
			}
		})
	}
}

// Preferred terms pick among feasible nodes; their normalised, weighted
// score outweighs the least-allocated score, as in Kubernetes' default
// profile (NodeResourcesFit weighs 1, NodeAffinity and InterPodAffinity 2).
func TestPreferredAffinityScores(t *testing.T) {
	s1 := map[string]string{"security": "S1"}
	s2 := map[string]string{"security": "S2"}
	web := map[string]string{"app": "web"}
	preferNodes := func(terms ...v1.PreferredSchedulingTerm) *v1.Affinity {
		return &v1.Affinity{NodeAffinity: &v1.NodeAffinity{PreferredDuringSchedulingIgnoredDuringExecution: terms}}
	}
	prefer := func(w int32, key, val string) v1.PreferredSchedulingTerm {
		return v1.PreferredSchedulingTerm{Weight: w, Preference: v1.NodeSelectorTerm{MatchExpressions: []v1.NodeSelectorRequirement{expr(key, v1.NodeSelectorOpIn, val)}}}
	}
	weighted := func(w int32, t v1.PodAffinityTerm) []v1.WeightedPodAffinityTerm {
		return []v1.WeightedPodAffinityTerm{{Weight: w, PodAffinityTerm: t}}
	}
	// busy is a pod using most of n0's CPU, so least-allocated alone
	// would send every pod elsewhere.
	busy := func() *v1.Pod {
		p := on(labelled("busy", "", nil), "n0")
		p.Spec.Containers[0].Resources.Requests[v1.ResourceCPU] = resource.MustParse("3")
		return p
	}
	for _, tc := range []struct {
		name  string
		nodes []*v1.Node
		bound []*v1.Pod
		pod   *v1.Pod
		want  string
	}{
		{"no preference: least allocated",
			[]*v1.Node{zoned("n0", "a", nil), zoned("n1", "b", nil)}, []*v1.Pod{busy()},
			labelled("p", "", nil), "n1"},
		{"preferred node affinity beats free room",
			[]*v1.Node{zoned("n0", "a", map[string]string{"disk": "ssd"}), zoned("n1", "b", nil)}, []*v1.Pod{busy()},
			withAffinity(labelled("p", "", nil), preferNodes(prefer(1, "disk", "ssd"))), "n0"},
		{"the heavier preference wins",
			[]*v1.Node{zoned("n0", "a", map[string]string{"disk": "ssd"}), zoned("n1", "b", map[string]string{"gpu": "yes"})}, nil,
			withAffinity(labelled("p", "", nil), preferNodes(prefer(10, "disk", "ssd"), prefer(90, "gpu", "yes"))), "n1"},
		{"matching several preferences adds their weights",
			[]*v1.Node{zoned("n0", "a", map[string]string{"disk": "ssd", "net": "fast"}), zoned("n1", "b", map[string]string{"gpu": "yes"})}, nil,
			withAffinity(labelled("p", "", nil), preferNodes(prefer(50, "disk", "ssd"), prefer(50, "net", "fast"), prefer(90, "gpu", "yes"))), "n0"},
		{"preferred pod affinity: the zone of a matching pod",
			[]*v1.Node{zoned("n0", "a", nil), zoned("n1", "b", nil), zoned("n2", "b", nil)}, []*v1.Pod{busy(), on(labelled("s1", "", s1), "n0")},
			withAffinity(labelled("p", "", nil), &v1.Affinity{PodAffinity: &v1.PodAffinity{PreferredDuringSchedulingIgnoredDuringExecution: weighted(1, term(s1, "zone"))}}), "n0"},
		{"preferred pod anti-affinity: away from a matching pod",
			[]*v1.Node{zoned("n0", "a", nil), zoned("n1", "b", nil)}, []*v1.Pod{on(labelled("s2", "", s2), "n1"), busy()},
			withAffinity(labelled("p", "", nil), &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: weighted(1, term(s2, "zone"))}}), "n0"},
		{"an existing pod's preferred anti-affinity keeps the pod away",
			[]*v1.Node{zoned("n0", "a", nil), zoned("n1", "b", nil)},
			[]*v1.Pod{busy(), on(withAffinity(labelled("loner", "", nil), &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: weighted(5, term(web, "zone"))}}), "n1")},
			labelled("p", "", web), "n0"},
		{"an existing pod's required affinity draws the pod it selects",
			[]*v1.Node{zoned("n0", "a", nil), zoned("n1", "b", nil)},
			[]*v1.Pod{busy(), on(withAffinity(labelled("friend", "", nil), requiredAffinity(term(web, "zone"))), "n0")},
			labelled("p", "", web), "n0"},
		{"an existing pod's preferred affinity draws the pod it selects",
			[]*v1.Node{zoned("n0", "a", nil), zoned("n1", "b", nil)},
			[]*v1.Pod{busy(), on(withAffinity(labelled("friend", "", nil), &v1.Affinity{PodAffinity: &v1.PodAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: weighted(3, term(web, "zone"))}}), "n0")},
			labelled("p", "", web), "n0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Every seed: the choice is made by the scores, not the tie-break.
			for seed := range uint64(10) {
				plan := Schedule(NewSnapshot(tc.nodes, tc.bound), []*v1.Pod{tc.pod}, rand.New(rand.NewPCG(seed, seed+1)))
				if len(plan.Bindings) != 1 || plan.Bindings[0].Node != tc.want {
					t.Fatalf("seed %d: plan %+v, want the pod on %s", seed, plan, tc.want)
				}
			}
		})
	}
}
