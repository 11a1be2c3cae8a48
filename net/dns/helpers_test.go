package dns

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	v1 "orch.io/orch/api/v1"
)

// testLogger routes logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// resolvConf writes content to a temporary resolv.conf and returns its path.
func resolvConf(t testing.TB, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// startServer runs a Server for cfg on 127.0.0.1 with an ephemeral port
// until the test ends. Without upstreams it gets an empty resolv.conf, so
// tests never read the machine's. The sockets are bound before it returns,
// so queries can be sent at once. The tweaks change the Server before it
// runs.
func startServer(t testing.TB, cfg Config, tweaks ...func(*Server)) *Server {
	t.Helper()
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	if len(cfg.Upstreams) == 0 && cfg.ResolvConf == "" {
		cfg.ResolvConf = resolvConf(t, "")
	}
	if cfg.Logger == nil {
		if _, bench := t.(*testing.B); bench {
			cfg.Logger = slog.New(slog.DiscardHandler)
		} else {
			cfg.Logger = testLogger(t)
		}
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	for _, tweak := range tweaks {
		tweak(s)
	}
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("Run did not return after its context ended")
		}
	})
	return s
}

// ask sends m to addr over network ("udp" or "tcp") with a real client.
func ask(t testing.TB, network, addr string, m *dns.Msg) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	resp, _, err := c.Exchange(m, addr)
	if err != nil {
		t.Fatalf("query %s over %s: %v", m.Question[0].String(), network, err)
	}
	return resp
}

// question returns a recursive query for name and qtype.
func question(name string, qtype uint16) *dns.Msg {
	return new(dns.Msg).SetQuestion(name, qtype)
}

// rrStrings returns the records as sorted text.
func rrStrings(rrs []dns.RR) []string {
	out := make([]string, 0, len(rrs))
	for _, rr := range rrs {
		out = append(out, rr.String())
	}
	sort.Strings(out)
	return out
}

// parseRRs parses records in zone-file syntax and returns them as rrStrings
// does, so that expectations can be written loosely.
func parseRRs(t testing.TB, texts ...string) []string {
	t.Helper()
	rrs := make([]dns.RR, 0, len(texts))
	for _, s := range texts {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("bad expected record %q: %v", s, err)
		}
		rrs = append(rrs, rr)
	}
	return rrStrings(rrs)
}

// service returns a ClusterIP service with the given ports.
func service(ns, name string, clusterIPs []string, ports ...v1.ServicePort) *v1.Service {
	svc := &v1.Service{
		ObjectMeta: v1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, Ports: ports, ClusterIPs: clusterIPs},
	}
	if len(clusterIPs) > 0 {
		svc.Spec.ClusterIP = clusterIPs[0]
	}
	return svc
}

// upstream is a fake resolver: a miekg/dns server on 127.0.0.1, UDP and TCP
// on one port, whose handler sees the transport of each query.
type upstream struct {
	addr string
	mu   sync.Mutex
	seen []string // "udp example.org. A" per query
	opts []*dns.OPT
}

// startUpstream serves handle(network, query) until the test ends.
func startUpstream(t testing.TB, handle func(network string, req *dns.Msg) *dns.Msg) *upstream {
	t.Helper()
	u := &upstream{}
	var pc net.PacketConn
	var l net.Listener
	for attempt := 0; ; attempt++ {
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		u.addr = pc.LocalAddr().String()
		if l, err = net.Listen("tcp", u.addr); err == nil {
			break
		}
		_ = pc.Close()
		if attempt > 10 {
			t.Fatal(err)
		}
	}
	serve := func(network string) dns.HandlerFunc {
		return func(w dns.ResponseWriter, req *dns.Msg) {
			u.mu.Lock()
			q := req.Question[0]
			u.seen = append(u.seen, network+" "+q.Name+" "+dns.TypeToString[q.Qtype])
			u.opts = append(u.opts, req.IsEdns0())
			u.mu.Unlock()
			if resp := handle(network, req); resp != nil {
				_ = w.WriteMsg(resp)
			}
		}
	}
	servers := []*dns.Server{
		{PacketConn: pc, Handler: serve("udp"), UDPSize: dns.DefaultMsgSize},
		{Listener: l, Handler: serve("tcp")},
	}
	for _, srv := range servers {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		errc := make(chan error, 1)
		go func() { errc <- srv.ActivateAndServe() }()
		select {
		case <-started:
		case err := <-errc:
			t.Fatalf("fake upstream: %v", err)
		}
		t.Cleanup(func() {
			_ = srv.Shutdown()
			<-errc
		})
	}
	return u
}

// queries returns what the upstream was asked so far.
func (u *upstream) queries() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

// deadAddr returns a 127.0.0.1 UDP address where nothing listens, so that
// queries to it fail at once with "connection refused".
func deadAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	if err := pc.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}
