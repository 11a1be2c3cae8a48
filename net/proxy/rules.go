package proxy

import (
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"math"
	"net"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// Chains and marks the proxier owns. Only these (and chains with the SVC
// and SEP prefixes) are ever written or deleted.
const (
	ChainServices    = "ORCH-SERVICES"    // nat: service portals, from PREROUTING and OUTPUT
	ChainNodePorts   = "ORCH-NODEPORTS"   // nat: node ports, from ORCH-SERVICES
	ChainPostrouting = "ORCH-POSTROUTING" // nat: masquerade, from POSTROUTING
	ChainMarkMasq    = "ORCH-MARK-MASQ"   // nat: marks a packet for masquerade
	ChainFirewall    = "ORCH-FIREWALL"    // filter: rejects service ports without endpoints
	PrefixSVC        = "ORCH-SVC-"        // nat: one chain per service port
	PrefixSEP        = "ORCH-SEP-"        // nat: one chain per endpoint of a service port

	// masqMark is the packet mark bit that asks ORCH-POSTROUTING to masquerade.
	masqMark = "0x4000"
	// defaultAffinityTimeout is Kubernetes' default ClientIP affinity (3 h).
	defaultAffinityTimeout = 10800
	// maxChainName is the kernel's limit on a chain name.
	maxChainName = 28
)

// Table names.
const (
	TableNAT    = "nat"    // the nat table
	TableFilter = "filter" // the filter table
)

// baseChains are created by Setup and always present in a Ruleset, in render order.
var baseChains = []struct{ table, chain string }{
	{TableNAT, ChainServices},
	{TableNAT, ChainNodePorts},
	{TableNAT, ChainMarkMasq},
	{TableNAT, ChainPostrouting},
	{TableFilter, ChainFirewall},
	{TableFilter, ChainLocalnet},
}

// owned reports whether a chain name is one of ours.
func owned(chain string) bool {
	switch chain {
	case ChainServices, ChainNodePorts, ChainPostrouting, ChainMarkMasq, ChainFirewall, ChainLocalnet:
		return true
	}
	return strings.HasPrefix(chain, PrefixSVC) || strings.HasPrefix(chain, PrefixSEP)
}

// RulesInput is everything BuildRules needs.
type RulesInput struct {
	Services  []*v1.Service
	Endpoints []*v1.Endpoints
	// ClusterCIDR is the pod network (nil: no cluster masquerade rules).
	ClusterCIDR *net.IPNet
	// NodeIPs are the addresses NodePorts answer on, with 127.0.0.1; when
	// empty, NodePorts answer on every local address (addrtype LOCAL).
	NodeIPs []net.IP
}

// endpoint is one ready backend of a service port.
type endpoint struct {
	ip   string
	port int32
}

func (e endpoint) String() string { return e.ip + ":" + strconv.Itoa(int(e.port)) }

// servicePort is one port of one service with its ready endpoints.
type servicePort struct {
	key       string // namespace/name:portName
	portName  string
	proto     string // "tcp" or "udp"
	clusterIP string // "" for headless
	port      int32
	nodePort  int32
	affinity  int32 // ClientIP timeout in seconds; 0 = none
	endpoints []endpoint
	svcChain  string
}

// hashName is prefix + the first 16 characters of base32(sha256(parts)).
func hashName(prefix string, parts ...string) string {
	var scratch [256]byte
	in := scratch[:0]
	for i, p := range parts {
		if i > 0 {
			in = append(in, 0)
		}
		in = append(in, p...)
	}
	sum := sha256.Sum256(in)
	// 16 base32 characters encode exactly the first 10 bytes.
	var out [maxChainName]byte
	n := copy(out[:], prefix)
	base32.StdEncoding.Encode(out[n:n+16], sum[:10])
	return string(out[:n+16])
}

// SVCChainName names the chain of one service port.
func SVCChainName(namespace, name, portName, protocol string) string {
	return hashName(PrefixSVC, namespace+"/"+name+":"+portName, strings.ToLower(protocol))
}

// SEPChainName names the chain of one endpoint of one service port.
func SEPChainName(namespace, name, portName, protocol, ip string, port int32) string {
	return hashName(PrefixSEP, namespace+"/"+name+":"+portName, strings.ToLower(protocol), endpoint{ip, port}.String())
}

// protoOf maps a Kubernetes protocol to an iptables one; ok is false for
// protocols the proxier does not handle (SCTP).
func protoOf(p string) (string, bool) {
	switch p {
	case "", "TCP":
		return "tcp", true
	case "UDP":
		return "udp", true
	}
	return "", false
}

// ipv4 returns the canonical dotted form of s, or "" when s is not IPv4.
func ipv4(s string) string {
	a, err := netip.ParseAddr(s)
	switch {
	case err != nil:
		return ""
	case a.Is4():
		return s // ParseAddr accepts only canonical dotted quads
	case a.Is4In6():
		return a.Unmap().String()
	}
	return ""
}

// portsOf returns the ports of one service that can be proxied, with their
// ready endpoints from e (which may be nil), sorted by port name and protocol.
func portsOf(svc *v1.Service, e *v1.Endpoints) []*servicePort {
	clusterIP := ""
	if svc.Spec.ClusterIP != v1.ClusterIPNone {
		clusterIP = ipv4(svc.Spec.ClusterIP)
	}
	affinity := int32(0)
	if svc.Spec.SessionAffinity == v1.AffinityClientIP {
		affinity = defaultAffinityTimeout
		if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
			affinity = *c.ClientIP.TimeoutSeconds
		}
	}
	var out []*servicePort
	for _, sp := range svc.Spec.Ports {
		proto, ok := protoOf(sp.Protocol)
		if !ok || sp.Port <= 0 {
			continue
		}
		p := &servicePort{
			key: svc.Namespace + "/" + svc.Name + ":" + sp.Name, portName: sp.Name, proto: proto,
			clusterIP: clusterIP, port: sp.Port, affinity: affinity,
			svcChain: SVCChainName(svc.Namespace, svc.Name, sp.Name, proto),
		}
		if svc.Spec.Type == v1.ServiceTypeNodePort && sp.NodePort > 0 {
			p.nodePort = sp.NodePort
		}
		if p.clusterIP == "" && p.nodePort == 0 {
			continue // headless or not yet allocated: nothing to proxy
		}
		p.endpoints = readyEndpoints(e, sp.Name, proto)
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].portName != out[j].portName {
			return out[i].portName < out[j].portName
		}
		return out[i].proto < out[j].proto
	})
	return out
}

