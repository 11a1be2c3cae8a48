package v1

import "slices"

// PodCIDRChange returns Kubernetes' refusal when an update of old to n
// changes the node's pod CIDR, and "" otherwise. The subnet is given once, at
// registration, and other nodes route it to this node: a node that moved to
// another subnet (perhaps one given to another node) would take over or strand
// pod traffic. A field the update leaves empty keeps its stored value, as a
// Service's clusterIP does.
func PodCIDRChange(n, old *Node) string {
	if old.Spec.PodCIDR == "" && len(old.Spec.PodCIDRs) == 0 {
		return ""
	}
	if (n.Spec.PodCIDR != "" && n.Spec.PodCIDR != old.Spec.PodCIDR) ||
		(len(n.Spec.PodCIDRs) > 0 && !slices.Equal(n.Spec.PodCIDRs, old.Spec.PodCIDRs)) {
		return `node updates may not change podCIDR except from "" to valid`
	}
	return ""
}
