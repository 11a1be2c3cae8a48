// Package agentserver is the node agent's own HTTPS endpoint, through which
// the masters reach a node: pod logs (read from the files the runtime
// writes), image upload (an OCI image tarball handed to the runtime), and
// the streaming sessions of exec and port-forward (see streaming.go).
//
// Only masters may call it: the server requires a client certificate
// issued directly by the cluster CA with O=orch:masters (mutual TLS), so
// another node's credentials are refused in the TLS handshake. It
// identifies itself with a self-signed certificate generated in memory when
// it is built. The agent publishes the
// certificate's SHA-256 (CertSHA256) in its Node object under
// v1.AnnotationAgentCertSHA256, and the masters pin it: there is no CA to
// trust, and a restarted agent simply publishes a new pin.
//
// Endpoints:
//
//	GET  /pods/{namespace}/{name}/log?container=&follow=&tailLines=&previous=&timestamps=&sinceSeconds=&sinceTime=&limitBytes=
//	POST /images   (body: OCI image tarball, Content-Type application/x-tar) → {"images":[...]}
//	GET|POST /exec/{namespace}/{name}/{container}?command=&input=&output=&error=&tty=  (SPDY or WebSocket upgrade)
//	GET|POST /attach/{namespace}/{name}/{container}?input=&output=&error=&tty=       (SPDY or WebSocket upgrade)
//	GET|POST /portforward/{namespace}/{name}[?port=]                                  (SPDY or WebSocket upgrade)
//
// Errors are v1.Status JSON objects.
package agentserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/net/netutil"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
)

// Config configures the agent's HTTPS server.
type Config struct {
	// Addr is the listen address (host:port); port 0 picks a free port.
	Addr string
	// ClientCAs verifies callers' client certificates: only a certificate
	// issued directly by one of these CAs (not by an intermediate) with
	// organization MasterOrganization is accepted, in the TLS handshake.
	// nil means nobody is accepted.
	ClientCAs *x509.CertPool
	// PodsDir holds the pods' files. Container logs live at
	// PodsDir/<podUID>/logs/<container>/<attempt>.log, where attempt is the
	// container's restart count (decimal); the rotated piece of a log is
	// <attempt>.log.1 (see RotateLogs).
	PodsDir string
	// Lookup returns the UID of a pod on this node.
	Lookup func(namespace, name string) (uid string, ok bool)
	// Running reports whether the given attempt of a container still runs.
	// A followed log ends once it does not and the whole file was sent. Nil
	// means nothing runs.
	Running func(uid, container string, attempt int) bool
	// Import imports an OCI image tarball and returns the image names it
	// held. A *v1.StatusError it returns is passed to the caller as is
	// (e.g. 400 for a bad tarball); other errors are 500.
	Import func(ctx context.Context, r io.Reader) ([]string, error)
	// Exec runs a command in a pod's container for kubectl exec; nil: the
	// exec endpoint answers 503.
	Exec ExecFunc
	// Attach connects to a container's main process for kubectl attach;
	// nil: the attach endpoint answers 503.
	Attach AttachFunc
	// PortForward connects a stream to a pod's port for kubectl
	// port-forward; nil: the port-forward endpoint answers 503.
	PortForward PortForwardFunc
	// Logger receives request errors; nil discards them.
	Logger *slog.Logger

	// ReadHeaderTimeout, ReadTimeout, WriteTimeout and IdleTimeout are the
	// http.Server's (0: the Default values). A followed log moves its write
	// deadline before every write; an image upload may take up to
	// ImageUploadTimeout, but no read of its body may wait longer than
	// ReadTimeout.
	ReadHeaderTimeout  time.Duration
	ReadTimeout        time.Duration
	WriteTimeout       time.Duration
	IdleTimeout        time.Duration
	ImageUploadTimeout time.Duration
	// MaxConnections caps the connections the server holds open; further
	// connections wait in the listen queue (0: DefaultMaxConnections,
	// negative: no limit).
	MaxConnections int
}

// MasterOrganization is the organization of master certificates, the only
// callers the agent serves.
const MasterOrganization = "orch:masters"

// Server is the node agent's HTTPS server. New builds it; Run serves.
type Server struct {
	cfg     Config
	log     *slog.Logger
	cert    tls.Certificate
	certSum string
	handler http.Handler
	// pollInterval is how often a followed log checks its file.
	pollInterval time.Duration

	mu sync.Mutex
	ln net.Listener
	// stopping is closed when Run starts to shut down, to end followed logs.
	stopping chan struct{}
}

