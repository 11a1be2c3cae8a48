package proxy

import (
	"maps"
	"reflect"
	"slices"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// sameNFT fails unless got and want hold the same table.
func sameNFT(t *testing.T, got, want *NFTRuleset) {
	t.Helper()
	if !maps.Equal(got.chains, want.chains) {
		t.Fatalf("chains differ: %d vs %d", len(got.chains), len(want.chains))
	}
	for _, f := range []struct {
		name string
		a, b any
	}{{"maps", got.maps, want.maps}, {"sets", got.sets, want.sets}, {"endpoints", got.eps, want.eps},
		{"hairpin", got.hairpin, want.hairpin}, {"udp", got.udp, want.udp}} {
		if !reflect.DeepEqual(f.a, f.b) {
			t.Fatalf("%s differ:\n got %v\nwant %v", f.name, f.a, f.b)
		}
	}
}

// A partial sync works from the services that changed: after each step
// the table updated in place is the one a full build of the same input
// gives, and the diff holds the changed service's objects only.
func TestNFTDelta(t *testing.T) {
	services, endpoints := manyServices(1000)
	cache := &nftCache{}
	applied := buildNFTRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints}, cache)
	type counts struct{ written, deleted, elements, ops int }
	steps := []struct {
		name   string
		change func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints)
		want   counts
	}{
		{"one endpoint replaced: two elements of its map, two of the hairpin set, no chain", func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
			e[500] = eps("default", "svc-00500", []string{"10.244.6.1", "10.244.6.2", "10.250.0.1"}, svcPort{"http", "TCP", 8080, 0})
			return s, e
		}, counts{0, 0, 4, 4}},
		{"nothing changed: nothing to do", func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
			return s, e
		}, counts{0, 0, 0, 0}},
		{"an endpoint added: its service chain rewritten (flush, two rules: numgen mod 4), an element of its map, one of the hairpin set", func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
			e[500] = eps("default", "svc-00500", []string{"10.244.6.1", "10.244.6.2", "10.250.0.1", "10.250.0.2"}, svcPort{"http", "TCP", 8080, 0})
			return s, e
		}, counts{1, 0, 2, 5}},
		{"a service added", func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
			s = append(s, svc("other", "new", "10.97.0.1", svcPort{"p", "UDP", 53, 30053}))
			e = append(e, eps("other", "new", []string{"10.250.1.1"}, svcPort{"p", "UDP", 5353, 0}))
			return s, e
		}, counts{2, 0, 4, -1}},
		{"a service deleted", func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
			return slices.Delete(s, 10, 11), slices.Delete(e, 10, 11)
		}, counts{0, 1, 7, -1}},
		{"affinity turned on", func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
			s[20] = withAffinity(svc("default", "svc-00021", "10.96.0.22", svcPort{"http", "TCP", 80, 0}), 60)
			return s, e
		}, counts{4, 0, 6, -1}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			services, endpoints = step.change(slices.Clone(services), slices.Clone(endpoints))
			in := RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints}
			before, after, ok := cache.delta(in, applied)
			if !ok {
				t.Fatal("no delta from a built cache")
			}
			b, err := after.netlinkChanges(before)
			if err != nil {
				t.Fatal(err)
			}
			got := counts{len(b.changes.Written), len(b.changes.Deleted), b.changes.Elements, len(b.ops)}
			if step.want.ops < 0 {
				got.ops = -1
			}
			if got != step.want {
				t.Fatalf("changes %+v (written %v, deleted %v), want %+v", got, b.changes.Written, b.changes.Deleted, step.want)
			}
			// The same entries assembled whole.
			sameNFT(t, applied, buildNFTRules(in, cache))
		})
	}
	t.Run("cluster CIDR changed: no delta", func(t *testing.T) {
		if _, _, ok := cache.delta(RulesInput{Services: services, Endpoints: endpoints}, applied); ok {
			t.Fatal("a delta across a parameter change")
		}
	})
}
