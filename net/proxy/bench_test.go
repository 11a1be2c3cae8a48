package proxy

import (
	"slices"
	"testing"
)

// BenchmarkBuildRules5000 times the pure part of a full sync: 5,000
// services × 3 endpoints to rules, rendered as restore text.
func BenchmarkBuildRules5000(b *testing.B) {
	services, endpoints := manyServices(5000)
	in := RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints}
	b.ReportAllocs()
	var bytes int
	for b.Loop() {
		bytes = len(BuildRules(in).Render())
	}
	b.ReportMetric(float64(bytes), "restore-bytes")
}

// BenchmarkRenderChanged5000 times finding and rendering one endpoint
// change among 5,000 services.
func BenchmarkRenderChanged5000(b *testing.B) {
	services, endpoints := manyServices(5000)
	prev := BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints})
	endpoints[2500] = eps("default", "svc-02500", []string{"10.250.0.1", "10.250.0.2", "10.250.0.3"}, svcPort{"http", "TCP", 8080, 0})
	next := BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints})
	b.ReportAllocs()
	for b.Loop() {
		if _, ch := next.RenderChanged(prev); len(ch.Written) != 4 {
			b.Fatalf("changes %+v", ch)
		}
	}
}

// BenchmarkIncrementalBuild5000 times what a sync after one endpoint change
// computes before iptables-restore: the rules, with the per-service cache
// the proxier keeps, and the diff against the previous rules.
func BenchmarkIncrementalBuild5000(b *testing.B) {
	services, endpoints := manyServices(5000)
	in := RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints}
	var cache buildCache
	prev := buildRules(in, &cache)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		endpoints[2500] = eps("default", "svc-02500", []string{"10.250.0.1", "10.250.0.2", "10.250.0." + itoa(int32(i%200+3))}, svcPort{"http", "TCP", 8080, 0})
		next := buildRules(in, &cache)
		if _, ch := next.RenderChanged(prev); len(ch.Written) != 2 && len(ch.Written) != 4 {
			b.Fatalf("changes %+v", ch)
		}
		prev = next
	}
}

// BenchmarkPartialSync10000 times what a partial sync after one endpoint
// change computes before iptables-restore at 10,000 services: the changed
// service found and rebuilt, the applied rules updated in place, the
// restore text rendered.
func BenchmarkPartialSync10000(b *testing.B) {
	services, endpoints := manyServices(10000)
	var cache buildCache
	applied := buildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints}, &cache)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		endpoints = slices.Clone(endpoints)
		endpoints[5000] = eps("default", "svc-05000", []string{"10.250.0.1", "10.250.0.2", "10.250.0." + itoa(int32(i%200+3))}, svcPort{"http", "TCP", 8080, 0})
		d, ok := cache.delta(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints}, applied)
		if !ok {
			b.Fatal("no delta")
		}
		if _, ch := d.after.RenderChanged(d.before); len(ch.Written) != 2 && len(ch.Written) != 4 {
			b.Fatalf("changes %+v", ch)
		}
	}
}
