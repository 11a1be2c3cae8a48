package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// nftState is what the kernel holds in our table, read back with nft -j.
type nftState struct {
	exists bool
	chains []string                     // regular and base chains, sorted
	sets   []string                     // sorted
	maps   map[string]map[string]string // map -> key -> verdict, in our rendering
	eps    map[string]map[string]string // endpoints map -> key -> "ip . port"
	pairs  []string                     // the hairpin set's elements, sorted
}

// concatString renders a JSON {"concat": [...]} (or a plain value) as nft
// writes it: the parts joined by " . ".
func concatString(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	var c struct {
		Concat []any `json:"concat"`
	}
	if err := json.Unmarshal(raw, &c); err == nil && c.Concat != nil {
		var parts []string
		for _, k := range c.Concat {
			parts = append(parts, fmt.Sprint(k))
		}
		return strings.Join(parts, " . ")
	}
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(v)
}

// kernelNFT reads our table in the namespace.
func kernelNFT(t *testing.T, ns string) nftState {
	t.Helper()
	if out := nsRun(t, ns, "nft", "list", "tables"); !strings.Contains(out, "table ip "+NFTTable+"\n") {
		return nftState{}
	}
	var doc struct {
		Nftables []map[string]json.RawMessage `json:"nftables"`
	}
	if err := json.Unmarshal([]byte(nsRun(t, ns, "nft", "-j", "list", "table", "ip", NFTTable)), &doc); err != nil {
		t.Fatal(err)
	}
	st := nftState{exists: true, maps: map[string]map[string]string{}, eps: map[string]map[string]string{}}
	for _, obj := range doc.Nftables {
		var o struct {
			Name string              `json:"name"`
			Elem [][]json.RawMessage `json:"elem"`
		}
		switch {
		case obj["chain"] != nil:
			if err := json.Unmarshal(obj["chain"], &o); err != nil {
				t.Fatal(err)
			}
			st.chains = append(st.chains, o.Name)
		case obj["set"] != nil:
			var set struct {
				Name string            `json:"name"`
				Elem []json.RawMessage `json:"elem"`
			}
			if err := json.Unmarshal(obj["set"], &set); err != nil {
				t.Fatal(err)
			}
			st.sets = append(st.sets, set.Name)
			if set.Name == nftHairpin {
				for _, e := range set.Elem {
					st.pairs = append(st.pairs, concatString(t, e))
				}
			}
		case obj["map"] != nil:
			if err := json.Unmarshal(obj["map"], &o); err != nil {
				t.Fatal(err)
			}
			if strings.HasPrefix(o.Name, "endpoints-") {
				els := map[string]string{}
				for _, e := range o.Elem {
					els[concatString(t, e[0])] = concatString(t, e[1])
				}
				st.eps[o.Name] = els
				continue
			}
			els := map[string]string{}
			for _, e := range o.Elem {
				var key struct {
					Concat []any `json:"concat"`
				}
				var verdict struct {
					Goto struct {
						Target string `json:"target"`
					} `json:"goto"`
				}
				if err := json.Unmarshal(e[0], &key); err != nil {
					t.Fatal(err)
				}
				if err := json.Unmarshal(e[1], &verdict); err != nil {
					t.Fatal(err)
				}
				var parts []string
				for _, k := range key.Concat {
					parts = append(parts, fmt.Sprint(k))
				}
				els[strings.Join(parts, " . ")] = "goto " + verdict.Goto.Target
			}
			st.maps[o.Name] = els
		}
	}
	slices.Sort(st.chains)
	slices.Sort(st.sets)
	return st
}

