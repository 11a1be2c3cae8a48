package dns

import (
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"

	v1 "orch.io/orch/api/v1"
)

// zone is an immutable snapshot of the cluster domain built by Update. It is
// read without locks by every query and replaced as a whole.
type zone struct {
	seq    uint64 // the Update that built it; later ones win
	origin string // lower-case FQDN of the domain, "cluster.local."
	ttl    uint32
	soa    *dns.SOA
	// names maps each lower-case FQDN that exists in the zone to its
	// records. A present key with no records is an empty non-terminal
	// (such as "<ns>.svc.<domain>."): it exists, so it answers NODATA
	// rather than NXDOMAIN.
	names map[string][]dns.RR
}

// newZone builds the zone for services; endpoints give the addresses of
// the headless ones. Services that cannot be published (bad names or
// addresses, duplicates) are skipped and logged.
func newZone(seq uint64, origin string, ttl uint32, services []*v1.Service, endpoints []*v1.Endpoints, log *slog.Logger) *zone {
	z := &zone{
		seq:    seq,
		origin: origin,
		ttl:    ttl,
		soa: &dns.SOA{
			Hdr:     dns.RR_Header{Name: origin, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
			Ns:      "ns.dns." + origin,
			Mbox:    "hostmaster." + origin,
			Serial:  uint32(time.Now().Unix()),
			Refresh: 7200,
			Retry:   1800,
			Expire:  86400,
			Minttl:  ttl,
		},
		names: make(map[string][]dns.RR, 2*len(services)+3),
	}
	z.names[origin] = []dns.RR{z.soa}
	z.names["svc."+origin] = nil
	z.names["pod."+origin] = nil
	var headless []*v1.Service
	for _, svc := range services {
		if svc == nil {
			continue
		}
		if isHeadless(svc) {
			headless = append(headless, svc)
			continue
		}
		z.addService(svc, log)
	}
	if len(headless) > 0 {
		z.addHeadless(headless, endpoints, log)
	}
	return z
}

// addService adds the address and SRV records of one service.
func (z *zone) addService(svc *v1.Service, log *slog.Logger) {
	ns, name := strings.ToLower(svc.Namespace), strings.ToLower(svc.Name)
	log = log.With("service", svc.Namespace+"/"+svc.Name)
	if !isLabel(ns) || !isLabel(name) {
		log.Warn("service name is not a DNS label, not published")
		return
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 {
		ips = []string{svc.Spec.ClusterIP}
	}
	if ips[0] == "" {
		log.Debug("service without a cluster IP, not published")
		return
	}
	fqdn := name + "." + ns + ".svc." + z.origin
	if _, dup := z.names[fqdn]; dup {
		log.Warn("duplicate service, not published again")
		return
	}
	var rrs []dns.RR
	for _, s := range ips {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			log.Warn("bad cluster IP, not published", "clusterIP", s, "err", err)
			return
		}
		rrs = append(rrs, addrRR(fqdn, ip.Unmap(), z.ttl))
	}
	z.names[fqdn] = rrs
	z.ensure(ns + ".svc." + z.origin)

	for _, p := range svc.Spec.Ports {
		pname, proto := strings.ToLower(p.Name), strings.ToLower(p.Protocol)
		if pname == "" {
			continue // only named ports have SRV records
		}
		if proto == "" {
			proto = "tcp"
		}
		if !isLabel(pname) || !isLabel(proto) || p.Port <= 0 || p.Port > 65535 {
			log.Warn("bad service port, no SRV record", "port", p.Name, "number", p.Port)
			continue
		}
		protoName := "_" + proto + "." + fqdn
		z.ensure(protoName)
		srvName := "_" + pname + "." + protoName
		z.names[srvName] = append(z.names[srvName], &dns.SRV{
			Hdr:      dns.RR_Header{Name: srvName, Rrtype: dns.TypeSRV, Class: dns.ClassINET, Ttl: z.ttl},
			Priority: 0,
			Weight:   100,
			Port:     uint16(p.Port),
			Target:   fqdn,
		})
	}
}

// ensure makes name exist, as an empty non-terminal unless it has records.
func (z *zone) ensure(name string) {
	if _, ok := z.names[name]; !ok {
		z.names[name] = nil
	}
}

// lookup returns the records at lname, a lower-case FQDN inside the zone,
// and whether the name exists at all.
func (z *zone) lookup(lname string) ([]dns.RR, bool) {
	if rrs, ok := z.names[lname]; ok {
		return rrs, true
	}
	// <a-b-c-d>.<ns>.pod.<domain>. and its parent <ns>.pod.<domain>.
	rest, ok := strings.CutSuffix(lname, ".pod."+z.origin)
	if !ok {
		return nil, false
	}
	labels := strings.Split(rest, ".")
	switch {
	case len(labels) == 1 && isLabel(labels[0]):
		return nil, true // any namespace: the parent of the pod names
	case len(labels) == 2 && isLabel(labels[1]):
		ip, err := netip.ParseAddr(strings.ReplaceAll(labels[0], "-", "."))
		if err != nil || !ip.Is4() {
			return nil, false
		}
		return []dns.RR{addrRR(lname, ip, z.ttl)}, true
	}
	return nil, false
}

// answer builds the authoritative response to q, a question in the zone.
func (z *zone) answer(req *dns.Msg, q dns.Question) *dns.Msg {
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative = true
	if q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY {
		m.Rcode = dns.RcodeRefused
		return m
	}
	rrs, ok := z.lookup(strings.ToLower(q.Name))
	if !ok {
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{z.soa}
		return m
	}
	for _, rr := range rrs {
		if q.Qtype == dns.TypeANY || rr.Header().Rrtype == q.Qtype {
			m.Answer = append(m.Answer, withOwner(rr, q.Name))
		}
	}
	if len(m.Answer) == 0 {
		m.Ns = []dns.RR{z.soa}
		return m
	}
	seen := map[string]bool{}
	for _, rr := range m.Answer {
		srv, ok := rr.(*dns.SRV)
		if !ok || seen[srv.Target] {
			continue
		}
		seen[srv.Target] = true
		targets, _ := z.lookup(srv.Target)
		for _, t := range targets {
			if typ := t.Header().Rrtype; typ == dns.TypeA || typ == dns.TypeAAAA {
				m.Extra = append(m.Extra, t)
			}
		}
	}
	return m
}

// withOwner returns rr, or a copy of it named owner when the query spelt
// the name with different case, so that answers echo the question.
func withOwner(rr dns.RR, owner string) dns.RR {
	if rr.Header().Name == owner {
		return rr
	}
	c := dns.Copy(rr)
	c.Header().Name = owner
	return c
}

// addrRR returns the A or AAAA record for ip.
func addrRR(name string, ip netip.Addr, ttl uint32) dns.RR {
	if ip.Is4() {
		a := ip.As4()
		return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl}, A: a[:]}
	}
	a := ip.As16()
	return &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: ttl}, AAAA: a[:]}
}

// isLabel reports whether s is a lower-case DNS label of letters, digits
// and hyphens.
func isLabel(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, c := range []byte(s) {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' {
			return false
		}
	}
	return true
}
