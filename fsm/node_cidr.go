package fsm

import (
	"fmt"
	"net"

	v1 "orch.io/orch/api/v1"
)

// Pod CIDR checks that need the store. Every other node routes a node's pod
// CIDR to it (host-gw), so a CIDR that overlaps another node's would take
// over or split that node's pod traffic, and one outside the cluster CIDR
// would make every node route some other network (the service CIDR, the
// nodes' own subnet) to it. Kubernetes' node IPAM only ever hands out
// disjoint subnets of the cluster CIDR; orch lets a node name its own at
// registration, so the FSM checks it, with the same answer on every master.

// nodeCIDRs returns the distinct pod CIDRs a node's spec names.
func nodeCIDRs(n *v1.Node) []string {
	var out []string
	for _, c := range append([]string{n.Spec.PodCIDR}, n.Spec.PodCIDRs...) {
		if c == "" {
			continue
		}
		dup := false
		for _, o := range out {
			dup = dup || o == c
		}
		if !dup {
			out = append(out, c)
		}
	}
	return out
}

// podCIDRInvalid is the Invalid error for one of a node's pod CIDRs.
func podCIDRInvalid(node, cidr, msg string) error {
	return v1.NewInvalid("Node", node, []v1.StatusCause{{Type: "FieldValueInvalid", Field: "spec.podCIDR",
		Message: fmt.Sprintf("spec.podCIDR: Invalid value: %q: %s", cidr, msg)}})
}

// checkPodCIDRs refuses a node whose pod CIDRs are not CIDRs, lie outside
// clusterCIDR (when not ""), or overlap a pod CIDR of another node.
func checkPodCIDRs(w *writeTxn, n *v1.Node, clusterCIDR string) error {
	var cluster *net.IPNet
	if clusterCIDR != "" {
		_, c, err := net.ParseCIDR(clusterCIDR)
		if err != nil || c.IP.To4() == nil {
			return v1.NewBadRequest(fmt.Sprintf("cluster CIDR %q is not an IPv4 CIDR", clusterCIDR))
		}
		cluster = c
	}
	mine := nodeCIDRs(n)
	for _, c := range mine {
		ip, sub, err := net.ParseCIDR(c)
		if err != nil {
			return podCIDRInvalid(n.Name, c, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")
		}
		if !ip.Equal(sub.IP) {
			return podCIDRInvalid(n.Name, c, "must not have bits set beyond the prefix length")
		}
		if cluster != nil && !cidrWithin(sub, cluster) {
			return podCIDRInvalid(n.Name, c, fmt.Sprintf("must be inside the cluster CIDR %s", cluster))
		}
	}
	self := v1.Key("", n.Name)
	for i, c := range mine {
		p, ok := parsePodCIDR(c)
		if !ok {
			return podCIDRInvalid(n.Name, c, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)")
		}
		// The index gives the other nodes' CIDRs that hold this one or lie
		// inside it, without reading the others.
		other, oc, err := overlappingPodCIDR(w.txn, p.prefix, self)
		if err != nil {
			return v1.NewInternalError(err)
		}
		if other != nil {
			return podCIDRInvalid(n.Name, mine[i], fmt.Sprintf("overlaps the pod CIDR %s of node %s", oc, other.Key()))
		}
	}
	return nil
}

// cidrWithin reports whether sub lies entirely inside outer.
func cidrWithin(sub, outer *net.IPNet) bool {
	so, sb := sub.Mask.Size()
	oo, ob := outer.Mask.Size()
	return sb == ob && so >= oo && outer.Contains(sub.IP)
}

// cidrsOverlap reports whether a and b share an address.
func cidrsOverlap(a, b *net.IPNet) bool {
	return a.Contains(b.IP) || b.Contains(a.IP)
}