// requireNFT fails unless the kernel's table holds exactly want's chains
// (and the base chains), sets and map elements.
func requireNFT(t *testing.T, ns string, want *NFTRuleset) {
	t.Helper()
	got := kernelNFT(t, ns)
	wantChains := slices.Collect(maps.Keys(want.chains))
	for _, b := range nftBaseChains {
		wantChains = append(wantChains, b.name)
	}
	slices.Sort(wantChains)
	if !slices.Equal(got.chains, wantChains) {
		t.Fatalf("kernel chains:\n got %v\nwant %v", got.chains, wantChains)
	}
	w := append(slices.Collect(maps.Keys(want.sets)), nftHairpin)
	if slices.Sort(w); !slices.Equal(got.sets, w) {
		t.Fatalf("kernel sets:\n got %v\nwant %v", got.sets, w)
	}
	var pairs []string
	for ip := range want.hairpin {
		pairs = append(pairs, hairpinKey(ip))
	}
	if slices.Sort(pairs); !slices.Equal(slices.Sorted(slices.Values(got.pairs)), pairs) {
		t.Fatalf("kernel hairpin set:\n got %v\nwant %v", got.pairs, pairs)
	}
	if !maps.EqualFunc(got.eps, want.eps, maps.Equal) {
		t.Fatalf("kernel endpoints maps:\n got %v\nwant %v", got.eps, want.eps)
	}
	for _, m := range nftMaps {
		if g, w := got.maps[m.name], want.maps[m.name]; !maps.Equal(g, w) && len(g)+len(w) > 0 {
			t.Fatalf("kernel map %s:\n got %v\nwant %v", m.name, g, w)
		}
	}
}

func TestNFTRules(t *testing.T) {
	services, endpoints := fixture()
	rs := BuildNFTRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints})
	webHTTP := nftName("service-", "default/web/tcp/http", "default/web:http", "tcp")
	sticky := nftName("service-", "default/sticky/tcp/", "default/sticky:", "tcp")
	cases := []struct {
		name, m, key, want string
	}{
		{"ClusterIP to its service chain", nftServiceIPs, "10.96.0.10 . tcp . 80", "goto " + webHTTP},
		{"UDP port of the same service", nftServiceIPs, "10.96.0.10 . udp . 53", "goto " + nftName("service-", "default/web/udp/dns", "default/web:dns", "udp")},
		{"NodePort through its external chain", nftServiceNodePorts, "tcp . 30080", "goto " + nftName("external-", "default/web/tcp/http", "default/web:http", "tcp")},
		{"affinity service", nftServiceIPs, "10.96.0.11 . tcp . 443", "goto " + sticky},
		{"no endpoints: not a service IP", nftServiceIPs, "10.96.0.12 . tcp . 80", ""},
		{"no endpoints: rejected", nftNoEndpointServices, "10.96.0.12 . tcp . 80", "goto reject-chain"},
		{"no endpoints NodePort: rejected", nftNoEndpointNodePorts, "tcp . 30099", "goto reject-chain"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := rs.Element(c.m, c.key); got != c.want {
				t.Fatalf("%s[%s] = %q, want %q", c.m, c.key, got, c.want)
			}
		})
	}
	t.Run("service chain balances over its endpoints", func(t *testing.T) {
		rules := rs.Chain(webHTTP)
		// The ports get slots in name order: default/web:dns/udp is 0.
		// Slot 1's map is the second of each protocol's.
		if len(rules) != 2 || rules[1] != "meta l4proto tcp dnat ip addr . port to numgen random mod 2 offset 4096 map @endpoints-tcp-1" {
			t.Fatalf("rules %q", rules)
		}
		if a, b := rs.Endpoint("endpoints-tcp-1", "4096"), rs.Endpoint("endpoints-tcp-1", "4097"); a != "10.244.1.10 . 8080" || b != "10.244.1.11 . 8080" ||
			len(rs.eps["endpoints-tcp-1"]) != 2 || len(rs.eps["endpoints-udp-0"]) != 2 {
			t.Fatalf("endpoints map %v", rs.eps)
		}
		if rs.hairpin["10.244.1.10"] != 2 || rs.hairpin["10.244.1.12"] != 0 {
			t.Fatalf("hairpin %v: want both web ports' endpoints, not the affinity service's", rs.hairpin)
		}
		if !strings.Contains(rules[0], "ip saddr != 10.244.0.0/16 jump mark-for-masquerade") {
			t.Fatalf("first rule %q does not masquerade off-cluster clients", rules[0])
		}
	})
	t.Run("affinity: a set per endpoint, checked first and updated on DNAT", func(t *testing.T) {
		if len(rs.sets) != 3 {
			t.Fatalf("sets %v, want 3", rs.sets)
		}
		rules := rs.Chain(sticky)
		for i := 1; i <= 3; i++ {
			if !strings.HasPrefix(rules[i], "ip saddr @affinity-") {
				t.Fatalf("rule %d %q", i, rules[i])
			}
		}
		ep := nftName("endpoint-", "default/sticky/tcp/__10.244.1.12/8443", "default/sticky:", "tcp", "10.244.1.12:8443")
		want := []string{"ip saddr 10.244.1.12 jump mark-for-masquerade", "", "meta l4proto tcp dnat to 10.244.1.12:8443"}
		got := rs.Chain(ep)
		if len(got) != 3 || got[0] != want[0] || !strings.HasPrefix(got[1], "update @affinity-") || got[2] != want[2] {
			t.Fatalf("endpoint chain %q", got)
		}
	})
	t.Run("one endpoint change", func(t *testing.T) {
		endpoints2 := slices.Clone(endpoints)
		endpoints2[0] = eps("default", "web", []string{"10.244.1.10", "10.244.1.19"}, svcPort{"http", "TCP", 8080, 0}, svcPort{"dns", "UDP", 5353, 0})
		next := BuildNFTRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints2})
		text, ch := next.RenderChanged(rs)
		// One element replaced in each port's endpoints map, one hairpin
		// pair replaced; no chain written (no rule for the kernel to
		// re-validate the table for).
		if len(ch.Written) != 0 || len(ch.Deleted) != 0 || ch.Elements != 6 {
			t.Fatalf("changes %+v\n%s", ch, text)
		}
		if text, ch := next.RenderChanged(next); len(text) != 0 || !ch.Empty() {
			t.Fatalf("no change rendered %q", text)
		}
		if flows := nftStaleUDPFlows(rs, next); !slices.Equal(flows, []StaleFlow{{"", 30053, "10.244.1.11"}, {"10.96.0.10", 53, "10.244.1.11"}}) {
			t.Fatalf("stale flows %v", flows)
		}
	})
}

