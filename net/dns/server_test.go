package dns

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	v1 "orch.io/orch/api/v1"
)

func TestNew(t *testing.T) {
	empty := resolvConf(t, "")
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{name: "defaults", cfg: Config{Addr: "127.0.0.1:0", ResolvConf: empty}},
		{name: "IPv6 address", cfg: Config{Addr: "[::1]:0", ResolvConf: empty}},
		{name: "bare IP upstream", cfg: Config{Addr: "127.0.0.1:0", Upstreams: []string{"10.0.0.2", "10.0.0.3:5353"}}},
		{name: "no port", cfg: Config{Addr: "127.0.0.1"}, wantErr: "listen address"},
		{name: "host name", cfg: Config{Addr: "localhost:53"}, wantErr: "not an IP"},
		{name: "bad domain", cfg: Config{Addr: "127.0.0.1:0", Domain: "a..b"}, wantErr: "domain"},
		{name: "bad upstream", cfg: Config{Addr: "127.0.0.1:0", Upstreams: []string{"dns.google"}}, wantErr: "upstream"},
		{name: "missing explicit resolv.conf", cfg: Config{Addr: "127.0.0.1:0", ResolvConf: "/nonexistent/resolv.conf"}, wantErr: "no such file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.cfg.Logger = testLogger(t)
			s, err := New(tt.cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.origin != "cluster.local." || s.cfg.TTL != DefaultTTL {
				t.Errorf("origin %q, TTL %d; want the defaults", s.origin, s.cfg.TTL)
			}
			if s.Addr() != "" {
				t.Errorf("Addr() = %q before listening", s.Addr())
			}
		})
	}
	s, err := New(Config{Addr: "127.0.0.1:0", Upstreams: []string{"10.0.0.2", "[2001:db8::1]:5353"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(s.upstreams, " "); got != "10.0.0.2:53 [2001:db8::1]:5353" {
		t.Errorf("upstreams = %s", got)
	}
}

func TestRunLifecycle(t *testing.T) {
	s, err := New(Config{Addr: "127.0.0.1:0", ResolvConf: resolvConf(t, ""), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	s.Update([]*v1.Service{service("default", "web", []string{"10.96.0.10"})}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }() // listens by itself

	addr := waitAddr(t, s)
	udp, tcp := bound(t, addr)
	if udp != addr || tcp != addr {
		t.Errorf("Addr() = %s, udp %s, tcp %s: want one port for both", addr, udp, tcp)
	}
	if resp := ask(t, "tcp", addr, question("web.default.svc.cluster.local.", dns.TypeA)); len(resp.Answer) != 1 {
		t.Errorf("answer = %v", resp.Answer)
	}
	if err := s.Run(ctx); err == nil || !strings.Contains(err.Error(), "already") {
		t.Errorf("second Run: %v, want an error", err)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	c := &dns.Client{Net: "tcp", Timeout: time.Second}
	if _, _, err := c.Exchange(question("web.default.svc.cluster.local.", dns.TypeA), addr); err == nil {
		t.Errorf("query after Run returned succeeded")
	}
}

func TestListenTakenPort(t *testing.T) {
	first := startServer(t, Config{})
	s, err := New(Config{Addr: first.Addr(), ResolvConf: resolvConf(t, ""), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("Run on a taken port: %v, want a listen error", err)
	}
}

func TestEDNS(t *testing.T) {
	s := startServer(t, Config{})
	s.Update(fixtureServices(), nil)
	tests := []struct {
		name    string
		edns    func(*dns.Msg)
		rcode   int
		wantOPT bool
		wantDO  bool
	}{
		{name: "none", edns: func(*dns.Msg) {}},
		{name: "EDNS0", edns: func(m *dns.Msg) { m.SetEdns0(4096, false) }, wantOPT: true},
		{name: "EDNS0 with DO", edns: func(m *dns.Msg) { m.SetEdns0(1232, true) }, wantOPT: true, wantDO: true},
		{name: "unknown version", edns: func(m *dns.Msg) { m.SetEdns0(4096, false); m.IsEdns0().SetVersion(1) },
			rcode: dns.RcodeBadVers, wantOPT: true},
	}
	for _, network := range []string{"udp", "tcp"} {
		for _, tt := range tests {
			t.Run(network+"/"+tt.name, func(t *testing.T) {
				req := question("web.default.svc.cluster.local.", dns.TypeA)
				tt.edns(req)
				resp := ask(t, network, s.Addr(), req)
				if resp.Rcode != tt.rcode {
					t.Fatalf("rcode = %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
				}
				opt := resp.IsEdns0()
				if (opt != nil) != tt.wantOPT {
					t.Fatalf("OPT = %v, want one: %v", opt, tt.wantOPT)
				}
				if opt != nil && (opt.Version() != 0 || opt.Do() != tt.wantDO || opt.UDPSize() != advertisedUDPSize || len(opt.Option) != 0) {
					t.Errorf("OPT = %v, want version 0, DO %v, size %d, no options", opt, tt.wantDO, advertisedUDPSize)
				}
			})
		}
	}
}

func TestLargeLocalAnswerTruncatedOverUDP(t *testing.T) {
	var ports []v1.ServicePort
	for i := range 40 {
		ports = append(ports, v1.ServicePort{Name: "http", Protocol: v1.ProtocolTCP, Port: int32(8000 + i)})
	}
	s := startServer(t, Config{})
	s.Update([]*v1.Service{service("default", "many", []string{"10.96.0.50"}, ports...)}, nil)
	q := question("_http._tcp.many.default.svc.cluster.local.", dns.TypeSRV)
	if resp := ask(t, "udp", s.Addr(), q); !resp.Truncated || len(resp.Answer) >= 40 {
		t.Errorf("over UDP: truncated %v with %d answers, want truncated", resp.Truncated, len(resp.Answer))
	}
	if resp := ask(t, "tcp", s.Addr(), q); resp.Truncated || len(resp.Answer) != 40 || len(resp.Extra) != 1 {
		t.Errorf("over TCP: truncated %v with %d answers, %d additional; want 40 and 1", resp.Truncated, len(resp.Answer), len(resp.Extra))
	}
}

func TestNotAQuery(t *testing.T) {
	s := startServer(t, Config{})
	req := question("cluster.local.", dns.TypeSOA)
	req.Opcode = dns.OpcodeNotify
	if resp := ask(t, "udp", s.Addr(), req); resp.Rcode != dns.RcodeNotImplemented {
		t.Errorf("NOTIFY: rcode %s, want NOTIMP", dns.RcodeToString[resp.Rcode])
	}
	req = question("web.default.svc.cluster.local.", dns.TypeA)
	req.Question[0].Qclass = dns.ClassCHAOS
	if resp := ask(t, "udp", s.Addr(), req); resp.Rcode != dns.RcodeRefused {
		t.Errorf("class CH: rcode %s, want REFUSED", dns.RcodeToString[resp.Rcode])
	}
}

// waitAddr polls until s has bound its address.
func waitAddr(t *testing.T, s *Server) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if a := s.Addr(); a != "" {
			return a
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not synchronisation
	}
	t.Fatal("server did not listen within 10s")
	return ""
}

// bound returns what is listening at addr over UDP and TCP, by binding the
// same address and expecting it to be taken.
func bound(t *testing.T, addr string) (udp, tcp string) {
	t.Helper()
	if pc, err := net.ListenPacket("udp", addr); err == nil {
		_ = pc.Close()
	} else {
		udp = addr
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		_ = l.Close()
	} else {
		tcp = addr
	}
	return udp, tcp
}
