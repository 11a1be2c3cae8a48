package dns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"

	v1 "orch.io/orch/api/v1"
)

// Defaults of Config.
const (
	DefaultDomain     = "cluster.local"
	DefaultResolvConf = "/etc/resolv.conf"
	DefaultTTL        = 5
)

const (
	// advertisedUDPSize is the EDNS0 payload size of local answers, the
	// DNS flag day 2020 value that avoids IP fragmentation.
	advertisedUDPSize = 1232
	// shutdownGrace bounds how long Run waits for in-flight queries.
	shutdownGrace = 5 * time.Second
	// listenAttempts is how often Listen looks for a port free for both
	// UDP and TCP when asked for port 0.
	listenAttempts = 20
)

// Config configures a Server.
type Config struct {
	// Addr is the IP:port to listen on, for both UDP and TCP, such as the
	// node's bridge gateway "10.244.1.1:53". Port 0 picks a free port.
	Addr string
	// Domain is the cluster domain; DefaultDomain when empty.
	Domain string
	// Upstreams are the IP:port (or bare IP, port 53) of the resolvers for
	// names outside Domain, tried in order. When empty they are read from
	// ResolvConf.
	Upstreams []string
	// ResolvConf is the resolv.conf whose nameservers become the upstreams
	// when Upstreams is empty; DefaultResolvConf when empty. Loopback
	// nameservers and the server's own address are skipped. A missing
	// default file means no upstreams; a missing explicit one is an error.
	ResolvConf string
	// TTL of every record, and of negative answers; DefaultTTL when 0.
	TTL uint32
	// Logger receives the server's logs; discarded when nil.
	Logger *slog.Logger
}

// Server is a node's cluster DNS server. Build it with New, feed it with
// Update, start it with Run (optionally after Listen).
type Server struct {
	cfg        Config
	origin     string
	upstreams  []string
	fwdTimeout time.Duration
	udpClient  *dns.Client
	tcpClient  *dns.Client
	log        *slog.Logger

	zone atomic.Pointer[zone]
	seq  atomic.Uint64

	mu      sync.Mutex
	udp     net.PacketConn
	tcp     net.Listener
	addr    string
	started bool // Run was called; a Server runs once
}

// New validates cfg, fills in its defaults and builds a Server with no
// services. It reads ResolvConf when Upstreams is empty but opens no
// socket and starts no goroutine.
func New(cfg Config) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	host, _, err := net.SplitHostPort(cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("dns: listen address %q: %w", cfg.Addr, err)
	}
	self := net.ParseIP(host)
	if self == nil {
		return nil, fmt.Errorf("dns: listen address %q: host is not an IP address", cfg.Addr)
	}
	domain := strings.ToLower(strings.TrimSuffix(cfg.Domain, "."))
	if domain == "" {
		domain = DefaultDomain
	}
	origin := dns.Fqdn(domain)
	if _, ok := dns.IsDomainName(origin); !ok {
		return nil, fmt.Errorf("dns: domain %q is not a domain name", cfg.Domain)
	}
	cfg.Domain = domain

	s := &Server{
		cfg:        cfg,
		origin:     origin,
		fwdTimeout: defaultForwardTimeout,
		log:        cfg.Logger.With("subsystem", "dns"),
	}
	if len(cfg.Upstreams) > 0 {
		for _, u := range cfg.Upstreams {
			addr, err := upstreamAddr(u)
			if err != nil {
				return nil, err
			}
			s.upstreams = append(s.upstreams, addr)
		}
	} else {
		s.upstreams, err = upstreamsFromResolvConf(cfg.ResolvConf, self, s.log)
		if err != nil {
			return nil, err
		}
	}
	s.udpClient = &dns.Client{Net: "udp", Timeout: s.fwdTimeout, UDPSize: dns.MaxMsgSize}
	s.tcpClient = &dns.Client{Net: "tcp", Timeout: s.fwdTimeout}
	s.zone.Store(newZone(0, origin, cfg.TTL, nil, nil, s.log))
	return s, nil
}

// Update replaces the services the server answers for, and the endpoints
// that give the addresses of the headless ones. It never blocks and is
// safe to call concurrently with queries and with itself: when calls
// overlap, the one that started last wins.
func (s *Server) Update(services []*v1.Service, endpoints []*v1.Endpoints) {
	seq := s.seq.Add(1)
	z := newZone(seq, s.origin, s.cfg.TTL, services, endpoints, s.log)
	for {
		old := s.zone.Load()
		if old.seq > seq || s.zone.CompareAndSwap(old, z) {
			return
		}
	}
}