func newNFTProxier(t *testing.T, ns string) *Proxier {
	t.Helper()
	p, err := New(Config{Mode: ModeNFTables, ClusterCIDR: clusterCIDR, NetNS: ns, MinSyncInterval: 50 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRealNFTSyncLifecycle(t *testing.T) {
	ns := newNetNS(t)
	ctx := context.Background()
	p := newNFTProxier(t, ns)
	if err := p.SyncNow(ctx); err == nil {
		t.Fatal("SyncNow before Setup succeeded")
	}
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if st := kernelNFT(t, ns); st.exists {
		t.Fatal("Setup created the table before the first sync")
	}
	services, endpoints := fixture()
	p.Update(services, endpoints)
	if err := p.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); !st.Full {
		t.Fatal("the first sync was not a full one")
	}
	in := func(e []*v1.Endpoints) RulesInput {
		return RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: e}
	}
	requireNFT(t, ns, BuildNFTRules(in(endpoints)))

	t.Run("no change runs nothing", func(t *testing.T) {
		if err := p.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.RestoreBytes != 0 || !st.Changes.Empty() || st.Full {
			t.Fatalf("second sync wrote %d bytes: %+v", st.RestoreBytes, st.Changes)
		}
	})

	t.Run("endpoint change rewrites only its chains", func(t *testing.T) {
		endpoints2 := slices.Clone(endpoints)
		endpoints2[1] = eps("default", "sticky", []string{"10.244.1.12", "10.244.1.15", "10.244.1.14"}, svcPort{"", "TCP", 8443, 0})
		p.Update(services, endpoints2)
		if err := p.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		st := p.Stats()
		if st.Full || len(st.Changes.Written) != 2 || len(st.Changes.Deleted) != 1 || st.Elements != 0 {
			t.Fatalf("stats %+v", st)
		}
		requireNFT(t, ns, BuildNFTRules(in(endpoints2)))
		endpoints = endpoints2
	})

	t.Run("service deleted: its chains, sets and elements go", func(t *testing.T) {
		p.Update(services[:1], endpoints)
		if err := p.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		want := BuildNFTRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services[:1], Endpoints: endpoints})
		requireNFT(t, ns, want)
		if len(want.sets) != 0 {
			t.Fatalf("sets left in the desired state: %v", want.sets)
		}
		p.Update(services, endpoints)
		if err := p.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		requireNFT(t, ns, BuildNFTRules(in(endpoints)))
	})

	t.Run("a failed transaction is followed by a full sync", func(t *testing.T) {
		// Someone deletes one of our chains behind our back: the next
		// partial transaction that flushes it fails whole.
		victim := nftName("service-", "default/sticky/tcp/", "default/sticky:", "tcp")
		nsRun(t, ns, "nft", "add", "table", "ip", NFTTable) // no-op
		endpoints2 := slices.Clone(endpoints)
		endpoints2[1] = eps("default", "sticky", []string{"10.244.1.12"}, svcPort{"", "TCP", 8443, 0})
		nsRun(t, ns, "nft", "delete", "element", "ip", NFTTable, nftServiceIPs, "{ 10.96.0.11 . tcp . 443 }")
		nsRun(t, ns, "nft", "flush", "chain", "ip", NFTTable, victim)
		nsRun(t, ns, "nft", "delete", "chain", "ip", NFTTable, victim)
		p.Update(services, endpoints2)
		if err := p.SyncNow(ctx); err == nil {
			t.Fatal("sync over a missing chain succeeded")
		}
		if err := p.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); !st.Full {
			t.Fatal("the sync after a failure was not a full one")
		}
		requireNFT(t, ns, BuildNFTRules(in(endpoints2)))
	})

	t.Run("cleanup leaves nothing of ours, twice", func(t *testing.T) {
		for i := 0; i < 2; i++ {
			if err := p.Cleanup(ctx); err != nil {
				t.Fatal(err)
			}
			if st := kernelNFT(t, ns); st.exists {
				t.Fatal("the table survived Cleanup")
			}
		}
		if err := p.SyncNow(ctx); err == nil {
			t.Fatal("SyncNow after Cleanup succeeded without Setup")
		}
	})
}

