package apiserver

import (
	"crypto/x509"

	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/net/netutil"

	"orch.io/orch/apiserver/podsecurity"
	"orch.io/orch/audit"
	"orch.io/orch/cluster"
	"orch.io/orch/fsm"
)

// Backend is what the API server needs from the cluster.
type Backend interface {
	// Apply commits an encoded command and returns its fsm result.
	Apply(ctx context.Context, cmd []byte) (any, error)
	// ReadBarrier makes the following local read linearizable.
	ReadBarrier(ctx context.Context) (uint64, error)
	// Store returns the current local store.
	Store() *fsm.Store
	// Members lists the masters.
	Members() (leader string, members []cluster.Member, err error)
	// InternalHandler serves the masters' internal endpoints.
	InternalHandler() http.Handler
	// ChangeMembership adds or removes a master or moves the leadership.
	ChangeMembership(ctx context.Context, req cluster.MembershipRequest) error
}

// Config configures the API server.
type Config struct {
	// Addr is the listen address (host:port).
	Addr string
	// TLS is the server's TLS config; it should request (not require)
	// client certificates verified by the cluster CA, for the internal endpoints.
	TLS *tls.Config
	// AdminToken may do everything.
	AdminToken string
	// AgentCertificate is the client certificate (a master certificate:
	// O=orch:masters, issued by the cluster CA) presented to node agents
	// when proxying logs and image uploads, read for each connection so a
	// renewed certificate is used at once; nil: agents cannot be called.
	AgentCertificate func(*tls.CertificateRequestInfo) (*tls.Certificate, error)
	// ClientCAs verifies client certificates: a verified certificate's CN
	// is the user and its O the groups, as in Kubernetes. nil: client
	// certificates do not authenticate.
	ClientCAs *x509.CertPool
	// Authenticators are tried after client certificates and the static
	// tokens (bootstrap tokens, service account tokens).
	Authenticators []authenticator.Request
	// Authorizers decide after the built-in ones (system:masters and
	// orch:masters may do everything): the Node authorizer, RBAC. A
	// request none allows is 403.
	Authorizers []authorizer.UnconditionalAuthorizer
	// RBAC resolves the RBAC rules of users for the escalation checks on
	// writes of roles and bindings and for rules reviews. nil: only
	// system:masters may write them.
	RBAC RBAC
	// MaxBodyBytes caps request bodies (413 above it).
	MaxBodyBytes int64
	// MaxJSONDepth caps the nesting of request bodies (400 above it).
	MaxJSONDepth int
	// RequestTimeout bounds every request but watches.
	RequestTimeout time.Duration
	// WatchBookmarkInterval is how often a watch that allows bookmarks gets one.
	WatchBookmarkInterval time.Duration
	// MaxWatchTimeout caps a watch's life; clients resume after it.
	MaxWatchTimeout time.Duration
	// Logger receives request errors.
	Logger *slog.Logger
	// Registry receives the server's metrics and is served on /metrics.
	Registry *prometheus.Registry
	// Version is the build's `git describe`; /version reports it as a
	// semantic version (package version).
	Version string
	// BuildDate is when the build's commit was made (RFC 3339), for /version.
	BuildDate string
	// ClusterCIDR is the pod network; every node created without a pod CIDR
	// gets a free /NodeCIDRMaskSize of it.
	ClusterCIDR      string
	NodeCIDRMaskSize int
	// ServiceCIDR is where services' ClusterIPs come from.
	ServiceCIDR string

	// MaxRequestsInFlight and MaxMutatingRequestsInFlight size the pools of
	// read-only and mutating requests served at once (Kubernetes'
	// --max-requests-inflight and --max-mutating-requests-inflight); a
	// request beyond them gets 429. Long-running requests are not counted.
	// 0 means no limit.
	MaxRequestsInFlight         int
	MaxMutatingRequestsInFlight int
	// MaxWatchesPerClient caps the open watches of one client (one user);
	// MaxWatches caps those of
	// the whole server. A watch beyond them gets 429. 0 means no limit.
	MaxWatchesPerClient int
	MaxWatches          int
	// MaxConnections caps the connections the server holds open; further
	// connections wait in the listen queue. 0 means no limit.
	MaxConnections int
	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// http.Server's. Long-running responses (watches, followed logs, image
	// uploads) set their own deadlines. 0 means the default.
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// PodSecurity is the Pod Security admission's cluster default for
	// namespaces without pod-security.kubernetes.io labels, and its
	// exemptions; zero fields take podsecurity.DefaultConfig's.
	PodSecurity podsecurity.Config
	// Keyring runs the gossip keyring operations (nil: this master does
	// not gossip, and /orch/v1/gossip/keyring answers 404).
	Keyring Keyring
	// AuditSink receives the audit events of every request but the
	// masters' internal endpoints (nil: no audit log); AuditPolicy decides
	// their level (nil: audit.DefaultPolicy()).
	AuditSink   audit.Sink
	AuditPolicy *audit.Policy
	// ServiceAccounts, if set, enables service account admission and
	// TokenRequest (see ServiceAccountConfig).
	ServiceAccounts *ServiceAccountConfig
	// Secrets encrypts Secrets' values before they are proposed and
	// decrypts them on every read (encryption.Keys). nil: Secrets are
	// stored in clear, as kube-apiserver without an encryption provider
	// configuration stores them.
	Secrets SecretKeys
	// LeaseBatchWindow is how long an update of a Lease waits for others
	// to share one Raft entry with (see leasebatch.go); 0 means
	// DefaultLeaseBatchWindow, a negative value no batching.
	LeaseBatchWindow time.Duration
}

