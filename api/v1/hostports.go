package v1

import (
	"fmt"
	"net/netip"
)

// HostPort is one port a pod asks for on its node: Kubernetes'
// (hostIP, hostPort, protocol), with an empty hostIP meaning every address
// of the node (0.0.0.0).
type HostPort struct {
	IP       string // "" or 0.0.0.0: all of the node's addresses
	Protocol string
	Port     int32
}

// String is "protocol/ip/port", e.g. TCP/0.0.0.0/8080.
func (h HostPort) String() string {
	return fmt.Sprintf("%s/%s/%d", h.Protocol, h.ip(), h.Port)
}

// ip is the host IP with the empty default spelled 0.0.0.0, as the
// scheduler's NodePorts plugin does.
func (h HostPort) ip() string {
	if h.IP == "" {
		return "0.0.0.0"
	}
	return h.IP
}

// wildcard reports whether the port is bound on every address of the node.
func (h HostPort) wildcard() bool {
	a, err := netip.ParseAddr(h.ip())
	return err == nil && a.IsUnspecified()
}

// Conflicts reports whether two host ports cannot be given to two pods of
// one node, by the rule of Kubernetes' NodePorts scheduler plugin: same
// protocol and port, and host IPs that overlap (equal, or one of them
// 0.0.0.0, which is every address).
func (h HostPort) Conflicts(o HostPort) bool {
	if h.Port != o.Port || h.protocol() != o.protocol() {
		return false
	}
	return h.wildcard() || o.wildcard() || sameIP(h.ip(), o.ip())
}

func (h HostPort) protocol() string {
	if h.Protocol == "" {
		return ProtocolTCP
	}
	return h.Protocol
}

func sameIP(a, b string) bool {
	x, errx := netip.ParseAddr(a)
	y, erry := netip.ParseAddr(b)
	if errx != nil || erry != nil {
		return a == b
	}
	return x.Unmap() == y.Unmap()
}

// PodHostPorts returns the host ports a pod's containers ask for (the
// ports with a hostPort), as Kubernetes' NodePorts plugin counts them:
// app containers only (init containers have finished before these bind).
func PodHostPorts(p *Pod) []HostPort {
	var out []HostPort
	for _, c := range p.Spec.Containers {
		for _, cp := range c.Ports {
			if cp.HostPort != 0 {
				out = append(out, HostPort{IP: cp.HostIP, Protocol: cp.Protocol, Port: cp.HostPort})
			}
		}
	}
	return out
}

// HostPortSet holds the host ports in use on one node.
type HostPortSet struct {
	ports []HostPort
}

// Add records ports as in use.
func (s *HostPortSet) Add(ports ...HostPort) {
	s.ports = append(s.ports, ports...)
}

// Conflict returns the first of want that conflicts with a port in use.
func (s *HostPortSet) Conflict(want []HostPort) (HostPort, bool) {
	for _, w := range want {
		for _, u := range s.ports {
			if w.Conflicts(u) {
				return w, true
			}
		}
	}
	return HostPort{}, false
}

// HostPortsConflictMessage is the scheduler's reason for a node whose host
// ports a pod cannot have (Kubernetes' NodePorts plugin wording); the FSM
// uses the same words when it re-checks a binding.
const HostPortsConflictMessage = "node(s) didn't have free ports for the requested pod ports"
