package dns

import (
	"slices"
	"testing"

	"github.com/miekg/dns"

	v1 "orch.io/orch/api/v1"
)

// fixtureServices is the service set of the answer tests.
func fixtureServices() []*v1.Service {
	return []*v1.Service{
		service("default", "web", []string{"10.96.0.10"},
			v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: 80},
			v1.ServicePort{Name: "dns", Protocol: v1.ProtocolUDP, Port: 53},
			v1.ServicePort{Name: "dns-tcp", Protocol: v1.ProtocolTCP, Port: 53},
			v1.ServicePort{Port: 8080}, // unnamed: no SRV
		),
		service("prod", "db", []string{"10.96.0.20"}, v1.ServicePort{Name: "pg", Port: 5432}),
		service("default", "headless", []string{v1.ClusterIPNone}, v1.ServicePort{Name: "http", Port: 80}),
		service("default", "pending", nil),
		service("default", "v6", []string{"fd00::10"}),
		service("default", "dual", []string{"10.96.0.30", "fd00::30"}),
		service("Default", "Mixed", []string{"10.96.0.40"}),
		service("default", "nginx", []string{v1.ClusterIPNone}, v1.ServicePort{Name: "web", Port: 80}),
		service("prod", "pg", []string{v1.ClusterIPNone}),
	}
}

// fixtureEndpoints are the endpoints of the fixture's services, as the
// endpoints controller writes them: a not-ready address is under
// notReadyAddresses, unless its service publishes not-ready addresses.
func fixtureEndpoints() []*v1.Endpoints {
	return []*v1.Endpoints{
		{ObjectMeta: v1.ObjectMeta{Namespace: "default", Name: "nginx"}, Subsets: []v1.EndpointSubset{{
			Addresses:         []v1.EndpointAddress{{IP: "10.244.1.5", Hostname: "web-0"}, {IP: "10.244.2.6", Hostname: "web-1"}, {IP: "10.244.1.7"}},
			NotReadyAddresses: []v1.EndpointAddress{{IP: "10.244.2.8", Hostname: "web-2"}},
			Ports:             []v1.EndpointPort{{Name: "web", Port: 80, Protocol: v1.ProtocolTCP}},
		}}},
		{ObjectMeta: v1.ObjectMeta{Namespace: "prod", Name: "pg"}, Subsets: []v1.EndpointSubset{{
			Addresses: []v1.EndpointAddress{{IP: "10.244.3.9", Hostname: "db-0"}},
		}}},
		{ObjectMeta: v1.ObjectMeta{Namespace: "default", Name: "web"}, Subsets: []v1.EndpointSubset{{
			Addresses: []v1.EndpointAddress{{IP: "10.244.1.5", Hostname: "web-0"}},
		}}},
	}
}

