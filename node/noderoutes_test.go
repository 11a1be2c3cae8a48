package node

import (
	"encoding/json"
	"fmt"
	"slices"
	"testing"

	"orch.io/orch/net/podnet"
)

func routeNodeJSON(t *testing.T, s string) routeNode {
	t.Helper()
	var n routeNode
	if err := json.Unmarshal([]byte(s), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestRouteNodeRoute(t *testing.T) {
	const ready = `{"type":"Ready","status":"True"}`
	for _, tt := range []struct {
		name, node string
		want       string // "" for no route
	}{
		{"ready", `{"metadata":{"name":"a"},"spec":{"podCIDR":"10.244.1.0/24"},"status":{"conditions":[` + ready + `],"addresses":[{"type":"Hostname","address":"a"},{"type":"InternalIP","address":"192.168.0.2"}]}}`, "10.244.1.0/24 via 192.168.0.2"},
		{"not ready", `{"metadata":{"name":"a"},"spec":{"podCIDR":"10.244.1.0/24"},"status":{"conditions":[{"type":"Ready","status":"Unknown"}],"addresses":[{"type":"InternalIP","address":"192.168.0.2"}]}}`, ""},
		{"no conditions", `{"metadata":{"name":"a"},"spec":{"podCIDR":"10.244.1.0/24"},"status":{"addresses":[{"type":"InternalIP","address":"192.168.0.2"}]}}`, ""},
		{"no pod CIDR", `{"metadata":{"name":"a"},"status":{"conditions":[` + ready + `],"addresses":[{"type":"InternalIP","address":"192.168.0.2"}]}}`, ""},
		{"bad pod CIDR", `{"metadata":{"name":"a"},"spec":{"podCIDR":"10.244.1.0"},"status":{"conditions":[` + ready + `],"addresses":[{"type":"InternalIP","address":"192.168.0.2"}]}}`, ""},
		{"no InternalIP", `{"metadata":{"name":"a"},"spec":{"podCIDR":"10.244.1.0/24"},"status":{"conditions":[` + ready + `],"addresses":[{"type":"Hostname","address":"a"}]}}`, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			n := routeNodeJSON(t, tt.node)
			r, ok := n.route()
			got := ""
			if ok {
				got = fmt.Sprintf("%s via %s", r.CIDR, r.Via)
			}
			if got != tt.want {
				t.Errorf("route %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRouteTable(t *testing.T) {
	type step struct {
		node    string
		route   string // cidr/via, "" for none
		changed bool
		want    []string
	}
	set := func(tb *routeTable, node, r string) bool {
		if r == "" {
			return tb.set(node, podnet.Route{}, false)
		}
		var cidr, via string
		fmt.Sscanf(r, "%s %s", &cidr, &via)
		return tb.set(node, route(cidr, via), true)
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"kept in CIDR order", []step{
			{"b", "10.244.2.0/24 192.168.0.3", true, []string{"10.244.2.0/24 192.168.0.3"}},
			{"a", "10.244.1.0/24 192.168.0.2", true, []string{"10.244.1.0/24 192.168.0.2", "10.244.2.0/24 192.168.0.3"}},
			{"c", "10.244.10.0/24 192.168.0.4", true, []string{"10.244.1.0/24 192.168.0.2", "10.244.10.0/24 192.168.0.4", "10.244.2.0/24 192.168.0.3"}},
		}},
		{"an unchanged route changes nothing", []step{
			{"a", "10.244.1.0/24 192.168.0.2", true, []string{"10.244.1.0/24 192.168.0.2"}},
			{"a", "10.244.1.0/24 192.168.0.2", false, []string{"10.244.1.0/24 192.168.0.2"}},
		}},
		{"a new gateway replaces the route", []step{
			{"a", "10.244.1.0/24 192.168.0.2", true, []string{"10.244.1.0/24 192.168.0.2"}},
			{"a", "10.244.1.0/24 192.168.0.9", true, []string{"10.244.1.0/24 192.168.0.9"}},
		}},
		{"a node that loses its route", []step{
			{"a", "10.244.1.0/24 192.168.0.2", true, []string{"10.244.1.0/24 192.168.0.2"}},
			{"b", "10.244.2.0/24 192.168.0.3", true, []string{"10.244.1.0/24 192.168.0.2", "10.244.2.0/24 192.168.0.3"}},
			{"a", "", true, []string{"10.244.2.0/24 192.168.0.3"}},
			{"a", "", false, []string{"10.244.2.0/24 192.168.0.3"}},
		}},
		{"two nodes naming one CIDR both stay", []step{
			{"b", "10.244.1.0/24 192.168.0.3", true, []string{"10.244.1.0/24 192.168.0.3"}},
			{"a", "10.244.1.0/24 192.168.0.2", true, []string{"10.244.1.0/24 192.168.0.2", "10.244.1.0/24 192.168.0.3"}},
			{"b", "", true, []string{"10.244.1.0/24 192.168.0.2"}},
		}},
		{"no route to itself", []step{
			{"self", "10.244.1.0/24 192.168.0.1", false, nil},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tb := newRouteTable("self")
			for i, st := range tc.steps {
				if got := set(tb, st.node, st.route); got != st.changed {
					t.Errorf("step %d: changed %v, want %v", i, got, st.changed)
				}
				var got []string
				for _, r := range tb.routes() {
					got = append(got, fmt.Sprintf("%s %s", r.CIDR, r.Via))
				}
				if !slices.Equal(got, st.want) {
					t.Fatalf("step %d: routes %q, want %q", i, got, st.want)
				}
			}
		})
	}
}

func TestRouteTableReset(t *testing.T) {
	const n = `{"metadata":{"name":"%s"},"spec":{"podCIDR":"%s"},"status":{"conditions":[{"type":"Ready","status":"True"}],"addresses":[{"type":"InternalIP","address":"%s"}]}}`
	a := routeNodeJSON(t, fmt.Sprintf(n, "a", "10.244.1.0/24", "192.168.0.2"))
	b := routeNodeJSON(t, fmt.Sprintf(n, "b", "10.244.2.0/24", "192.168.0.3"))
	self := routeNodeJSON(t, fmt.Sprintf(n, "self", "10.244.3.0/24", "192.168.0.1"))
	tb := newRouteTable("self")
	if !tb.reset([]routeNode{b, self, a}) {
		t.Error("a first list with routes changed nothing")
	}
	if got := tb.routes(); len(got) != 2 || got[0].CIDR.String() != "10.244.1.0/24" || got[1].CIDR.String() != "10.244.2.0/24" {
		t.Errorf("routes %v", got)
	}
	if tb.reset([]routeNode{a, b}) {
		t.Error("the same list again changed the routes")
	}
	if !tb.reset([]routeNode{a}) || len(tb.routes()) != 1 {
		t.Errorf("a node gone: routes %v", tb.routes())
	}
}

// BenchmarkRouteTableHeartbeat is one node's status update in a cluster of
// 5,000 nodes as every node sees it: allocations must not grow with the
// cluster (-benchmem).
func BenchmarkRouteTableHeartbeat(b *testing.B) {
	tb := newRouteTable("self")
	for i := range 5000 {
		tb.set(fmt.Sprintf("n%d", i), route(fmt.Sprintf("10.%d.%d.0/24", 100+i/256, i%256), fmt.Sprintf("192.168.%d.%d", i/256, i%256+1)), true)
	}
	raw := []byte(`{"metadata":{"name":"n42"},"spec":{"podCIDR":"10.100.42.0/24"},"status":{"conditions":[{"type":"Ready","status":"True"}],"addresses":[{"type":"InternalIP","address":"192.168.0.43"}]}}`)
	b.ReportAllocs()
	for b.Loop() {
		var n routeNode
		if err := json.Unmarshal(raw, &n); err != nil {
			b.Fatal(err)
		}
		r, ok := n.route()
		if tb.set(n.Metadata.Name, r, ok) {
			b.Fatal("a heartbeat changed the routes")
		}
	}
}