// ClientIP affinity, with real connections: every connection from one
// client reaches the same backend, where without affinity both are used.
func TestSessionAffinityTraffic(t *testing.T) { forEachMode(t, testSessionAffinityTraffic) }

func testSessionAffinityTraffic(t *testing.T, mode string) {
	backends := []string{"10.244.1.10", "10.244.1.11", "10.244.1.12"}
	ns := trafficNS(t, backends)
	ctx := context.Background()
	p, err := New(Config{Mode: mode, ClusterCIDR: clusterCIDR, NetNS: ns, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Cleanup(ctx); err != nil {
			t.Error(err)
		}
	})
	// An empty first sync: the services come in a partial one (netlink in
	// nftables mode).
	if err := p.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	p.Update([]*v1.Service{
		withAffinity(svc("default", "sticky", "10.96.0.20", svcPort{"", "TCP", 80, 0}), 0),
		svc("default", "spread", "10.96.0.21", svcPort{"", "TCP", 80, 0}),
	}, []*v1.Endpoints{
		eps("default", "sticky", backends, svcPort{"", "TCP", 8080, 0}),
		eps("default", "spread", backends, svcPort{"", "TCP", 8080, 0}),
	})
	if err := p.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		addr string
		want func(n int) bool
	}{
		{"10.96.0.20:80", func(n int) bool { return n == 1 }},
		{"10.96.0.21:80", func(n int) bool { return n > 1 }},
	} {
		seen := map[string]int{}
		for i := 0; i < 30; i++ {
			got, err := dialRead(ns, c.addr)
			if err != nil {
				t.Fatalf("connect %s: %v", c.addr, err)
			}
			seen[got]++
		}
		if !c.want(len(seen)) {
			t.Fatalf("30 connections to %s reached %v", c.addr, seen)
		}
	}
}

// NodePorts answer on every local address when the node's addresses are
// not given (iptables' addrtype LOCAL, nftables' fib daddr type local).
func TestNodePortAnyLocalAddress(t *testing.T) { forEachMode(t, testNodePortAnyLocalAddress) }

