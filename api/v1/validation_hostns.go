package v1

import (
	"fmt"
	"net/netip"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateHostPorts applies Kubernetes' rules to host ports
// (pkg/apis/core/validation): hostIP is an IP address; no two ports of
// the app containers share (hostIP, protocol, hostPort), nor two ports of
// one init container (init containers run one at a time); with
// hostNetwork every hostPort that is set equals its containerPort (a pod
// template may leave it 0: Kubernetes defaults it only when the pod is
// made; validatePodHostPorts holds pods to the whole rule).
func validateHostPorts(s *PodSpec, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for _, list := range []struct {
		name string
		cs   []Container
	}{{"initContainers", s.InitContainers}, {"containers", s.Containers}} {
		seen := map[string]bool{}
		for i := range list.cs {
			if list.name == "initContainers" {
				seen = map[string]bool{}
			}
			for j, port := range list.cs[i].Ports {
				pp := pathFn(func() *field.Path { return p.Child(list.name).Index(i).Child("ports").Index(j) })
				if port.HostIP != "" {
					errs = append(errs, validateHostIP(port.HostIP, pp.child("hostIP"))...)
				}
				if port.HostPort == 0 {
					continue
				}
				key := fmt.Sprintf("%s/%s/%d", port.HostIP, port.Protocol, port.HostPort)
				if seen[key] {
					errs = append(errs, field.Duplicate(pp.child("hostPort"), key))
				}
				seen[key] = true
			}
		}
	}
	return append(errs, validateHostNetworkPorts(s, p, false)...)
}

// validatePodHostPorts is the rule for a pod (not a template): with
// hostNetwork every hostPort equals its containerPort, 0 included.
func validatePodHostPorts(s *PodSpec, p *field.Path) field.ErrorList {
	return validateHostNetworkPorts(s, p, true)
}

// validateHostNetworkPorts reports, for a hostNetwork pod, the container
// ports whose hostPort differs from containerPort: all of them when onlyZero
// is false, else only those left 0 (the rest are reported by
// validateHostPorts).
func validateHostNetworkPorts(s *PodSpec, p *field.Path, onlyZero bool) field.ErrorList {
	if !s.HostNetwork {
		return nil
	}
	var errs field.ErrorList
	for i, c := range s.Containers {
		for j, port := range c.Ports {
			hp, cp := port.HostPort, port.ContainerPort
			if hp == cp || (hp == 0) != onlyZero {
				continue
			}
			errs = append(errs, field.Invalid(p.Child("containers").Index(i).Child("ports").Index(j).Child("hostPort"),
				port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
		}
	}
	return errs
}

// validateHostIP checks a port's hostIP: an IP address (Kubernetes), and
// one orch's nodes can forward: IPv4 (the pod network is IPv4) and not
// loopback (the node does not route its loopback to pods), so a port that
// could never be reached is refused rather than accepted and ignored.
func validateHostIP(ip string, p *field.Path) field.ErrorList {
	if errs := validation.IsValidIPForLegacyField(p, ip, true, nil); len(errs) > 0 {
		return errs
	}
	a, err := netip.ParseAddr(ip)
	switch {
	case err != nil:
		return field.ErrorList{field.Invalid(p, ip, "must be a valid IP address")}
	case !a.Is4():
		return field.ErrorList{field.Invalid(p, ip, "must be an IPv4 address (orch's pod network is IPv4)")}
	case a.IsLoopback():
		return field.ErrorList{field.Invalid(p, ip, "may not be a loopback address: nodes do not forward their loopback to pods")}
	}
	return nil
}

// defaultHostNetworkPorts gives every port of a hostNetwork pod a hostPort
// equal to its containerPort, as Kubernetes' SetDefaults_Pod does (pods
// only: templates keep 0 since Kubernetes 1.28).
func defaultHostNetworkPorts(s *PodSpec) {
	if !s.HostNetwork {
		return
	}
	for _, cs := range [][]Container{s.InitContainers, s.Containers} {
		for i := range cs {
			for j := range cs[i].Ports {
				if cs[i].Ports[j].HostPort == 0 {
					cs[i].Ports[j].HostPort = cs[i].Ports[j].ContainerPort
				}
			}
		}
	}
}
