package dns

import (
	"log/slog"
	"net/netip"
	"strings"

	"github.com/miekg/dns"

	v1 "orch.io/orch/api/v1"
)

// This file publishes headless services (clusterIP None), as the
// Kubernetes DNS specification (kubernetes/dns, docs/specification.md,
// 2.4) asks:
//
//   - <svc>.<ns>.svc.<zone> has an A or AAAA record for each ready address
//     of the service's Endpoints (the endpoints controller lists not-ready
//     ones as ready when the service publishes not-ready addresses);
//   - each such address has a name <hostname>.<svc>.<ns>.svc.<zone> with
//     its A or AAAA record: the endpoint's hostname (a pod's spec.hostname
//     when its spec.subdomain is the service's name, as a stateful set's
//     pods), else the address with dashes ("10-244-1-5");
//   - each named port of the endpoints has _<port>._<proto>.<svc>.<ns>.svc.<zone>
//     with an SRV record per address, whose target is that address's name.
//
// A headless service without ready addresses exists with no records.

// isHeadless reports whether svc has clusterIP None.
func isHeadless(svc *v1.Service) bool {
	return svc.Spec.ClusterIP == v1.ClusterIPNone || (len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] == v1.ClusterIPNone)
}

// addHeadless adds the records of the headless services from their
// endpoints (matched by namespace and name).
func (z *zone) addHeadless(services []*v1.Service, endpoints []*v1.Endpoints, log *slog.Logger) {
	byKey := make(map[string]*v1.Endpoints, len(services))
	for _, svc := range services {
		byKey[svc.Namespace+"/"+svc.Name] = nil
	}
	for _, ep := range endpoints {
		if ep == nil {
			continue
		}
		k := ep.Namespace + "/" + ep.Name
		if _, ok := byKey[k]; ok {
			byKey[k] = ep
		}
	}
	for _, svc := range services {
		z.addHeadlessService(svc, byKey[svc.Namespace+"/"+svc.Name], log)
	}
}

// addHeadlessService adds one headless service's records.
func (z *zone) addHeadlessService(svc *v1.Service, ep *v1.Endpoints, log *slog.Logger) {
	ns, name := strings.ToLower(svc.Namespace), strings.ToLower(svc.Name)
	log = log.With("service", svc.Namespace+"/"+svc.Name)
	if !isLabel(ns) || !isLabel(name) {
		log.Warn("service name is not a DNS label, not published")
		return
	}
	fqdn := name + "." + ns + ".svc." + z.origin
	if _, dup := z.names[fqdn]; dup {
		log.Warn("duplicate service, not published again")
		return
	}
	z.names[fqdn] = nil
	z.ensure(ns + ".svc." + z.origin)
	if ep == nil {
		return
	}
	for _, sub := range ep.Subsets {
		var targets []string
		for _, a := range sub.Addresses {
			ip, err := netip.ParseAddr(a.IP)
			if err != nil {
				log.Warn("bad endpoint address, not published", "ip", a.IP, "err", err)
				continue
			}
			ip = ip.Unmap()
			host := strings.ToLower(a.Hostname)
			if host == "" {
				host = strings.NewReplacer(".", "-", ":", "-").Replace(ip.String())
			}
			if !isLabel(host) {
				log.Warn("endpoint hostname is not a DNS label, not published", "hostname", a.Hostname)
				continue
			}
			target := host + "." + fqdn
			z.names[fqdn] = append(z.names[fqdn], addrRR(fqdn, ip, z.ttl))
			z.names[target] = append(z.names[target], addrRR(target, ip, z.ttl))
			targets = append(targets, target)
		}
		for _, p := range sub.Ports {
			pname, proto := strings.ToLower(p.Name), strings.ToLower(p.Protocol)
			if pname == "" {
				continue // only named ports have SRV records
			}
			if proto == "" {
				proto = "tcp"
			}
			if !isLabel(pname) || !isLabel(proto) || p.Port <= 0 || p.Port > 65535 {
				log.Warn("bad endpoint port, no SRV record", "port", p.Name, "number", p.Port)
				continue
			}
			protoName := "_" + proto + "." + fqdn
			z.ensure(protoName)
			srvName := "_" + pname + "." + protoName
			for _, t := range targets {
				z.names[srvName] = append(z.names[srvName], &dns.SRV{
					Hdr:    dns.RR_Header{Name: srvName, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: z.ttl},
					Weight: uint16(100 / max(len(targets), 1)), Port: uint16(p.Port), Target: t,
				})
			}
		}
	}
}
