package v1

import (
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ValidateNonSpecialIP refuses the addresses no client may name as a place
// for the cluster to send traffic, with Kubernetes' wording
// (pkg/apis/core/validation ValidateNonSpecialIP): unspecified, loopback,
// link-local unicast and link-local multicast. Every node programs an
// endpoint's IP into its service rules and dials it in its own network
// namespace, so 127.0.0.1 would be each node's own loopback, and link-local
// addresses reach node-local services such as a cloud metadata server.
func ValidateNonSpecialIP(value string, p *field.Path) field.ErrorList {
	ip, err := netip.ParseAddr(value)
	if err != nil {
		return field.ErrorList{field.Invalid(p, value, "must be a valid IP address")}
	}
	ip = ip.Unmap()
	var errs field.ErrorList
	if ip.IsUnspecified() {
		errs = append(errs, field.Invalid(p, value, fmt.Sprintf("may not be unspecified (%v)", value)))
	}
	if ip.IsLoopback() {
		errs = append(errs, field.Invalid(p, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if ip.IsLinkLocalUnicast() {
		errs = append(errs, field.Invalid(p, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if ip.IsLinkLocalMulticast() {
		errs = append(errs, field.Invalid(p, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return errs
}

// IsSpecialIP reports whether ValidateNonSpecialIP refuses ip (an
// unparseable address counts as special). Consumers of endpoint and pod IPs
// use it to ignore an address that reached the store before it was refused.
func IsSpecialIP(ip string) bool {
	return len(ValidateNonSpecialIP(ip, nil)) > 0
}

// validateEndpointIP checks one endpoint address as Kubernetes'
// validateEndpointAddress does: a valid IP, and not a special one.
func validateEndpointIP(value string, p *field.Path) field.ErrorList {
	if errs := validation.IsValidIPForLegacyField(p, value, true, nil); len(errs) > 0 {
		return errs
	}
	return ValidateNonSpecialIP(value, p)
}

// validatePodIPs refuses special addresses in a pod's status. Kubernetes
// checks only that podIP and podIPs are IPs, because its endpoints
// controller writes Endpoints through validation, which refuses a special
// one; orch's endpoints controller copies pod IPs into the Endpoints
// directly, so a node that reported 127.0.0.1 as a pod's IP would steer
// every node's service traffic for it to that node's own loopback. The
// address is refused where the node writes it instead. A hostNetwork pod's
// IP is its node's (status.hostIP), which may be loopback (`orchd dev`);
// the endpoints controller and the proxy leave such an address out.
func validatePodIPs(p *Pod) field.ErrorList {
	st := pathStatus
	s := &p.Status
	check := func(ip string, fp *field.Path) field.ErrorList {
		if ip == "" || len(validation.IsValidIPForLegacyField(nil, ip, true, nil)) > 0 {
			return nil // validatePodStatus reports what is not an IP
		}
		if p.Spec.HostNetwork && ip == s.HostIP {
			return nil
		}
		return ValidateNonSpecialIP(ip, fp)
	}
	var errs field.ErrorList
	if s.PodIP != "" {
		errs = check(s.PodIP, st.Child("podIP"))
	}
	for i, ip := range s.PodIPs {
		errs = append(errs, check(ip.IP, st.Child("podIPs").Index(i).Child("ip"))...)
	}
	return errs
}