// DefaultConfig returns the API server defaults.
func DefaultConfig() Config {
	return Config{
		MaxBodyBytes:          3 << 20,
		MaxJSONDepth:          100,
		RequestTimeout:        60 * time.Second,
		WatchBookmarkInterval: 10 * time.Second,
		MaxWatchTimeout:       30 * time.Minute,
		Version:               "v0.1.0",
		ClusterCIDR:           "10.244.0.0/16",
		NodeCIDRMaskSize:      24,
		ServiceCIDR:           "10.96.0.0/16",

		MaxRequestsInFlight:         DefaultMaxRequestsInFlight,
		MaxMutatingRequestsInFlight: DefaultMaxMutatingRequestsInFlight,
		MaxWatchesPerClient:         DefaultMaxWatchesPerClient,
		MaxWatches:                  DefaultMaxWatches,
		MaxConnections:              DefaultMaxConnections,
		ReadHeaderTimeout:           10 * time.Second,
		ReadTimeout:                 60 * time.Second,
		WriteTimeout:                90 * time.Second,
		IdleTimeout:                 120 * time.Second,
		PodSecurity:                 podsecurity.DefaultConfig(),
	}
}

// Server is the HTTPS API server of one master.
type Server struct {
	cfg     Config
	backend Backend
	log     *slog.Logger
	metrics *metrics
	handler http.Handler
	limits  *limiter
	// podSecurity is the Pod Security admission.
	podSecurity *podsecurity.Admission
	// authn identifies a request's user; authz decides what it may do.
	authn authenticator.Request
	authz authorizer.UnconditionalAuthorizer
	// protobuf decodes the protobuf bodies of Kubernetes' typed clients.
	protobuf *protobufDecoder
	// openapi serves /openapi/v2 and /openapi/v3.
	openapi *openAPI
	// leases batches lease updates (nil: each is its own entry).
	leases *leaseBatcher
	// fields keeps metadata.managedFields and merges server-side applies.
	fields *fieldManagers
}

