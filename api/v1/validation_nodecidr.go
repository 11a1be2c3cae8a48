package v1

import (
	"net"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateNodePodCIDRs checks a node's pod CIDRs without the store, as
// Kubernetes' ValidateNode does: every entry of podCIDRs a valid CIDR in
// canonical subnet form, at most one per IP family. orch keeps podCIDR (the
// field Kubernetes mirrors from podCIDRs[0]) and podCIDRs both, so they must
// agree. Whether a CIDR lies inside the cluster CIDR and overlaps no other
// node's is the FSM's check (fsm.checkPodCIDRs): it needs the other nodes.
func validateNodePodCIDRs(s *NodeSpec, sp *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.PodCIDR != "" {
		errs = append(errs, validation.IsValidCIDRForLegacyField(sp.Child("podCIDR"), s.PodCIDR, true, nil)...)
	}
	cp := sp.Child("podCIDRs")
	families := map[bool]int{}
	for i, c := range s.PodCIDRs {
		bad := validation.IsValidCIDRForLegacyField(cp.Index(i), c, true, nil)
		errs = append(errs, bad...)
		if len(bad) == 0 {
			ip, _, _ := net.ParseCIDR(c)
			families[ip.To4() != nil]++
		}
	}
	if len(s.PodCIDRs) > 2 || families[true] > 1 || families[false] > 1 {
		errs = append(errs, field.Invalid(cp, s.PodCIDRs, "may specify no more than one CIDR for each IP family"))
	}
	if s.PodCIDR != "" && len(s.PodCIDRs) > 0 && s.PodCIDRs[0] != s.PodCIDR {
		errs = append(errs, field.Invalid(sp.Child("podCIDR"), s.PodCIDR, "must be the first of podCIDRs"))
	}
	return errs
}
