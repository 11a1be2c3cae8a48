package v1

import (
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validatePodStatus checks the addresses a pod's status reports, as
// Kubernetes' ValidatePodStatusUpdate does: podIP, podIPs and hostIP must be
// IP addresses. The endpoints controller copies pod IPs into the Endpoints
// every node programs into iptables, and its own writes are not validated:
// the API is where a bad address is stopped.
func validatePodStatus(s *PodStatus) field.ErrorList {
	st := field.NewPath("status")
	var errs field.ErrorList
	if s.PodIP != "" {
		errs = append(errs, validation.IsValidIPForLegacyField(st.Child("podIP"), s.PodIP, true, nil)...)
	}
	for i, ip := range s.PodIPs {
		errs = append(errs, validation.IsValidIPForLegacyField(st.Child("podIPs").Index(i).Child("ip"), ip.IP, true, nil)...)
	}
	if s.HostIP != "" {
		errs = append(errs, validation.IsValidIPForLegacyField(st.Child("hostIP"), s.HostIP, true, nil)...)
	}
	return errs
}