// New builds a server; Serve starts it.
func New(cfg Config, backend Backend) (*Server, error) {
	if cfg.AdminToken == "" {
		return nil, errors.New("api server: an admin token is required")
	}
	d := DefaultConfig()
	if cfg.MaxBodyBytes == 0 {
		cfg.MaxBodyBytes = d.MaxBodyBytes
	}
	if cfg.MaxJSONDepth == 0 {
		cfg.MaxJSONDepth = d.MaxJSONDepth
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = d.RequestTimeout
	}
	if cfg.WatchBookmarkInterval == 0 {
		cfg.WatchBookmarkInterval = d.WatchBookmarkInterval
	}
	if cfg.MaxWatchTimeout == 0 {
		cfg.MaxWatchTimeout = d.MaxWatchTimeout
	}
	if cfg.Version == "" {
		cfg.Version = d.Version
	}
	if cfg.ReadHeaderTimeout == 0 {
		cfg.ReadHeaderTimeout = d.ReadHeaderTimeout
	}
	if cfg.ReadTimeout == 0 {
		cfg.ReadTimeout = cfg.RequestTimeout
	}
	if cfg.WriteTimeout == 0 {
		// Requests set their write deadline to RequestTimeout plus a
		// margin; this only bounds what sets none.
		cfg.WriteTimeout = cfg.RequestTimeout + 30*time.Second
	}
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = d.IdleTimeout
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Server{cfg: cfg, backend: backend, log: log.With("subsystem", "api"), metrics: newMetrics(cfg.Registry)}
	s.limits = newLimiter(cfg, cfg.Registry)
	s.authn = newAuthenticator(cfg.ClientCAs, tokenAuthenticator{admin: cfg.AdminToken}, cfg.Authenticators)
	s.authz = authorizerChain(append([]authorizer.UnconditionalAuthorizer{privilegedGroups{}}, cfg.Authorizers...))
	ps, err := podsecurity.New(cfg.PodSecurity, newPodSecurityStore(backend), log, cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("api server: %w", err)
	}
	s.podSecurity = ps
	if s.protobuf, err = newProtobufDecoder(); err != nil {
		return nil, fmt.Errorf("api server: %w", err)
	}
	if s.openapi, err = newOpenAPI(); err != nil {
		return nil, fmt.Errorf("api server: %w", err)
	}
	if s.fields, err = newFieldManagers(); err != nil {
		return nil, fmt.Errorf("api server: %w", err)
	}
	if cfg.LeaseBatchWindow == 0 {
		cfg.LeaseBatchWindow = DefaultLeaseBatchWindow
	}
	if cfg.LeaseBatchWindow > 0 {
		s.leases = newLeaseBatcher(backend.Apply, cfg.LeaseBatchWindow, maxLeaseBatch)
		s.leases.sizes = leaseBatchSizes(cfg.Registry)
	}
	if s.handler, err = s.routes(); err != nil {
		return nil, fmt.Errorf("api server: %w", err)
	}
	return s, nil
}

// Handler returns the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

