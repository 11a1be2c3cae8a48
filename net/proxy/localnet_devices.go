package proxy

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v1 "orch.io/orch/api/v1"
)

// route_localnet, scoped. A NodePort on 127.0.0.1 needs route_localnet on
// the device its DNATed packets leave by and its replies come back on: the
// one the route to the endpoint uses (the pod bridge for a local pod, the
// uplink for a pod on another node). Nothing else needs it, so the proxier
// turns it on for exactly those devices, at each sync, for the endpoints of
// NodePort services (none: no device at all), and never for all devices at
// once. The pod bridge still gets it as soon as a local pod backs a
// NodePort, so pods can still aim packets at 127.0.0.0/8 there:
// ORCH-LOCALNET (localnet.go) is what keeps them out.

// confDir is where the per-device IPv4 sysctls live in a namespace.
const confDir = "/proc/sys/net/ipv4/conf"

// localnetState remembers, between syncs, which device the route to each
// NodePort endpoint uses and on which devices route_localnet was turned on.
// Guarded by the Proxier's syncMu.
type localnetState struct {
	devOf map[string]string // endpoint IP -> device; "" when local (lo)
	on    map[string]bool   // devices turned on by this proxier
}

// nodePortEndpointIPs returns the distinct IPs of the ready endpoints of
// every NodePort service port, sorted.
func nodePortEndpointIPs(in RulesInput) []string {
	var nodePorts []*v1.Service
	for _, svc := range in.Services {
		if svc != nil && svc.Spec.Type == v1.ServiceTypeNodePort {
			nodePorts = append(nodePorts, svc)
		}
	}
	if len(nodePorts) == 0 {
		return nil // the common case costs one pass over the services
	}
	type nsName struct{ ns, name string }
	eps := make(map[nsName]*v1.Endpoints, len(nodePorts))
	for _, svc := range nodePorts {
		eps[nsName{svc.Namespace, svc.Name}] = nil
	}
	for _, e := range in.Endpoints {
		if e == nil {
			continue
		}
		if k := (nsName{e.Namespace, e.Name}); eps[k] != e {
			if _, ok := eps[k]; ok {
				eps[k] = e // the last one wins, as in buildRules
			}
		}
	}
	seen := map[string]bool{}
	var out []string
	for _, svc := range nodePorts {
		for _, p := range portsOf(svc, eps[nsName{svc.Namespace, svc.Name}]) {
			if p.nodePort == 0 {
				continue
			}
			for _, ep := range p.endpoints {
				if !seen[ep.ip] {
					seen[ep.ip] = true
					out = append(out, ep.ip)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// syncLocalnet turns route_localnet on for the devices towards the NodePort
// endpoints of in. A device's value is checked at every sync (a device
// re-created comes back with it off); the route to an endpoint is looked up
// once per IP. An endpoint without a route is skipped and looked up again
// next time.
func (p *Proxier) syncLocalnet(in RulesInput) error {
	ips := nodePortEndpointIPs(in)
	if len(ips) == 0 {
		p.localnet.devOf = nil
		return nil
	}
	if p.localnet.on == nil {
		p.localnet.on = map[string]bool{}
	}
	devOf := make(map[string]string, len(ips))
	var missing []string
	for _, ip := range ips {
		if d, ok := p.localnet.devOf[ip]; ok {
			devOf[ip] = d
		} else {
			missing = append(missing, ip)
		}
	}
	var errs []error
	if len(missing) > 0 {
		found, err := routeDevices(p.cfg.NetNS, missing)
		if err != nil {
			errs = append(errs, err)
		}
		for ip, d := range found {
			devOf[ip] = d
		}
	}
	p.localnet.devOf = devOf
	var devs []string
	for _, d := range devOf {
		if d != "" && !slices.Contains(devs, d) {
			devs = append(devs, d)
		}
	}
	slices.Sort(devs)
	err := InNetNS(p.cfg.NetNS, func() error {
		for _, d := range devs {
			changed, err := writeSysctl(filepath.Join(confDir, d, "route_localnet"), "1")
			if err != nil {
				errs = append(errs, fmt.Errorf("route_localnet on %s: %w", d, err))
				continue
			}
			if changed {
				p.log.Info("route_localnet on for a device towards NodePort endpoints", "device", d)
			}
			p.localnet.on[d] = true
		}
		return nil
	})
	return errors.Join(append(errs, err)...)
}

// routeDevices looks up the device the route to each IP leaves by in the
// namespace at netnsPath: "" for a local address. IPs without a route are
// left out.
func routeDevices(netnsPath string, ips []string) (map[string]string, error) {
	h, err := routeHandle(netnsPath)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	out := make(map[string]string, len(ips))
	names := map[int]string{}
	var errs []error
	for _, ip := range ips {
		routes, err := h.RouteGet(net.ParseIP(ip))
		if err != nil || len(routes) == 0 {
			continue // unreachable now; tried again next sync
		}
		r := routes[0]
		if r.Type == unix.RTN_LOCAL {
			out[ip] = ""
			continue
		}
		name, ok := names[r.LinkIndex]
		if !ok {
			link, err := h.LinkByIndex(r.LinkIndex)
			if err != nil {
				errs = append(errs, fmt.Errorf("device of the route to %s: %w", ip, err))
				continue
			}
			if link.Attrs().Flags&net.FlagLoopback != 0 {
				name = ""
			} else {
				name = link.Attrs().Name
			}
			names[r.LinkIndex] = name
		}
		out[ip] = name
	}
	return out, errors.Join(errs...)
}

// routeHandle opens a netlink route handle in the namespace at netnsPath
// (the process's own when empty).
func routeHandle(netnsPath string) (*netlink.Handle, error) {
	return netlinkHandle(netnsPath, unix.NETLINK_ROUTE)
}

// writeSysctl sets the sysctl file at path to value unless it holds it
// already, and reports whether it wrote. Call it inside the namespace.
func writeSysctl(path, value string) (bool, error) {
	cur, err := os.ReadFile(path)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", path, err)
	}
	if strings.TrimSpace(string(cur)) == value {
		return false, nil
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return false, fmt.Errorf("write %s: %w", path, err)
	}
	return true, nil
}

// resetRouteLocalnet turns route_localnet off again, once ORCH-LOCALNET is
// gone, for all devices and for each device that has it on: left on without
// the guard it would reopen the node's loopback to its neighbours and to
// whatever pods remain. orch treats route_localnet on its nodes as its own
// (a node reset from another process does not know which devices it set).
func resetRouteLocalnet(netnsPath string) error {
	return InNetNS(netnsPath, func() error {
		paths, err := filepath.Glob(filepath.Join(confDir, "*", "route_localnet"))
		if err != nil {
			return fmt.Errorf("list route_localnet sysctls: %w", err)
		}
		var errs []error
		for _, p := range paths {
			if _, err := writeSysctl(p, "0"); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("turn route_localnet off: %w", err))
			}
		}
		return errors.Join(errs...)
	})
}