// Listen binds the UDP and TCP sockets on Config.Addr (the same port for
// both, also when it is 0), after which Addr returns the bound address.
// It is optional (Run listens when it has not been called) but lets a
// caller learn the address and see bind errors before starting Run.
// Calling it again returns nil. A Server that listened must be Run to
// release its sockets.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.udp != nil {
		return nil
	}
	if s.started {
		return errors.New("dns: server already ran")
	}
	host, port, _ := net.SplitHostPort(s.cfg.Addr) // checked by New
	for attempt := 1; ; attempt++ {
		pc, err := net.ListenPacket("udp", s.cfg.Addr)
		if err != nil {
			return fmt.Errorf("dns: listen on udp %s: %w", s.cfg.Addr, err)
		}
		bound := pc.LocalAddr().(*net.UDPAddr)
		tcpAddr := net.JoinHostPort(host, strconv.Itoa(bound.Port))
		l, err := net.Listen("tcp", tcpAddr)
		if err != nil {
			_ = pc.Close()
			if port == "0" && attempt < listenAttempts {
				continue // the port UDP got is taken for TCP; try another
			}
			return fmt.Errorf("dns: listen on tcp %s: %w", tcpAddr, err)
		}
		s.udp, s.tcp, s.addr = pc, l, bound.String()
		s.log.Info("listening", "addr", s.addr, "domain", s.cfg.Domain, "upstreams", s.upstreams)
		return nil
	}
}

// Addr returns the address the server listens on, UDP and TCP, once
// Listen (or Run) has bound it, and "" before.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Run listens (unless Listen was called) and serves queries over UDP and
// TCP until ctx ends, then stops accepting queries, waits a few seconds
// for the ones in flight and closes the sockets. It returns nil when ctx
// ends, and an error if the server cannot listen or a listener fails.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("dns: server already ran")
	}
	s.started = true
	udp, tcp := s.udp, s.tcp
	s.mu.Unlock()

	hctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h := &handler{s: s, ctx: hctx}
	servers := []*dns.Server{
		{PacketConn: udp, Handler: h, UDPSize: dns.DefaultMsgSize},
		{Listener: tcp, Handler: h},
	}
	startedc := make(chan struct{}, len(servers))
	errc := make(chan error, len(servers))
	for _, srv := range servers {
		srv.NotifyStartedFunc = func() { startedc <- struct{}{} }
		go func() { errc <- srv.ActivateAndServe() }()
	}

	// Wait until both serve, or one fails, before watching ctx: miekg/dns
	// refuses to shut down a server that has not started yet.
	var runErr error
	ended := 0
	fail := func(err error) {
		ended++
		if runErr == nil {
			runErr = fmt.Errorf("dns: serve on %s: %w", s.addr, err)
		}
	}
	for started := 0; started < len(servers) && runErr == nil; {
		select {
		case <-startedc:
			started++
		case err := <-errc:
			fail(err)
		}
	}
	if runErr == nil {
		select {
		case <-ctx.Done():
		case err := <-errc:
			fail(err)
		}
	}

	cancel() // abort forwarded queries in flight
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer scancel()
	for _, srv := range servers {
		if err := srv.ShutdownContext(sctx); err != nil {
			s.log.Debug("shutdown", "err", err) // not started, or failed
		}
	}
	// Closing the sockets also ends a server that had not started yet.
	_ = udp.Close()
	_ = tcp.Close()
	for ; ended < len(servers); ended++ {
		<-errc
	}
	s.log.Info("stopped", "addr", s.addr)
	return runErr
}

// handler answers queries; ctx ends when Run stops.
type handler struct {
	s   *Server
	ctx context.Context
}

// ServeDNS answers one query: from the zone for the cluster domain, from
// the upstreams for other names.
func (h *handler) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	s := h.s
	var resp *dns.Msg
	opt := req.IsEdns0()
	switch {
	case req.Opcode != dns.OpcodeQuery || len(req.Question) != 1:
		resp = new(dns.Msg).SetRcode(req, dns.RcodeNotImplemented)
	case opt != nil && opt.Version() != 0:
		resp = new(dns.Msg).SetRcode(req, dns.RcodeBadVers)
		resp.SetEdns0(advertisedUDPSize, opt.Do())
	case dns.IsSubDomain(s.origin, strings.ToLower(req.Question[0].Name)):
		resp = s.zone.Load().answer(req, req.Question[0])
		resp.RecursionAvailable = len(s.upstreams) > 0
		if opt != nil {
			resp.SetEdns0(advertisedUDPSize, opt.Do())
		}
	default:
		resp = s.forward(h.ctx, req)
	}
	if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
		size := dns.MinMsgSize
		if opt != nil {
			size = int(opt.UDPSize())
		}
		resp.Truncate(size)
	}
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("write response", "client", w.RemoteAddr(), "err", err)
	}
}