func (s *Server) routes() (http.Handler, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("GET /readyz", s.serveReady)
	// /metrics needs a credential allowed to get the path (system:monitoring
	// in Kubernetes' RBAC); as health, it takes no slot of the request pools.
	mux.Handle("GET /metrics", s.authenticatedUnlimited(s.authorizedNonResource(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))))
	mux.HandleFunc("GET /version", s.serveVersion)
	mux.Handle("/orch/v1/internal/", s.backend.InternalHandler())
	mux.Handle("GET /orch/v1/members", s.authenticated(http.HandlerFunc(s.serveMembers)))
	mux.Handle("POST /orch/v1/cluster/masters", s.authenticated(s.authorizedNonResource(s.serveMembership(cluster.MembershipAdd))))
	mux.Handle("DELETE /orch/v1/cluster/masters/{name}", s.authenticated(s.authorizedNonResource(s.serveMembership(cluster.MembershipRemove))))
	mux.Handle("POST /orch/v1/cluster/transfer-leader", s.authenticated(s.authorizedNonResource(s.serveMembership(cluster.MembershipTransfer))))
	keyring := s.authenticated(s.authorizedNonResource(KeyringHandler(s.cfg.Keyring, s.cfg.MaxBodyBytes)))
	mux.Handle("GET /orch/v1/gossip/keyring", keyring)
	mux.Handle("POST /orch/v1/gossip/keyring/{op}", keyring)
	mux.Handle("GET /orch/v1/snapshot", s.authenticated(s.authorizedNonResource(http.HandlerFunc(s.serveSnapshot))))
	mux.Handle("GET /api", s.authenticated(http.HandlerFunc(s.serveAPIVersions)))
	mux.Handle("GET /apis", s.authenticated(http.HandlerFunc(s.serveAPIGroups)))
	mux.Handle("GET /api/v1", s.authenticated(http.HandlerFunc(s.serveResourceList)))
	mux.Handle("/api/v1/", s.authenticated(http.HandlerFunc(s.serveResource)))
	mux.Handle("GET /apis/{group}", s.authenticated(http.HandlerFunc(s.serveAPIGroup)))
	mux.Handle("GET /apis/{group}/{version}", s.authenticated(http.HandlerFunc(s.serveGroupResourceList)))
	mux.Handle("/apis/{group}/{version}/", s.authenticated(http.HandlerFunc(s.serveResource)))
	mux.Handle("/debug/pprof/", s.authenticated(s.authorizedNonResource(http.HandlerFunc(pprof.Index))))
	mux.Handle("/debug/pprof/profile", s.authenticated(s.authorizedNonResource(http.HandlerFunc(pprof.Profile))))
	mux.Handle("/debug/pprof/trace", s.authenticated(s.authorizedNonResource(http.HandlerFunc(pprof.Trace))))
	mux.Handle("POST /debug/memory/free", s.authenticated(s.authorizedNonResource(http.HandlerFunc(serveFreeMemory))))
	if err := s.openapi.register(mux, func(h http.Handler) http.Handler { return s.authenticated(s.authorizedNonResource(h)) }); err != nil {
		return nil, err
	}
	return s.withAudit(canonicalPaths(mux)), nil
}

// withAudit wraps h with the audit log, if there is one. The masters'
// internal endpoints (forwarded writes and reads) are left out: the
// master that took the request from its client logs it.
func (s *Server) withAudit(h http.Handler) http.Handler {
	if s.cfg.AuditSink == nil {
		return h
	}
	audited := audit.Handler(h, audit.HandlerConfig{Sink: s.cfg.AuditSink, Policy: s.cfg.AuditPolicy,
		LongRunning: func(r *http.Request) bool { k := requestKind(r); return k == kindWatch || k == kindLongRunning }})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/orch/v1/internal/") {
			h.ServeHTTP(w, r)
			return
		}
		audited.ServeHTTP(w, r)
	})
}

// stoppingKey carries, in a request's context, a channel closed when the
// server that took the request starts to shut down.
type stoppingKey struct{}

// Serve serves HTTPS on ln until ctx ends, then shuts down gracefully.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// Shutdown waits for active requests; watches never end by themselves,
	// so they are told to stop (and their clients resume elsewhere).
	stopping := make(chan struct{})
	hs := s.httpServer(stopping)
	if s.cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, s.cfg.MaxConnections)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve api: %w", err)
	case <-ctx.Done():
	}
	close(stopping)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hs.Shutdown(sctx)
	hs.Close()
	return nil
}

// httpServer is the http.Server that Serve runs, with every timeout set.
func (s *Server) httpServer(stopping chan struct{}) *http.Server {
	return &http.Server{
		BaseContext: func(net.Listener) context.Context {
			return context.WithValue(context.Background(), stoppingKey{}, (<-chan struct{})(stopping))
		},
		Handler:           s.handler,
		TLSConfig:         s.cfg.TLS,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.ReadTimeout,
		WriteTimeout:      s.cfg.WriteTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    1 << 20,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
}

func (s *Server) serveReady(w http.ResponseWriter, r *http.Request) {
	if id, ok := leaderKnown(s.backend); !ok {
		http.Error(w, "no leader: "+id, http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok")
}

func leaderKnown(b Backend) (string, bool) {
	leader, _, err := b.Members()
	if err != nil {
		return err.Error(), false
	}
	return leader, leader != ""
}
