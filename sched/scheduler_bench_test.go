package sched

import (
	"fmt"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

// benchNodes is n nodes with a hostname label and one of 10 zones.
func benchNodes(n int) []*v1.Node {
	nodes := make([]*v1.Node, 0, n)
	for i := range n {
		name := fmt.Sprintf("n%04d", i)
		nodes = append(nodes, readyNode(name, "32", "128Gi", map[string]string{v1.LabelHostname: name, v1.LabelTopologyZone: fmt.Sprintf("z%d", i%10)}))
	}
	return nodes
}

// benchReplicas is n pods of one controller, labelled app=web, with the
// affinity a (nil for none).
func benchReplicas(n int, a *v1.Affinity) []*v1.Pod {
	pods := make([]*v1.Pod, 0, n)
	for i := range n {
		p := owned(pendingPod(fmt.Sprintf("p%05d", i), "100m"), "rc-big")
		p.Labels = map[string]string{"app": "web"}
		p.Spec.Affinity = a
		pods = append(pods, p)
	}
	return pods
}

// preferredAntiOnHost is the affinity of the scheduling figure's
// affinity run: a preferred anti-affinity to the pod's own replicas per node.
func preferredAntiOnHost() *v1.Affinity {
	return &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{
		Weight: 100, PodAffinityTerm: v1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			TopologyKey: v1.LabelHostname}}}}}
}

// The figure's workload: 10,000 replicas on 1,000 nodes, plain and with
// preferred pod anti-affinity (run with -benchmem; times are for comparing
// runs on one machine only).
func BenchmarkSchedule10kPodsWithPreferredAntiAffinityOn1kNodes(b *testing.B) {
	nodes, pods := benchNodes(1000), benchReplicas(10000, preferredAntiOnHost())
	b.ResetTimer()
	cpu := processCPU(b)
	for i := 0; i < b.N; i++ {
		Schedule(NewSnapshot(nodes, nil), pods, seeded())
	}
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op") // the process's, its garbage collection included
}

// A pass that finds 10,000 bound replicas with preferred anti-affinity
// and schedules 500 more, as a pass late in the figure's run does.
func BenchmarkPassWith10kBoundAffinityPods(b *testing.B) {
	nodes := benchNodes(1000)
	bound := benchReplicas(10000, preferredAntiOnHost())
	for i, p := range bound {
		p.Spec.NodeName = nodes[i%len(nodes)].Name
	}
	pending := benchReplicas(500, preferredAntiOnHost())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		Schedule(NewSnapshot(nodes, bound), pending, seeded())
	}
}

// A pass's snapshot of 10,000 bound replicas, plain and with preferred
// anti-affinity (each pass builds one).
func BenchmarkSnapshot10kBound(b *testing.B) {
	for _, tc := range []struct {
		name string
		a    *v1.Affinity
	}{{"plain", nil}, {"affinity", preferredAntiOnHost()}} {
		b.Run(tc.name, func(b *testing.B) {
			nodes := benchNodes(1000)
			bound := benchReplicas(10000, tc.a)
			for i, p := range bound {
				p.Spec.NodeName = nodes[i%len(nodes)].Name
			}
			keys := NewSnapshot(nodes, bound).keys
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				newSnapshot(nodes, bound, keys) // as a pass after the first
			}
		})
	}
}

// benchCache is a scheduler cache of the nodes with the bound pods, as
// the feed would leave it.
func benchCache(nodes []*v1.Node, bound []*v1.Pod) *schedulerCache {
	c := &schedulerCache{snap: &Snapshot{}, pods: map[string]cachedPod{}, onNode: map[string]map[string]*podInfo{}, nodes: map[string]*NodeInfo{}}
	for _, n := range nodes {
		ni := newNodeInfo(n)
		c.nodes[n.Name] = ni
		c.snap.Nodes = append(c.snap.Nodes, ni)
	}
	c.snap.sortNodes()
	for _, p := range bound {
		c.add(v1.Key(p.Namespace, p.Name), p)
	}
	return c
}

// A pass late in the figure's run with the scheduler's cache: 500 more
// replicas placed beside 10,000 bound ones with preferred anti-affinity
// (and forgotten after, for the next round), the cache not rebuilt.
func BenchmarkCachedPassWith10kBoundAffinityPods(b *testing.B) {
	nodes := benchNodes(1000)
	bound := benchReplicas(10000, preferredAntiOnHost())
	for i, p := range bound {
		p.Name = fmt.Sprintf("b%05d", i)
		p.Spec.NodeName = nodes[i%len(nodes)].Name
	}
	pending := benchReplicas(500, preferredAntiOnHost())
	c := benchCache(nodes, bound)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		plan := Schedule(c.snap, pending, seeded())
		for _, pi := range plan.placed {
			c.assume(pi)
		}
		for _, p := range pending {
			c.remove(v1.Key(p.Namespace, p.Name))
		}
	}
}

// The cache's upkeep of one bound pod's change (its status, say): out and
// back in, beside 10,000 bound replicas.
func BenchmarkCacheBoundPodChange(b *testing.B) {
	nodes := benchNodes(1000)
	bound := benchReplicas(10000, preferredAntiOnHost())
	for i, p := range bound {
		p.Spec.NodeName = nodes[i%len(nodes)].Name
	}
	c := benchCache(nodes, bound)
	p := bound[0]
	key := v1.Key(p.Namespace, p.Name)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.remove(key)
		c.add(key, p)
	}
}
