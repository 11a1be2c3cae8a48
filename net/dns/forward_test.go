package dns

import (
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// reply answers req with A records 192.0.2.1 .. 192.0.2.n.
func reply(req *dns.Msg, n int) *dns.Msg {
	m := new(dns.Msg).SetReply(req)
	for i := 1; i <= n; i++ {
		m.Answer = append(m.Answer, &dns.A{
			Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A:   net.IPv4(192, 0, 2, byte(i)),
		})
	}
	if opt := req.IsEdns0(); opt != nil {
		m.SetEdns0(opt.UDPSize(), opt.Do())
	}
	return m
}

func TestForward(t *testing.T) {
	answers := func(network string, req *dns.Msg) *dns.Msg { return reply(req, 1) }
	truncating := func(network string, req *dns.Msg) *dns.Msg {
		if network == "udp" {
			m := new(dns.Msg).SetReply(req)
			m.Truncated = true
			return m
		}
		return reply(req, 2)
	}
	nxdomain := func(network string, req *dns.Msg) *dns.Msg {
		return new(dns.Msg).SetRcode(req, dns.RcodeNameError)
	}
	big := func(network string, req *dns.Msg) *dns.Msg {
		m := reply(req, 60) // ~1.7 kB uncompressed, ~1 kB compressed
		if network == "udp" {
			size := dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				size = int(opt.UDPSize())
			}
			m.Truncate(size)
		}
		return m
	}
	silent := func(network string, req *dns.Msg) *dns.Msg { return nil }

	tests := []struct {
		name       string
		handlers   []func(string, *dns.Msg) *dns.Msg // nil: an address where nothing listens
		network    string                            // of the client
		edns       bool
		rcode      int
		answers    int
		truncated  bool
		upstreamTx [][]string // queries each upstream saw
	}{
		{name: "relayed", handlers: [](func(string, *dns.Msg) *dns.Msg){answers}, network: "udp", answers: 1,
			upstreamTx: [][]string{{"udp example.org. A"}}},
		{name: "truncated over UDP, retried over TCP", handlers: [](func(string, *dns.Msg) *dns.Msg){truncating}, network: "udp", answers: 2,
			upstreamTx: [][]string{{"udp example.org. A", "tcp example.org. A"}}},
		{name: "rcode relayed", handlers: [](func(string, *dns.Msg) *dns.Msg){nxdomain, answers}, network: "udp", rcode: dns.RcodeNameError,
			upstreamTx: [][]string{{"udp example.org. A"}, nil}},
		{name: "dead upstream skipped", handlers: [](func(string, *dns.Msg) *dns.Msg){nil, answers}, network: "udp", answers: 1,
			upstreamTx: [][]string{nil, {"udp example.org. A"}}},
		{name: "silent upstream times out", handlers: [](func(string, *dns.Msg) *dns.Msg){silent, answers}, network: "udp", answers: 1,
			upstreamTx: [][]string{{"udp example.org. A"}, {"udp example.org. A"}}},
		{name: "no upstream answers", handlers: [](func(string, *dns.Msg) *dns.Msg){nil, silent}, network: "udp", rcode: dns.RcodeServerFailure,
			upstreamTx: [][]string{nil, {"udp example.org. A"}}},
		{name: "large answer truncated for a UDP client without EDNS", handlers: [](func(string, *dns.Msg) *dns.Msg){big}, network: "udp",
			truncated: true, upstreamTx: [][]string{{"udp example.org. A", "tcp example.org. A"}}},
		{name: "large answer whole for a UDP client with EDNS", handlers: [](func(string, *dns.Msg) *dns.Msg){big}, network: "udp", edns: true,
			answers: 60, upstreamTx: [][]string{{"udp example.org. A"}}},
		{name: "large answer whole over TCP", handlers: [](func(string, *dns.Msg) *dns.Msg){big}, network: "tcp",
			answers: 60, upstreamTx: [][]string{{"udp example.org. A", "tcp example.org. A"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ups []*upstream
			var addrs []string
			for _, h := range tt.handlers {
				if h == nil {
					ups = append(ups, nil)
					addrs = append(addrs, deadAddr(t))
					continue
				}
				u := startUpstream(t, h)
				ups = append(ups, u)
				addrs = append(addrs, u.addr)
			}
			s := startServer(t, Config{Upstreams: addrs}, shortForwardTimeout)

			req := question("example.org.", dns.TypeA)
			if tt.edns {
				req.SetEdns0(4096, true)
			}
			resp := ask(t, tt.network, s.Addr(), req)
			if resp.Rcode != tt.rcode {
				t.Fatalf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
			if tt.truncated {
				if !resp.Truncated || len(resp.Answer) >= 60 {
					t.Errorf("got %d answers, truncated %v; want fewer than 60, truncated", len(resp.Answer), resp.Truncated)
				}
			} else if len(resp.Answer) != tt.answers || resp.Truncated {
				t.Errorf("got %d answers, truncated %v; want %d, not truncated", len(resp.Answer), resp.Truncated, tt.answers)
			}
			if resp.Authoritative {
				t.Errorf("forwarded answer is authoritative")
			}
			for i, u := range ups {
				if u == nil {
					continue
				}
				if got := u.queries(); !slices.Equal(got, tt.upstreamTx[i]) {
					t.Errorf("upstream %d saw %q, want %q", i, got, tt.upstreamTx[i])
				}
			}
		})
	}
}

func TestForwardPassesEDNS(t *testing.T) {
	u := startUpstream(t, func(network string, req *dns.Msg) *dns.Msg { return reply(req, 1) })
	s := startServer(t, Config{Upstreams: []string{u.addr}})
	req := question("example.org.", dns.TypeA)
	req.SetEdns0(1400, true)
	resp := ask(t, "udp", s.Addr(), req)
	opt := resp.IsEdns0()
	if opt == nil || !opt.Do() || opt.UDPSize() != 1400 {
		t.Errorf("relayed OPT = %v, want the upstream's (1400, DO)", opt)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if len(u.opts) != 1 || u.opts[0] == nil || !u.opts[0].Do() || u.opts[0].UDPSize() != 1400 {
		t.Errorf("upstream got OPT %v, want the client's (1400, DO)", u.opts)
	}
}

func TestRefusedWithoutUpstreams(t *testing.T) {
	path := resolvConf(t, "nameserver 127.0.0.53\nnameserver ::1\n")
	s := startServer(t, Config{ResolvConf: path})
	s.Update(fixtureServices(), nil)
	for _, network := range []string{"udp", "tcp"} {
		resp := ask(t, network, s.Addr(), question("example.org.", dns.TypeA))
		if resp.Rcode != dns.RcodeRefused {
			t.Errorf("%s: rcode = %s, want REFUSED", network, dns.RcodeToString[resp.Rcode])
		}
		resp = ask(t, network, s.Addr(), question("web.default.svc.cluster.local.", dns.TypeA))
		if len(resp.Answer) != 1 || resp.RecursionAvailable {
			t.Errorf("%s: cluster answer %v, RA %v; want one record, no RA", network, resp.Answer, resp.RecursionAvailable)
		}
	}
}

func TestUpstreamsFromResolvConf(t *testing.T) {
	tests := []struct {
		name    string
		content string
		addr    string // Config.Addr
		want    []string
	}{
		{name: "plain", content: "nameserver 10.0.0.2\nnameserver 10.0.0.3\n", want: []string{"10.0.0.2:53", "10.0.0.3:53"}},
		{name: "loopback skipped", addr: "10.244.1.1:53",
			content: "# systemd-resolved\nnameserver 127.0.0.53\nnameserver 127.1.2.3\nnameserver ::1\nnameserver 10.0.0.2\n",
			want:    []string{"10.0.0.2:53"}},
		{name: "self skipped", addr: "10.244.1.1:53", content: "nameserver 10.244.1.1\nnameserver 10.0.0.2\n", want: []string{"10.0.0.2:53"}},
		{name: "IPv6 and zones", content: "nameserver 2001:db8::1\nnameserver fe80::1%eth0\n",
			want: []string{"[2001:db8::1]:53", "[fe80::1%eth0]:53"}},
		{name: "comments, options and junk", content: lines(
			"; comment", "search default.svc.cluster.local svc.cluster.local", "options ndots:5",
			"nameserver 10.0.0.2 # trailing comment", "nameserver", "nameserver not-an-ip", "nameserver\t10.0.0.3",
			"#nameserver 10.0.0.4", "domain example.org"),
			want: []string{"10.0.0.2:53", "10.0.0.3:53"}},
		{name: "only loopback", content: "nameserver 127.0.0.53\n", want: nil},
		{name: "empty", content: "", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := tt.addr
			if addr == "" {
				addr = "127.0.0.1:0"
			}
			s, err := New(Config{Addr: addr, ResolvConf: resolvConf(t, tt.content), Logger: testLogger(t)})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(s.upstreams, tt.want) {
				t.Errorf("upstreams = %q, want %q", s.upstreams, tt.want)
			}
		})
	}
}

// lines joins lines into a file's content.
func lines(ls ...string) string {
	out := ""
	for _, l := range ls {
		out += fmt.Sprintln(l)
	}
	return out
}

// shortForwardTimeout makes a test's server give up on an upstream after
// 200 ms rather than 2 s.
func shortForwardTimeout(s *Server) {
	s.fwdTimeout = 200 * time.Millisecond
	s.udpClient.Timeout, s.tcpClient.Timeout = s.fwdTimeout, s.fwdTimeout
}
