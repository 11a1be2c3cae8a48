package proxy

import (
	"reflect"
	"slices"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A partial sync of the iptables mode works from the services that
// changed: after each step the ruleset updated in place is the one a full
// build of the same input gives, the restore text is the one diffing two
// full builds gives, and so are the stale UDP flows.
func TestDelta(t *testing.T) {
	services, endpoints := manyServices(1000)
	services = append(services,
		svc("kube", "dns", "10.97.0.53", svcPort{"dns", "UDP", 53, 0}, svcPort{"dns-tcp", "TCP", 53, 0}),
		svc("web", "front", "10.97.0.80", svcPort{"http", "TCP", 80, 30080}),
		svc("kube", "empty", "10.97.0.99", svcPort{"http", "TCP", 80, 0}))
	endpoints = append(endpoints,
		eps("kube", "dns", []string{"10.244.9.1", "10.244.9.2"}, svcPort{"dns", "UDP", 5353, 0}, svcPort{"dns-tcp", "TCP", 5353, 0}),
		eps("web", "front", []string{"10.244.9.3"}, svcPort{"http", "TCP", 8080, 0}))
	in := RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints}
	cache := &buildCache{}
	applied := buildRules(in, cache)
	prevFull := BuildRules(in)

	sep := func(ns, name, port, proto, ip string, p int32) string {
		return "nat/" + SEPChainName(ns, name, port, proto, ip, p)
	}
	svcChain := func(ns, name, port, proto string) string { return "nat/" + SVCChainName(ns, name, port, proto) }
	type change func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints)
	steps := []struct {
		name             string
		change           change
		written, deleted []string
		stale            int
	}{
		{"one endpoint replaced: its service chain and the new endpoint's written, the old one's deleted",
			func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
				e[500] = eps("default", "svc-00500", []string{"10.244.6.1", "10.244.6.2", "10.250.0.1"}, svcPort{"http", "TCP", 8080, 0})
				return s, e
			},
			[]string{svcChain("default", "svc-00500", "http", "tcp"), sep("default", "svc-00500", "http", "tcp", "10.250.0.1", 8080)},
			[]string{sep("default", "svc-00500", "http", "tcp", "10.244.6.3", 8080)}, 0},
		{"nothing changed: nothing written", func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) { return s, e },
			nil, nil, 0},
		{"a new Endpoints object with the same addresses: nothing written",
			func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
				e[500] = eps("default", "svc-00500", []string{"10.244.6.1", "10.244.6.2", "10.250.0.1"}, svcPort{"http", "TCP", 8080, 0})
				return s, e
			}, nil, nil, 0},
		{"a UDP endpoint gone: its flows stale",
			func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
				e[1000] = eps("kube", "dns", []string{"10.244.9.1"}, svcPort{"dns", "UDP", 5353, 0}, svcPort{"dns-tcp", "TCP", 5353, 0})
				return s, e
			},
			[]string{svcChain("kube", "dns", "dns", "udp"), svcChain("kube", "dns", "dns-tcp", "tcp")},
			[]string{sep("kube", "dns", "dns", "udp", "10.244.9.2", 5353), sep("kube", "dns", "dns-tcp", "tcp", "10.244.9.2", 5353)}, 1},
		{"every endpoint gone: the firewall rejects it",
			func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
				e[1001] = eps("web", "front", nil, svcPort{"http", "TCP", 8080, 0})
				return s, e
			},
			[]string{"filter/" + ChainFirewall, svcChain("web", "front", "http", "tcp")},
			[]string{sep("web", "front", "http", "tcp", "10.244.9.3", 8080)}, 0},
		{"a service added: ORCH-SERVICES and ORCH-NODEPORTS rewritten",
			func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
				s = append(s, svc("a", "new", "10.97.1.1", svcPort{"p", "UDP", 53, 30053}))
				e = append(e, eps("a", "new", []string{"10.250.1.1"}, svcPort{"p", "UDP", 5353, 0}))
				return s, e
			},
			[]string{"nat/" + ChainServices, "nat/" + ChainNodePorts, svcChain("a", "new", "p", "udp"), sep("a", "new", "p", "udp", "10.250.1.1", 5353)},
			nil, 0},
		{"a service deleted: its chains deleted, ORCH-SERVICES rewritten",
			func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
				return slices.Delete(s, 10, 11), slices.Delete(e, 10, 11)
			},
			[]string{"nat/" + ChainServices},
			[]string{svcChain("default", "svc-00010", "http", "tcp"), sep("default", "svc-00010", "http", "tcp", "10.244.0.31", 8080),
				sep("default", "svc-00010", "http", "tcp", "10.244.0.32", 8080), sep("default", "svc-00010", "http", "tcp", "10.244.0.33", 8080)}, 0},
		{"the UDP service deleted: its flows stale",
			func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
				i := slices.IndexFunc(s, func(x *v1.Service) bool { return x.Name == "new" })
				return slices.Delete(s, i, i+1), e
			},
			[]string{"nat/" + ChainServices, "nat/" + ChainNodePorts},
			[]string{svcChain("a", "new", "p", "udp"), sep("a", "new", "p", "udp", "10.250.1.1", 5353)}, 2},
		{"a NodePort service made ClusterIP: ORCH-NODEPORTS emptied, the firewall's node port rule gone",
			func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
				i := slices.IndexFunc(s, func(x *v1.Service) bool { return x.Name == "front" })
				s[i] = svc("web", "front", "10.97.0.80", svcPort{"http", "TCP", 80, 0})
				return s, e
			},
			[]string{"filter/" + ChainFirewall, "nat/" + ChainNodePorts}, nil, 0},
		{"a service replaced by another of the same address and port, without endpoints: the firewall's lines in name order",
			func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
				i := slices.IndexFunc(s, func(x *v1.Service) bool { return x.Name == "front" })
				s[i] = svc("0-first", "front", "10.97.0.80", svcPort{"http", "TCP", 80, 0})
				return s, e
			},
			[]string{"filter/" + ChainFirewall, "nat/" + ChainServices, svcChain("0-first", "front", "http", "tcp")},
			[]string{svcChain("web", "front", "http", "tcp")}, 0},
		{"affinity turned on", func(s []*v1.Service, e []*v1.Endpoints) ([]*v1.Service, []*v1.Endpoints) {
			i := slices.IndexFunc(s, func(x *v1.Service) bool { return x.Name == "svc-00020" })
			s[i] = withAffinity(svc("default", "svc-00020", "10.96.0.21", svcPort{"http", "TCP", 80, 0}), 60)
			return s, e
		}, []string{svcChain("default", "svc-00020", "http", "tcp"), sep("default", "svc-00020", "http", "tcp", "10.244.0.61", 8080),
			sep("default", "svc-00020", "http", "tcp", "10.244.0.62", 8080), sep("default", "svc-00020", "http", "tcp", "10.244.0.63", 8080)}, nil, 0},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			services, endpoints = step.change(slices.Clone(services), slices.Clone(endpoints))
			in := RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints}
			d, ok := cache.delta(in, applied)
			if !ok {
				t.Fatal("no delta from a built cache")
			}
			text, ch := d.after.RenderChanged(d.before)
			want := BuildRules(in)
			wantText, wantCh := want.RenderChanged(prevFull)
			if string(text) != string(wantText) {
				t.Fatalf("restore text:\n%s\nwant (two full builds diffed):\n%s", text, wantText)
			}
			slices.Sort(step.written)
			slices.Sort(step.deleted)
			if !slices.Equal(refs(ch.Written), step.written) || !slices.Equal(refs(ch.Deleted), step.deleted) {
				t.Fatalf("written %v deleted %v, want %v and %v", refs(ch.Written), refs(ch.Deleted), step.written, step.deleted)
			}
			if !reflect.DeepEqual(refs(wantCh.Written), refs(ch.Written)) || !reflect.DeepEqual(refs(wantCh.Deleted), refs(ch.Deleted)) {
				t.Fatalf("changes %+v, full builds diffed %+v", ch, wantCh)
			}
			requireSameRules(t, applied, want)
			wantStale := StaleUDPFlows(prevFull, want)
			if len(d.stale) != step.stale || !slices.Equal(d.stale, wantStale) {
				t.Fatalf("stale flows %v, want %d: %v", d.stale, step.stale, wantStale)
			}
			prevFull = want
		})
	}
	t.Run("cluster CIDR changed: no delta", func(t *testing.T) {
		if _, ok := cache.delta(RulesInput{Services: services, Endpoints: endpoints}, applied); ok {
			t.Fatal("a delta across a parameter change")
		}
	})
	t.Run("two services of one name: no delta", func(t *testing.T) {
		dup := append(slices.Clone(services), svc("default", "svc-00001", "10.98.0.1", svcPort{"http", "TCP", 80, 0}))
		if _, ok := cache.delta(RulesInput{ClusterCIDR: clusterCIDR, Services: dup, Endpoints: endpoints}, applied); ok {
			t.Fatal("a delta with two services of one name")
		}
		var c2 buildCache
		buildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: dup, Endpoints: endpoints}, &c2)
		if _, ok := c2.delta(RulesInput{ClusterCIDR: clusterCIDR, Services: dup, Endpoints: endpoints}, BuildRules(in)); ok {
			t.Fatal("a delta from a cache built with two services of one name")
		}
	})
}
