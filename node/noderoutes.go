package node

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/podnet"
)

// Every node follows every other node for its host-gw routes, so the cost
// of one node's change is paid by each node of the cluster: a cluster of N
// nodes whose nodes each register, turn Ready and report their status pays
// it N² times. The agent therefore decodes only the fields a route needs
// (routeNode), keeps the routes sorted by CIDR as they change (routeTable)
// and touches the node's routes only when one of them changed, never
// recomputing them all for a heartbeat-like status update.

// routeNode is the part of a Node its route needs.
type routeNode struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		PodCIDR string `json:"podCIDR"`
	} `json:"spec"`
	Status struct {
		Conditions []struct {
			Type   string `json:"type"`
			Status string `json:"status"`
		} `json:"conditions"`
		Addresses []struct {
			Type    string `json:"type"`
			Address string `json:"address"`
		} `json:"addresses"`
	} `json:"status"`
}

// route is the host-gw route to n's pod CIDR through its InternalIP; ok is
// false for a node without one: not Ready, no pod CIDR or InternalIP yet.
func (n *routeNode) route() (podnet.Route, bool) {
	ready := false
	for _, c := range n.Status.Conditions {
		if c.Type == string(v1.NodeReady) {
			ready = c.Status == string(v1.ConditionTrue)
		}
	}
	if !ready || n.Spec.PodCIDR == "" {
		return podnet.Route{}, false
	}
	var ip net.IP
	for _, addr := range n.Status.Addresses {
		if addr.Type == "InternalIP" {
			ip = net.ParseIP(addr.Address)
		}
	}
	_, cidr, err := net.ParseCIDR(n.Spec.PodCIDR)
	if ip == nil || err != nil {
		return podnet.Route{}, false
	}
	return podnet.Route{CIDR: cidr, Via: ip}, true
}

// routeEntry is one node's route in a routeTable.
type routeEntry struct {
	// cidr and via are the route's CIDR and gateway as text: the table's
	// order and its comparisons.
	cidr, via, node string
	route           podnet.Route
}

func compareEntries(a, b routeEntry) int {
	return cmp.Or(cmp.Compare(a.cidr, b.cidr), cmp.Compare(a.node, b.node))
}

// routeTable holds the routes to every other node that has one, sorted by
// CIDR (then node name). One node's change costs a lookup and, if its
// route changed, an insertion into the sorted slice.
type routeTable struct {
	self   string
	byNode map[string]routeEntry
	sorted []routeEntry
}

func newRouteTable(self string) *routeTable {
	return &routeTable{self: self, byNode: map[string]routeEntry{}}
}

// set records node's route (ok false: it has none, or is gone) and
// reports whether the table changed.
func (t *routeTable) set(node string, r podnet.Route, ok bool) bool {
	if node == t.self {
		return false
	}
	old, had := t.byNode[node]
	var e routeEntry
	if ok {
		e = routeEntry{cidr: r.CIDR.String(), via: r.Via.String(), node: node, route: r}
		if had && old.cidr == e.cidr && old.via == e.via {
			return false
		}
	} else if !had {
		return false
	}
	if had {
		if i, found := slices.BinarySearchFunc(t.sorted, old, compareEntries); found {
			t.sorted = slices.Delete(t.sorted, i, i+1)
		}
		delete(t.byNode, node)
	}
	if ok {
		i, _ := slices.BinarySearchFunc(t.sorted, e, compareEntries)
		t.sorted = slices.Insert(t.sorted, i, e)
		t.byNode[node] = e
	}
	return true
}

// reset replaces the table with the routes of nodes; it reports whether
// the routes changed.
func (t *routeTable) reset(nodes []routeNode) bool {
	before := t.routes()
	t.byNode, t.sorted = map[string]routeEntry{}, nil
	for i := range nodes {
		r, ok := nodes[i].route()
		t.set(nodes[i].Metadata.Name, r, ok)
	}
	return !slices.EqualFunc(before, t.routes(), sameRoute)
}

// routes returns the routes in CIDR order (a new slice).
func (t *routeTable) routes() []podnet.Route {
	out := make([]podnet.Route, len(t.sorted))
	for i, e := range t.sorted {
		out[i] = e.route
	}
	return out
}

// followRoutes keeps the node's routes to the other nodes' pod CIDRs until
// ctx ends: a route to every other Ready node with a pod CIDR, through its
// InternalIP.
func (a *Agent) followRoutes(ctx context.Context, routing *routeSync) {
	table := newRouteTable(a.cfg.Name)
	changed := false
	apply := func() {
		if !changed && routing.synced {
			return
		}
		routes := table.routes()
		applied, err := routing.sync(ctx, routes)
		if err != nil {
			a.log.Warn("routes to other nodes", "err", err)
			return
		}
		changed = false
		if applied {
			a.log.Info("routes to other nodes", "routes", len(routes))
		}
	}
	followResource(ctx, a, "nodes", func(raws []json.RawMessage) error {
		nodes := make([]routeNode, len(raws))
		for i, raw := range raws {
			if err := json.Unmarshal(raw, &nodes[i]); err != nil {
				return fmt.Errorf("list nodes: decode item %d: %w", i, err)
			}
		}
		changed = table.reset(nodes) || changed
		apply()
		return nil
	}, func(ev client.Event) {
		switch ev.Type {
		case v1.Bookmark:
			return
		case v1.Deleted:
			changed = table.set(ev.Name, podnet.Route{}, false) || changed
		default:
			var n routeNode
			if err := json.Unmarshal(ev.Object, &n); err != nil {
				a.log.Error("undecodable event", "resource", "nodes", "err", err)
				return
			}
			r, ok := n.route()
			changed = table.set(ev.Name, r, ok) || changed
		}
		apply()
	})
}
