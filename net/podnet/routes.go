package podnet

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Route is a host-gw route: traffic for CIDR (another node's pod CIDR) goes
// to the node at Via, which must be reachable on a directly connected
// network of the node netns.
type Route struct {
	CIDR *net.IPNet
	Via  net.IP
}

// SetRoutes makes the unicast routes podnet owns in the node netns exactly
// routes: it adds the missing ones, replaces those whose gateway changed and
// deletes the stale ones. Owned routes carry RouteProtocol; routes of other
// protocols are never touched (adding a route whose prefix another owner
// already uses fails). IPv4 only.
//
// A route to a CIDR outside Config.ClusterCIDR is left out (and removed if
// installed) with a warning, the rest applies: only pod traffic is routed
// to other nodes, whatever a Node object names (one that got through before
// the masters checked pod CIDRs could name the service CIDR, the nodes'
// own subnet or a default route). A route that overlaps this node's own pod
// CIDR is an error and changes nothing: it would take this node's own pods'
// traffic to another node.
func (n *Network) SetRoutes(ctx context.Context, routes []Route) error {
	routes = n.clusterRoutes(routes)
	want := make(map[string]*netlink.Route, len(routes))
	for _, r := range routes {
		if r.CIDR == nil || r.CIDR.IP.To4() == nil || len(r.CIDR.Mask) != net.IPv4len {
			return fmt.Errorf("set routes: invalid CIDR %v: IPv4 required", r.CIDR)
		}
		if r.Via.To4() == nil {
			return fmt.Errorf("set routes: %s: invalid gateway %v: IPv4 required", r.CIDR, r.Via)
		}
		dst := &net.IPNet{IP: r.CIDR.IP.Mask(r.CIDR.Mask).To4(), Mask: r.CIDR.Mask}
		if dst.String() == n.podNet.String() {
			return fmt.Errorf("set routes: %s is this node's pod CIDR", dst)
		}
		if dst.Contains(n.podNet.IP) || n.podNet.Contains(dst.IP) {
			return fmt.Errorf("set routes: %s overlaps this node's pod CIDR %s", dst, n.podNet)
		}
		if _, dup := want[dst.String()]; dup {
			return fmt.Errorf("set routes: duplicate route for %s", dst)
		}
		want[dst.String()] = &netlink.Route{
			Dst:      dst,
			Gw:       r.Via.To4(),
			Protocol: RouteProtocol,
			Table:    unix.RT_TABLE_MAIN,
			Type:     unix.RTN_UNICAST,
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("set routes: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()

	h, err := handleAt(n.cfg.HostNetNS)
	if err != nil {
		return fmt.Errorf("set routes: %w", err)
	}
	defer h.Close()
	have, err := ownedRoutes(h, unix.RTN_UNICAST)
	if err != nil {
		return fmt.Errorf("set routes: %w", err)
	}

	var errs []error
	var added, replaced, deleted int
	for i := range have {
		r := &have[i]
		w := want[dstKey(r.Dst)]
		switch {
		case w == nil || r.Priority != 0:
			// Stale, or ours with a metric we never set: remove. A wanted
			// route is then added below.
			if err := h.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
				errs = append(errs, fmt.Errorf("delete %s: %w", r.Dst, err))
				continue
			}
			deleted++
		case r.Gw.Equal(w.Gw) && len(r.MultiPath) == 0:
			delete(want, dstKey(r.Dst)) // up to date
		default:
			if err := h.RouteReplace(w); err != nil {
				errs = append(errs, fmt.Errorf("replace %s via %s: %w", w.Dst, w.Gw, err))
			} else {
				replaced++
			}
			delete(want, dstKey(r.Dst))
		}
	}
	for _, w := range want {
		if err := h.RouteAdd(w); err != nil {
			errs = append(errs, fmt.Errorf("add %s via %s: %w", w.Dst, w.Gw, err))
			continue
		}
		added++
	}
	n.log.Debug("routes synced", "added", added, "replaced", replaced, "deleted", deleted, "errors", len(errs))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("set routes: %w", err)
	}
	return nil
}

// dstKey is the map key of a route destination; nil is the default route.
func dstKey(dst *net.IPNet) string {
	if dst == nil {
		return "0.0.0.0/0"
	}
	return dst.String()
}

// clusterRoutes returns the routes whose CIDR lies inside the cluster CIDR
// (all of them when none is configured) and logs the others.
func (n *Network) clusterRoutes(routes []Route) []Route {
	cluster := n.cfg.ClusterCIDR
	if cluster == nil {
		return routes
	}
	clusterOnes, _ := cluster.Mask.Size()
	out := make([]Route, 0, len(routes))
	for _, r := range routes {
		if r.CIDR != nil && r.CIDR.IP.To4() != nil && len(r.CIDR.Mask) == net.IPv4len {
			if ones, _ := r.CIDR.Mask.Size(); ones < clusterOnes || !cluster.Contains(r.CIDR.IP) {
				n.log.Warn("not routing a pod CIDR outside the cluster CIDR", "cidr", r.CIDR, "via", r.Via, "clusterCIDR", cluster)
				continue
			}
		}
		out = append(out, r) // anything else is SetRoutes' to refuse
	}
	return out
}