// New builds a server and its self-signed ECDSA P-256 certificate (kept in
// memory only). It starts nothing.
func New(cfg Config) (*Server, error) {
	if cfg.Addr == "" {
		return nil, errors.New("agent server: a listen address is required")
	}
	if cfg.PodsDir == "" {
		return nil, errors.New("agent server: a pods directory is required")
	}
	if cfg.Lookup == nil {
		return nil, errors.New("agent server: a pod lookup function is required")
	}
	cert, err := selfSignedCert(time.Now())
	if err != nil {
		return nil, fmt.Errorf("agent server: %w", err)
	}
	sum := sha256.Sum256(cert.Certificate[0])
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		cfg:          withDefaults(cfg),
		log:          log.With("subsystem", "agentserver"),
		cert:         cert,
		certSum:      hex.EncodeToString(sum[:]),
		pollInterval: 100 * time.Millisecond,
		stopping:     make(chan struct{}),
	}
	s.handler = s.routes()
	return s, nil
}

// selfSignedCert returns a new ECDSA P-256 server certificate signed by its
// own key. Its validity is long: masters pin it, they do not verify a chain.
func selfSignedCert(now time.Time) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "orch-node-agent"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("create certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// CertSHA256 returns the hex SHA-256 of the server's DER certificate: the
// pin the agent publishes under v1.AnnotationAgentCertSHA256.
func (s *Server) CertSHA256() string { return s.certSum }

// Handler returns the server's HTTP handler (authentication included).
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds the listen address. Calling it before Run makes Addr valid
// at once (useful with port 0); Run calls it when it was not called.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln != nil {
		return nil
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("agent server: listen on %s: %w", s.cfg.Addr, err)
	}
	s.ln = ln
	return nil
}

// Addr returns the bound address once Listen (or Run) has bound it, else "".
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Run listens (unless Listen was called) and serves HTTPS until ctx ends,
// then shuts down: followed logs end, other requests get a few seconds to
// finish. It may be called once.
func (s *Server) Run(ctx context.Context) error {
	if err := s.Listen(); err != nil {
		return err
	}
	s.mu.Lock()
	ln := s.ln
	s.mu.Unlock()
	hs := s.httpServer()
	if s.cfg.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, s.cfg.MaxConnections)
	}
	tlsLn := tls.NewListener(ln, s.tlsConfig())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tlsLn) }()
	s.log.Info("agent server listening", "addr", ln.Addr().String(), "certSHA256", s.certSum)
	select {
	case err := <-errc:
		return fmt.Errorf("agent server: serve: %w", err)
	case <-ctx.Done():
	}
	close(s.stopping)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		s.log.Warn("agent server: shutdown", "err", err)
		hs.Close()
	}
	return nil
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /pods/{namespace}/{name}/log", s.serveLog)
	mux.HandleFunc("POST /images", s.serveImages)
	for _, m := range []string{"GET", "POST"} {
		mux.HandleFunc(m+" /exec/{namespace}/{name}/{container}", s.serveExec)
		mux.HandleFunc(m+" /attach/{namespace}/{name}/{container}", s.serveAttach)
		mux.HandleFunc(m+" /portforward/{namespace}/{name}", s.servePortForward)
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, v1.NewNotFound("path", r.URL.Path))
	})
	return s.authenticated(mux)
}

// tlsConfig requires a master's client certificate in the handshake.
func (s *Server) tlsConfig() *tls.Config {
	pool := s.cfg.ClientCAs
	if pool == nil {
		pool = x509.NewCertPool() // verifies nothing: nobody is accepted
	}
	return &tls.Config{
		Certificates:          []tls.Certificate{s.cert},
		MinVersion:            tls.VersionTLS12,
		CipherSuites:          pki.CipherSuites(),
		NextProtos:            []string{"http/1.1"},
		ClientAuth:            tls.RequireAndVerifyClientCert,
		ClientCAs:             pool,
		VerifyPeerCertificate: func(_ [][]byte, chains [][]*x509.Certificate) error { return masterChain(chains) },
	}
}

// masterChain accepts verified chains of which one is a master
// certificate (O=MasterOrganization) issued directly by a root CA: an
// intermediate signer of client certificates may not make masters.
func masterChain(chains [][]*x509.Certificate) error {
	if len(chains) == 0 {
		return errors.New("no verified client certificate")
	}
	for _, c := range chains {
		if len(c) == 2 && slices.Contains(c[0].Subject.Organization, MasterOrganization) {
			return nil
		}
	}
	leaf := chains[0][0]
	return fmt.Errorf("client certificate %q (O=%v) is not a master certificate issued by the cluster CA: only masters may call a node agent",
		leaf.Subject.CommonName, leaf.Subject.Organization)
}

// authenticated serves only requests over a connection whose client
// proved a master certificate (the TLS handshake already refuses others;
// this keeps Handler safe on its own).
func (s *Server) authenticated(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || masterChain(r.TLS.VerifiedChains) != nil {
			refuseUnread(w, v1.NewUnauthorized("Unauthorized: a master client certificate is required"))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// writeError writes err as a Status (500 unless err carries one).
func writeError(w http.ResponseWriter, err error) {
	se := v1.AsStatusError(err)
	writeJSON(w, int(se.Status.Code), se.Status)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code = http.StatusInternalServerError
		b, _ = json.Marshal(v1.NewInternalError(err).Status)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(append(b, '\n'))
}