func TestClusterAnswers(t *testing.T) {
	const nodata, nxdomain = dns.RcodeSuccess, dns.RcodeNameError
	tests := []struct {
		name    string
		qname   string
		qtype   uint16
		rcode   int
		answer  []string // empty: no answer, and an SOA in the authority section
		extra   []string
		noSOAns bool // a non-empty answer has no authority section
	}{
		{name: "A", qname: "web.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.10"}},
		{name: "AAAA of IPv4 service is NODATA", qname: "web.default.svc.cluster.local.", qtype: dns.TypeAAAA, rcode: nodata},
		{name: "MX of service is NODATA", qname: "web.default.svc.cluster.local.", qtype: dns.TypeMX, rcode: nodata},
		{name: "AAAA of IPv6 service", qname: "v6.default.svc.cluster.local.", qtype: dns.TypeAAAA,
			answer: []string{"v6.default.svc.cluster.local. 5 IN AAAA fd00::10"}},
		{name: "A of IPv6 service is NODATA", qname: "v6.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nodata},
		{name: "dual-stack A", qname: "dual.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"dual.default.svc.cluster.local. 5 IN A 10.96.0.30"}},
		{name: "dual-stack AAAA", qname: "dual.default.svc.cluster.local.", qtype: dns.TypeAAAA,
			answer: []string{"dual.default.svc.cluster.local. 5 IN AAAA fd00::30"}},
		{name: "ANY", qname: "dual.default.svc.cluster.local.", qtype: dns.TypeANY,
			answer: []string{"dual.default.svc.cluster.local. 5 IN A 10.96.0.30", "dual.default.svc.cluster.local. 5 IN AAAA fd00::30"}},
		{name: "SRV with additional A", qname: "_http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"_http._tcp.web.default.svc.cluster.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."},
			extra:  []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.10"}},
		{name: "SRV udp port", qname: "_dns._udp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"_dns._udp.web.default.svc.cluster.local. 5 IN SRV 0 100 53 web.default.svc.cluster.local."},
			extra:  []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.10"}},
		{name: "SRV default protocol is tcp", qname: "_pg._tcp.db.prod.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"_pg._tcp.db.prod.svc.cluster.local. 5 IN SRV 0 100 5432 db.prod.svc.cluster.local."},
			extra:  []string{"db.prod.svc.cluster.local. 5 IN A 10.96.0.20"}},
		{name: "SRV wrong protocol", qname: "_http._udp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nxdomain},
		{name: "SRV unknown port", qname: "_ftp._tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nxdomain},
		{name: "A of SRV name is NODATA", qname: "_http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nodata},
		{name: "protocol name is NODATA", qname: "_tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nodata},
		{name: "pod", qname: "10-244-1-5.default.pod.cluster.local.", qtype: dns.TypeA,
			answer: []string{"10-244-1-5.default.pod.cluster.local. 5 IN A 10.244.1.5"}},
		{name: "pod in any namespace", qname: "192-168-0-1.elsewhere.pod.cluster.local.", qtype: dns.TypeA,
			answer: []string{"192-168-0-1.elsewhere.pod.cluster.local. 5 IN A 192.168.0.1"}},
		{name: "pod AAAA is NODATA", qname: "10-244-1-5.default.pod.cluster.local.", qtype: dns.TypeAAAA, rcode: nodata},
		{name: "pod three parts", qname: "10-244-1.default.pod.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "pod five parts", qname: "10-244-1-5-6.default.pod.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "pod octet too large", qname: "10-244-1-256.default.pod.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "pod leading zero", qname: "10-244-01-5.default.pod.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "pod not a number", qname: "web.default.pod.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "pod dotted", qname: "10.244.1.5.default.pod.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "pod without namespace", qname: "10-244-1-5.pod.cluster.local.", qtype: dns.TypeA, rcode: nodata},
		{name: "missing service", qname: "nope.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "missing namespace", qname: "web.nope.svc.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "below a service", qname: "x.web.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "headless without endpoints is NODATA", qname: "headless.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nodata},
		{name: "headless without endpoints has no SRV", qname: "_http._tcp.headless.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: nxdomain},
		{name: "headless A lists ready addresses", qname: "nginx.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"nginx.default.svc.cluster.local. 5 IN A 10.244.1.5", "nginx.default.svc.cluster.local. 5 IN A 10.244.2.6",
				"nginx.default.svc.cluster.local. 5 IN A 10.244.1.7"}},
		{name: "headless pod by hostname", qname: "web-0.nginx.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"web-0.nginx.default.svc.cluster.local. 5 IN A 10.244.1.5"}},
		{name: "headless other pod by hostname", qname: "WEB-1.nginx.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"WEB-1.nginx.default.svc.cluster.local. 5 IN A 10.244.2.6"}},
		{name: "headless address without hostname", qname: "10-244-1-7.nginx.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"10-244-1-7.nginx.default.svc.cluster.local. 5 IN A 10.244.1.7"}},
		{name: "headless not-ready pod has no name", qname: "web-2.nginx.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "headless SRV per address", qname: "_web._tcp.nginx.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"_web._tcp.nginx.default.svc.cluster.local. 5 IN SRV 0 33 80 web-0.nginx.default.svc.cluster.local.",
				"_web._tcp.nginx.default.svc.cluster.local. 5 IN SRV 0 33 80 web-1.nginx.default.svc.cluster.local.",
				"_web._tcp.nginx.default.svc.cluster.local. 5 IN SRV 0 33 80 10-244-1-7.nginx.default.svc.cluster.local."},
			extra: []string{"web-0.nginx.default.svc.cluster.local. 5 IN A 10.244.1.5", "web-1.nginx.default.svc.cluster.local. 5 IN A 10.244.2.6",
				"10-244-1-7.nginx.default.svc.cluster.local. 5 IN A 10.244.1.7"}},
		{name: "headless publishing not-ready addresses", qname: "db-0.pg.prod.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"db-0.pg.prod.svc.cluster.local. 5 IN A 10.244.3.9"}},
		{name: "endpoints of a ClusterIP service add nothing", qname: "web-0.web.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "service without IP", qname: "pending.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "namespace is NODATA", qname: "default.svc.cluster.local.", qtype: dns.TypeA, rcode: nodata},
		{name: "svc is NODATA", qname: "svc.cluster.local.", qtype: dns.TypeA, rcode: nodata},
		{name: "other name in domain", qname: "www.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
		{name: "apex SOA", qname: "cluster.local.", qtype: dns.TypeSOA, noSOAns: true,
			answer: []string{"cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. 0 7200 1800 86400 5"}},
		{name: "upper case", qname: "WEB.Default.SVC.Cluster.Local.", qtype: dns.TypeA,
			answer: []string{"WEB.Default.SVC.Cluster.Local. 5 IN A 10.96.0.10"}},
		{name: "upper case SRV", qname: "_HTTP._Tcp.Web.default.svc.CLUSTER.local.", qtype: dns.TypeSRV,
			answer: []string{"_HTTP._Tcp.Web.default.svc.CLUSTER.local. 5 IN SRV 0 100 80 web.default.svc.cluster.local."},
			extra:  []string{"web.default.svc.cluster.local. 5 IN A 10.96.0.10"}},
		{name: "upper case pod", qname: "10-244-1-5.DEFAULT.pod.cluster.local.", qtype: dns.TypeA,
			answer: []string{"10-244-1-5.DEFAULT.pod.cluster.local. 5 IN A 10.244.1.5"}},
		{name: "upper case service object", qname: "mixed.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"mixed.default.svc.cluster.local. 5 IN A 10.96.0.40"}},
		{name: "upper case missing", qname: "NOPE.default.svc.cluster.local.", qtype: dns.TypeA, rcode: nxdomain},
	}
	s := startServer(t, Config{})
	s.Update(fixtureServices(), fixtureEndpoints())
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				resp := ask(t, network, s.Addr(), question(tt.qname, tt.qtype))
				if resp.Rcode != tt.rcode {
					t.Fatalf("rcode = %s, want %s\n%v", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode], resp)
				}
				if !resp.Authoritative {
					t.Errorf("authoritative bit not set")
				}
				if got, want := rrStrings(resp.Answer), parseRRs(t, tt.answer...); !equalIgnoringSerial(got, want) {
					t.Errorf("answer = %q, want %q", got, want)
				}
				if got, want := rrStrings(resp.Extra), parseRRs(t, tt.extra...); !slices.Equal(got, want) {
					t.Errorf("additional = %q, want %q", got, want)
				}
				wantSOA := len(tt.answer) == 0
				if gotSOA := len(resp.Ns) == 1 && isZoneSOA(resp.Ns[0], "cluster.local."); gotSOA != wantSOA || (!wantSOA && len(resp.Ns) != 0) {
					t.Errorf("authority = %v, want SOA: %v", resp.Ns, wantSOA)
				}
			})
		}
	}
}

// isZoneSOA reports whether rr is the SOA of origin with the negative TTL 5.
func isZoneSOA(rr dns.RR, origin string) bool {
	soa, ok := rr.(*dns.SOA)
	return ok && soa.Hdr.Name == origin && soa.Minttl == 5 && soa.Hdr.Ttl == 5
}

// equalIgnoringSerial compares records as text with SOA serials zeroed.
func equalIgnoringSerial(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		g, w := got[i], want[i]
		if rr, err := dns.NewRR(g); err == nil {
			if soa, ok := rr.(*dns.SOA); ok {
				soa.Serial = 0
				g = soa.String()
			}
		}
		if g != w {
			return false
		}
	}
	return true
}

func TestUpdateReplacesServices(t *testing.T) {
	s := startServer(t, Config{})
	web := service("default", "web", []string{"10.96.0.10"}, v1.ServicePort{Name: "http", Port: 80})
	db := service("prod", "db", []string{"10.96.0.20"})
	moved := service("default", "web", []string{"10.96.0.99"})

	steps := []struct {
		name     string
		services []*v1.Service
		want     map[string]string // name → A address, "" for NXDOMAIN
	}{
		{"before any update", nil, map[string]string{"web.default": "", "db.prod": ""}},
		{"web only", []*v1.Service{web}, map[string]string{"web.default": "10.96.0.10", "db.prod": ""}},
		{"db replaces web", []*v1.Service{db}, map[string]string{"web.default": "", "db.prod": "10.96.0.20"}},
		{"both, web moved", []*v1.Service{db, moved}, map[string]string{"web.default": "10.96.0.99", "db.prod": "10.96.0.20"}},
		{"none", []*v1.Service{}, map[string]string{"web.default": "", "db.prod": ""}},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			if step.services != nil {
				s.Update(step.services, nil)
			}
			for name, want := range step.want {
				resp := ask(t, "udp", s.Addr(), question(name+".svc.cluster.local.", dns.TypeA))
				switch {
				case want == "" && resp.Rcode != dns.RcodeNameError:
					t.Errorf("%s: rcode %s, want NXDOMAIN", name, dns.RcodeToString[resp.Rcode])
				case want != "" && (len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != want):
					t.Errorf("%s: answer %v, want %s", name, resp.Answer, want)
				}
			}
		})
	}
}

func TestUpdateConcurrentWithQueries(t *testing.T) {
	s := startServer(t, Config{})
	a := []*v1.Service{service("default", "web", []string{"10.96.0.10"})}
	b := []*v1.Service{service("default", "web", []string{"10.96.0.11"})}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 200 {
			if i%2 == 0 {
				s.Update(a, nil)
			} else {
				s.Update(b, nil)
			}
		}
	}()
	for range 50 {
		resp := ask(t, "udp", s.Addr(), question("web.default.svc.cluster.local.", dns.TypeA))
		if resp.Rcode != dns.RcodeSuccess && resp.Rcode != dns.RcodeNameError {
			t.Fatalf("rcode %s", dns.RcodeToString[resp.Rcode])
		}
	}
	<-done
	s.Update(a, nil)
	resp := ask(t, "udp", s.Addr(), question("web.default.svc.cluster.local.", dns.TypeA))
	if len(resp.Answer) != 1 || resp.Answer[0].(*dns.A).A.String() != "10.96.0.10" {
		t.Fatalf("after the last Update: %v", resp.Answer)
	}
}

func TestCustomDomainAndTTL(t *testing.T) {
	s := startServer(t, Config{Domain: "Example.Internal.", TTL: 30})
	s.Update([]*v1.Service{service("default", "web", []string{"10.96.0.10"})}, nil)
	resp := ask(t, "udp", s.Addr(), question("web.default.svc.example.internal.", dns.TypeA))
	want := parseRRs(t, "web.default.svc.example.internal. 30 IN A 10.96.0.10")
	if got := rrStrings(resp.Answer); !slices.Equal(got, want) {
		t.Fatalf("answer = %q, want %q", got, want)
	}
	resp = ask(t, "udp", s.Addr(), question("web.default.svc.cluster.local.", dns.TypeA))
	if resp.Rcode != dns.RcodeRefused {
		t.Fatalf("cluster.local is not ours any more and there are no upstreams: rcode %s, want REFUSED", dns.RcodeToString[resp.Rcode])
	}
}
