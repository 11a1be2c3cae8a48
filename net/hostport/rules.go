package hostport

import (
	"cmp"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
)

// Chains and the packet mark the package owns.
const (
	// ChainHostPorts DNATs host ports to pods; PREROUTING and OUTPUT jump
	// to it for local destinations.
	ChainHostPorts = "ORCH-HOSTPORTS"
	// ChainMasq masquerades what ChainHostPorts marked; POSTROUTING jumps to it.
	ChainMasq = "ORCH-HOSTPORTS-MASQ"
	// masqMark is the mark bit asking ChainMasq to masquerade (portmap's).
	masqMark = "0x2000"
)

// Mapping is one host port of a pod.
type Mapping struct {
	// Pod is namespace/name, written as a rule comment.
	Pod string
	// HostIP is the node address the port answers on; "" or 0.0.0.0 is
	// every local address.
	HostIP        string
	HostPort      int32
	Protocol      string // TCP, UDP or SCTP
	PodIP         string
	ContainerPort int32
}

// jump is a rule in a built-in chain of the nat table that sends packets
// to one of our chains.
type jump struct {
	chain string
	spec  []string
}

// jumps are the rules from the built-in chains, checked and inserted at
// position 1 by Sync and deleted by Cleanup.
var jumps = []jump{
	{"PREROUTING", []string{"!", "-d", "127.0.0.0/8", "-m", "comment", "--comment", "orch host ports", "-m", "addrtype", "--dst-type", "LOCAL", "-j", ChainHostPorts}},
	{"OUTPUT", []string{"!", "-d", "127.0.0.0/8", "-m", "comment", "--comment", "orch host ports", "-m", "addrtype", "--dst-type", "LOCAL", "-j", ChainHostPorts}},
	{"POSTROUTING", []string{"-m", "comment", "--comment", "orch host ports", "-j", ChainMasq}},
}

// validate checks a mapping before it becomes a rule: every field goes into
// iptables-restore input, so nothing may carry spaces or newlines.
func (m Mapping) validate() error {
	proto := strings.ToLower(m.Protocol)
	switch proto {
	case "tcp", "udp", "sctp":
	default:
		return fmt.Errorf("host port %d: protocol %q", m.HostPort, m.Protocol)
	}
	if m.HostPort < 1 || m.HostPort > 65535 || m.ContainerPort < 1 || m.ContainerPort > 65535 {
		return fmt.Errorf("host port %d -> %d: port out of range", m.HostPort, m.ContainerPort)
	}
	if a, err := netip.ParseAddr(m.PodIP); err != nil || !a.Is4() {
		return fmt.Errorf("host port %d: pod IP %q is not an IPv4 address", m.HostPort, m.PodIP)
	}
	if m.HostIP != "" {
		if a, err := netip.ParseAddr(m.HostIP); err != nil || !a.Is4() {
			return fmt.Errorf("host port %d: host IP %q is not an IPv4 address", m.HostPort, m.HostIP)
		}
	}
	if strings.ContainsAny(m.Pod, " \t\r\n\"\\") {
		return fmt.Errorf("host port %d: pod name %q", m.HostPort, m.Pod)
	}
	return nil
}

// dest is the -d match of a mapping: none for every local address.
func (m Mapping) dest() string {
	if m.HostIP == "" {
		return ""
	}
	if a, err := netip.ParseAddr(m.HostIP); err == nil && a.IsUnspecified() {
		return ""
	}
	return "-d " + m.HostIP + "/32 "
}

// Render returns the iptables-restore input that makes our two chains hold
// exactly the rules for mappings. Mappings that cannot be rendered are left
// out and reported in the error; the rest are rendered.
func Render(mappings []Mapping, podCIDR *net.IPNet) ([]byte, error) {
	ms := slices.Clone(mappings)
	slices.SortFunc(ms, func(a, b Mapping) int {
		return cmp.Or(cmp.Compare(a.HostPort, b.HostPort), cmp.Compare(a.Protocol, b.Protocol),
			cmp.Compare(a.HostIP, b.HostIP), cmp.Compare(a.PodIP, b.PodIP))
	})
	var b strings.Builder
	b.WriteString("*nat\n")
	fmt.Fprintf(&b, ":%s - [0:0]\n:%s - [0:0]\n", ChainHostPorts, ChainMasq)
	var errs []error
	for _, m := range ms {
		if err := m.validate(); err != nil {
			errs = append(errs, err)
			continue
		}
		proto := strings.ToLower(m.Protocol)
		match := fmt.Sprintf("%s-p %s -m %s --dport %d -m comment --comment \"%s\"", m.dest(), proto, proto, m.HostPort, m.Pod)
		if podCIDR != nil {
			fmt.Fprintf(&b, "-A %s -s %s %s -j MARK --set-xmark %s/%s\n", ChainHostPorts, podCIDR, match, masqMark, masqMark)
		}
		fmt.Fprintf(&b, "-A %s %s -j DNAT --to-destination %s:%d\n", ChainHostPorts, match, m.PodIP, m.ContainerPort)
	}
	fmt.Fprintf(&b, "-A %s -m mark --mark %s/%s -j MASQUERADE\n", ChainMasq, masqMark, masqMark)
	b.WriteString("COMMIT\n")
	if len(errs) > 0 {
		return []byte(b.String()), fmt.Errorf("host ports left out: %w", errors.Join(errs...))
	}
	return []byte(b.String()), nil
}