func testNodePortAnyLocalAddress(t *testing.T, mode string) {
	ns := trafficNS(t, []string{"10.244.1.10", "10.244.1.11"}) // the fixture's web backends
	p := syncedFixture(t, Config{Mode: mode, ClusterCIDR: clusterCIDR, NetNS: ns, Logger: testLogger(t)})
	defer p.Cleanup(context.Background())
	for _, addr := range []string{"192.168.77.1:30080", "127.0.0.1:30080"} {
		got, err := dialRead(ns, addr)
		if err != nil || net.ParseIP(got) == nil {
			t.Fatalf("%s answered %q, %v", addr, got, err)
		}
	}
}

// A partial sync through netlink leaves the kernel exactly as the same
// change through nft -f does: the two namespaces list the same table.
func TestNFTNetlinkMatchesNFT(t *testing.T) {
	viaNetlink, viaNFT := newNetNS(t), newNetNS(t)
	ctx := context.Background()
	x := func(ns string) nsExecutor { return nsExecutor{netns: ns} }
	apply := func(ns string, text []byte) {
		t.Helper()
		if _, err := x(ns).run(ctx, "nft", []string{"-f", "-"}, text); err != nil {
			t.Fatal(err)
		}
	}
	// The table's objects, each listed as nft prints it, sorted (the listing
	// follows creation order, which the two paths need not share).
	list := func(ns string) string {
		out := strings.TrimSuffix(strings.TrimSpace(nsRun(t, ns, "nft", "list", "table", "ip", NFTTable)), "}")
		blocks := strings.Split(out, "\n\n")
		for i := range blocks {
			blocks[i] = strings.TrimSpace(blocks[i])
		}
		slices.Sort(blocks)
		return strings.Join(blocks, "\n\n")
	}
	services, endpoints := fixture()
	build := func(s []*v1.Service, e []*v1.Endpoints) *NFTRuleset {
		return BuildNFTRules(RulesInput{ClusterCIDR: clusterCIDR, NodeIPs: []net.IP{net.ParseIP("192.168.77.1")}, Services: s, Endpoints: e})
	}
	prev := build(services, endpoints)
	full, _ := prev.RenderFull()
	apply(viaNetlink, full)
	apply(viaNFT, full)
	t.Cleanup(func() {
		for _, ns := range []string{viaNetlink, viaNFT} {
			apply(ns, []byte("delete table ip "+NFTTable+"\n"))
		}
	})

	more := append(slices.Clone(services), withAffinity(svc("other", "np", "10.96.1.1", svcPort{"a", "UDP", 53, 31000}, svcPort{"b", "TCP", 80, 0}), 30))
	moreEps := append(slices.Clone(endpoints),
		eps("other", "np", []string{"10.244.2.1", "10.244.2.2"}, svcPort{"a", "UDP", 5353, 0}, svcPort{"b", "TCP", 8080, 0}),
		eps("default", "empty", []string{"10.244.3.3"}, svcPort{"", "TCP", 8080, 0}))
	steps := []struct {
		name string
		next *NFTRuleset
	}{
		{"endpoints replaced", build(services, []*v1.Endpoints{
			eps("default", "web", []string{"10.244.1.10", "10.244.1.99"}, svcPort{"http", "TCP", 8080, 0}, svcPort{"dns", "UDP", 5353, 0}),
			eps("default", "sticky", []string{"10.244.1.12"}, svcPort{"", "TCP", 8443, 0})})},
		{"a NodePort service with affinity added, empty gets an endpoint", build(more, moreEps)},
		{"services deleted", build(more[2:], moreEps)},
		{"back to the fixture", build(services, endpoints)},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			b, err := s.next.netlinkChanges(prev)
			if err != nil {
				t.Fatal(err)
			}
			if err := b.apply(viaNetlink); err != nil {
				t.Fatal(err)
			}
			text, _ := s.next.RenderChanged(prev)
			apply(viaNFT, text)
			if a, b := list(viaNetlink), list(viaNFT); a != b {
				t.Fatalf("through netlink:\n%s\nthrough nft -f:\n%s", a, b)
			}
			prev = s.next
		})
	}
}
