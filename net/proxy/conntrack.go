package proxy

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// udpFrontend is where clients send UDP to a service port: a cluster IP and
// port, or (ip "") a node port on any local address.
type udpFrontend struct {
	ip   string
	port int
}

// StaleFlow names the conntrack entries to delete: UDP flows whose original
// destination is a service frontend and whose reply comes from a backend
// that is gone. An empty IP means any destination (a node port).
type StaleFlow struct {
	FrontendIP   string
	FrontendPort int
	BackendIP    string
}

// udpServices maps each UDP service chain to its frontends and the backend
// IPs its SEP chains DNAT to. It reads only rule text, so it works the same
// on a built Ruleset and on one parsed back from iptables-save.
func udpServices(rs *Ruleset) map[string]*udpService {
	if rs.tables[TableNAT] == nil {
		return nil
	}
	out := map[string]*udpService{}
	get := func(chain string) *udpService {
		s := out[chain]
		if s == nil {
			s = &udpService{backends: map[string]bool{}}
			out[chain] = s
		}
		return s
	}
	// ClusterIP portals match their IP; node ports any local address ("").
	for _, chain := range []string{ChainServices, ChainNodePorts} {
		for _, r := range rs.Rules(TableNAT, chain) {
			if !strings.Contains(r, "-p udp ") {
				continue
			}
			f := strings.Fields(r)
			target := jumpTarget(r)
			if !strings.HasPrefix(target, PrefixSVC) || flag(f, "-p") != "udp" {
				continue
			}
			ip := ""
			if chain == ChainServices {
				ip, _, _ = strings.Cut(flag(f, "-d"), "/")
			}
			port, _ := strconv.Atoi(flag(f, "--dport"))
			get(target).frontends = append(get(target).frontends, udpFrontend{ip, port})
		}
	}
	for chain, s := range out {
		for _, r := range rs.Rules(TableNAT, chain) {
			sep := jumpTarget(r)
			if !strings.HasPrefix(sep, PrefixSEP) {
				continue
			}
			for _, sr := range rs.Rules(TableNAT, sep) {
				if dst := flag(strings.Fields(sr), "--to-destination"); dst != "" {
					if host, _, err := net.SplitHostPort(dst); err == nil {
						s.backends[host] = true
					}
				}
			}
		}
	}
	return out
}

type udpService struct {
	frontends []udpFrontend
	backends  map[string]bool
}

// flag returns the value after the first occurrence of name in fields.
func flag(fields []string, name string) string {
	for i := 0; i+1 < len(fields); i++ {
		if fields[i] == name {
			return fields[i+1]
		}
	}
	return ""
}

// StaleUDPFlows lists the conntrack entries made stale by going from prev
// to next: for every UDP service port of prev, each backend that next no
// longer has (all of them when the service port is gone), at each frontend
// prev had. Sorted; nil when prev is nil.
func StaleUDPFlows(prev, next *Ruleset) []StaleFlow {
	if prev == nil {
		return nil
	}
	return staleFlows(udpServices(prev), udpServices(next))
}

// staleFlows lists, for every UDP service port of before, each backend
// that after no longer has at each frontend before had. Sorted.
func staleFlows(before, after map[string]*udpService) []StaleFlow {
	var out []StaleFlow
	for chain, old := range before {
		cur := after[chain]
		for ip := range old.backends {
			if cur != nil && cur.backends[ip] {
				continue
			}
			for _, fe := range old.frontends {
				out = append(out, StaleFlow{FrontendIP: fe.ip, FrontendPort: fe.port, BackendIP: ip})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.FrontendIP != b.FrontendIP {
			return a.FrontendIP < b.FrontendIP
		}
		if a.FrontendPort != b.FrontendPort {
			return a.FrontendPort < b.FrontendPort
		}
		return a.BackendIP < b.BackendIP
	})
	return out
}

// deleteConntrack deletes the UDP conntrack entries of flows in the
// namespace at netnsPath ("" = our own) in one table walk.
func deleteConntrack(netnsPath string, flows []StaleFlow) (uint, error) {
	if len(flows) == 0 {
		return 0, nil
	}
	filters := make([]netlink.CustomConntrackFilter, 0, len(flows))
	for _, fl := range flows {
		f := &netlink.ConntrackFilter{}
		if err := f.AddProtocol(unix.IPPROTO_UDP); err != nil {
			return 0, fmt.Errorf("conntrack filter: %w", err)
		}
		if fl.FrontendIP != "" {
			if err := f.AddIP(netlink.ConntrackOrigDstIP, net.ParseIP(fl.FrontendIP)); err != nil {
				return 0, fmt.Errorf("conntrack filter: %w", err)
			}
		}
		if err := f.AddPort(netlink.ConntrackOrigDstPort, uint16(fl.FrontendPort)); err != nil {
			return 0, fmt.Errorf("conntrack filter: %w", err)
		}
		if err := f.AddIP(netlink.ConntrackReplySrcIP, net.ParseIP(fl.BackendIP)); err != nil {
			return 0, fmt.Errorf("conntrack filter: %w", err)
		}
		filters = append(filters, f)
	}
	h, err := conntrackHandle(netnsPath)
	if err != nil {
		return 0, err
	}
	defer h.Close()
	n, err := h.ConntrackDeleteFilters(netlink.ConntrackTable, unix.AF_INET, filters...)
	if err != nil {
		return n, fmt.Errorf("delete conntrack entries: %w", err)
	}
	return n, nil
}

// conntrackHandle opens a netfilter netlink handle in the namespace.
func conntrackHandle(netnsPath string) (*netlink.Handle, error) {
	return netlinkHandle(netnsPath, unix.NETLINK_NETFILTER)
}

// netlinkHandle opens a netlink handle of the protocol in the namespace at
// netnsPath (the process's own when empty).
func netlinkHandle(netnsPath string, protocol int) (*netlink.Handle, error) {
	if netnsPath == "" {
		h, err := netlink.NewHandle(protocol)
		if err != nil {
			return nil, fmt.Errorf("netlink handle: %w", err)
		}
		return h, nil
	}
	ns, err := netns.GetFromPath(netnsPath)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", netnsPath, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns, protocol)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", netnsPath, err)
	}
	return h, nil
}