// readyEndpoints returns the ready addresses of e for the named port that
// are IPv4 and not special (v1.IsSpecialIP: never loopback, link-local or
// link-local, even from an Endpoints stored before the API refused them),
// deduplicated and sorted.
func readyEndpoints(e *v1.Endpoints, portName, proto string) []endpoint {
	if e == nil {
		return nil
	}
	var out []endpoint
	for _, ss := range e.Subsets {
		for _, ep := range ss.Ports {
			pp, ok := protoOf(ep.Protocol)
			if ep.Name != portName || !ok || pp != proto || ep.Port <= 0 || ep.Port > 65535 {
				continue
			}
			for _, a := range ss.Addresses {
				ip := ipv4(a.IP)
				if ip == "" || v1.IsSpecialIP(ip) {
					continue // not IPv4, or the node's own loopback or link-local (refused by the API now)
				}
				out = append(out, endpoint{ip, ep.Port})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].ip != out[j].ip {
			return out[i].ip < out[j].ip
		}
		return out[i].port < out[j].port
	})
	return slices.Compact(out)
}

// Probability returns the --probability text for choosing one of n
// remaining endpoints (1/n) in the canonical form iptables-save prints:
// the kernel keeps lround(2^31 * p) and iptables prints it with 11 decimals.
func Probability(n int) string {
	u := math.Round(float64(0x80000000) / float64(n))
	return strconv.FormatFloat(u/float64(0x80000000), 'f', 11, 64)
}

func itoa(i int32) string { return strconv.Itoa(int(i)) }

// checkChainName panics on a name the kernel would refuse; names are built
// from fixed prefixes and 16-character hashes, so this is a programming error.
func checkChainName(name string) {
	if len(name) > maxChainName {
		panic(fmt.Sprintf("proxy: chain name %q longer than %d characters", name, maxChainName))
	}
}
