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
	st := pathStatus
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
	switch s.Phase {
	case "", PodPending, PodRunning, PodSucceeded, PodFailed, PodUnknown:
	default:
		errs = append(errs, field.NotSupported(st.Child("phase"), s.Phase, []string{PodPending, PodRunning, PodSucceeded, PodFailed, PodUnknown}))
	}
	for _, l := range []struct {
		name string
		list []ContainerStatus
	}{{"initContainerStatuses", s.InitContainerStatuses}, {"containerStatuses", s.ContainerStatuses}, {"ephemeralContainerStatuses", s.EphemeralContainerStatuses}} {
		for i, c := range l.list {
			if c.RestartCount < 0 {
				errs = append(errs, field.Invalid(st.Child(l.name).Index(i).Child("restartCount"), c.RestartCount, "must be greater than or equal to 0"))
			}
		}
	}
	return errs
}

// Node address types, as Kubernetes names them.
var nodeAddressTypes = []string{"Hostname", "InternalIP", "ExternalIP", "InternalDNS", "ExternalDNS"}

// validateNodeStatus checks what a node reports about where it is reached:
// masters dial the agent at its addresses and daemon endpoint, so a bad one
// is refused here rather than dialled. IP types must be IP addresses, name
// types DNS names, the port a port.
func validateNodeStatus(s *NodeStatus) field.ErrorList {
	st := field.NewPath("status")
	var errs field.ErrorList
	for i, a := range s.Addresses {
		ap := st.Child("addresses").Index(i)
		switch a.Type {
		case "InternalIP", "ExternalIP":
			errs = append(errs, validation.IsValidIPForLegacyField(ap.Child("address"), a.Address, true, nil)...)
		case "Hostname", "InternalDNS", "ExternalDNS":
			for _, msg := range validation.IsDNS1123Subdomain(a.Address) {
				errs = append(errs, field.Invalid(ap.Child("address"), a.Address, msg))
			}
		default:
			errs = append(errs, field.NotSupported(ap.Child("type"), a.Type, nodeAddressTypes))
		}
	}
	if p := s.DaemonEndpoints.KubeletEndpoint.Port; p != 0 {
		for _, msg := range validation.IsValidPortNum(int(p)) {
			errs = append(errs, field.Invalid(st.Child("daemonEndpoints", "kubeletEndpoint", "Port"), p, msg))
		}
	}
	return errs
}
