// Package certificate is the node agent's client certificate manager, as
// the kubelet's (k8s.io/client-go/util/certificate and
// pkg/kubelet/certificate/bootstrap): on first start it asks for a
// certificate with a bootstrap token (a CertificateSigningRequest for
// CN=system:node:<name>, O=system:nodes, signer
// kubernetes.io/kube-apiserver-client-kubelet), keeps key and certificate
// in one file (0600) in its directory, hands the certificate to every new
// TLS connection, and renews it with its own certificate at a random point
// between 70 % and 90 % of its lifetime, swapping it atomically and closing
// the client's connections so new ones present the new certificate.
package certificate

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// FileName is the file, in the manager's directory, holding the current
// certificate (and its chain) followed by its key.
const FileName = "node-client-current.pem"

// API is what the manager needs of an API client (*client.Client).
type API interface {
	Create(ctx context.Context, obj v1.Object) error
	Get(ctx context.Context, resource, namespace, name string, out v1.Object, opts ...client.GetOption) error
}

// Config configures a Manager.
type Config struct {
	// NodeName is the node; its user is system:node:<NodeName>.
	NodeName string
	// Dir holds FileName (created 0700).
	Dir string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Jitter returns a number in [0, 1) that places the renewal in the
	// 70–90 % window (default math/rand).
	Jitter func() float64
	// PollInterval is how often a pending request is read (default 500 ms).
	PollInterval time.Duration
	Logger       *slog.Logger
}

// Manager holds a node's client certificate.
type Manager struct {
	cfg     Config
	current atomic.Pointer[held]

	mu       sync.Mutex
	onRotate []func()
	// bootstrap, if set, is used once the certificate has expired.
	bootstrap API
}

// SetBootstrapAPI gives the manager a client authenticated by a bootstrap
// token: when renewals failed until the certificate expired, the next
// request goes through it (as a restarted kubelet bootstraps again).
func (m *Manager) SetBootstrapAPI(api API) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.bootstrap = api
}

// held is a certificate with the time the manager got it.
type held struct {
	cert *tls.Certificate
	leaf *x509.Certificate
	// since is when the certificate was stored (its file's modification
	// time after a restart): the signer backdates NotBefore for clock
	// skew, so the lifetime counts from here.
	since time.Time
}

// New returns a manager with the certificate of cfg.Dir, if any is there;
// Valid says whether it is usable.
func New(cfg Config) (*Manager, error) {
	if cfg.NodeName == "" || cfg.Dir == "" {
		return nil, errors.New("certificate manager: a node name and a directory are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Jitter == nil {
		cfg.Jitter = mrand.Float64
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 500 * time.Millisecond
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "certificate")
	m := &Manager{cfg: cfg}
	path := filepath.Join(cfg.Dir, FileName)
	raw, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return m, nil
	case err != nil:
		return nil, fmt.Errorf("certificate manager: %w", err)
	}
	h, err := parse(raw, raw)
	if err != nil {
		return nil, fmt.Errorf("certificate manager: %s: %w", path, err)
	}
	if fi, err := os.Stat(path); err == nil {
		h.since = fi.ModTime()
	}
	if h.since.Before(h.leaf.NotBefore) {
		h.since = h.leaf.NotBefore
	}
	m.current.Store(h)
	return m, nil
}

func parse(certPEM, keyPEM []byte) (*held, error) {
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return nil, err
	}
	c.Leaf = leaf
	return &held{cert: &c, leaf: leaf}, nil
}

// Valid reports whether the manager holds a certificate that has not expired.
func (m *Manager) Valid() bool {
	h := m.current.Load()
	return h != nil && m.cfg.Now().Before(h.leaf.NotAfter)
}

// Current returns the current certificate's leaf, or nil.
func (m *Manager) Current() *x509.Certificate {
	if h := m.current.Load(); h != nil {
		return h.leaf
	}
	return nil
}

// GetClientCertificate gives each new TLS connection the current
// certificate (for client.Config.GetClientCertificate).
func (m *Manager) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	h := m.current.Load()
	if h == nil {
		return nil, errors.New("the node has no client certificate yet")
	}
	return h.cert, nil
}

// OnRotate registers f to run after each new certificate (the client's
// CloseAllConnections).
func (m *Manager) OnRotate(f func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.onRotate = append(m.onRotate, f)
}

// Bootstrap gets a first certificate through api, authenticated by a
// bootstrap token, unless the manager holds a valid one already. It waits
// until the request is approved and signed, or ctx ends.
func (m *Manager) Bootstrap(ctx context.Context, api API) error {
	if m.Valid() {
		return nil
	}
	m.cfg.Logger.Info("requesting a client certificate with the bootstrap token")
	return m.request(ctx, api)
}

// RotationDeadline is when a certificate held since since and valid until
// notAfter is renewed: at 70 % + jitter×20 % of its lifetime, as the
// kubelet's certificate manager.
func RotationDeadline(since, notAfter time.Time, jitter float64) time.Time {
	total := notAfter.Sub(since)
	return since.Add(time.Duration(float64(total) * (0.7 + 0.2*jitter)))
}

// Run renews the certificate through api (authenticated by the certificate
// itself) before it expires, until ctx ends. A failed renewal is retried
// with back-off.
func (m *Manager) Run(ctx context.Context, api API) {
	backoff := time.Second
	for {
		h := m.current.Load()
		if h == nil {
			return
		}
		deadline := RotationDeadline(h.since, h.leaf.NotAfter, m.cfg.Jitter())
		m.cfg.Logger.Info("certificate rotation deadline", "expires", h.leaf.NotAfter, "renew_at", deadline)
		if wait := deadline.Sub(m.cfg.Now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		}
		through := api
		m.mu.Lock()
		if b := m.bootstrap; b != nil && !m.Valid() {
			m.cfg.Logger.Warn("the client certificate has expired: requesting a new one with the bootstrap token")
			through = b
		}
		m.mu.Unlock()
		if err := m.request(ctx, through); err != nil {
			if ctx.Err() != nil {
				return
			}
			m.cfg.Logger.Warn("certificate renewal failed; retrying", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Minute)
			continue
		}
		backoff = time.Second
	}
}

// request asks for a new certificate for a new key and installs it.
func (m *Manager) request(ctx context.Context, api API) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate key: %w", err)
	}
	csr, err := NewRequest(m.cfg.NodeName, key)
	if err != nil {
		return err
	}
	if err := api.Create(ctx, csr); err != nil {
		return fmt.Errorf("create certificate signing request: %w", err)
	}
	m.cfg.Logger.Info("certificate signing request created", "csr", csr.Name)
	certPEM, err := m.wait(ctx, api, csr.Name)
	if err != nil {
		return err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	h, err := parse(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("certificate of %s: %w", csr.Name, err)
	}
	if err := m.store(append(append([]byte{}, certPEM...), keyPEM...)); err != nil {
		return err
	}
	h.since = m.cfg.Now()
	if h.since.Before(h.leaf.NotBefore) {
		h.since = h.leaf.NotBefore
	}
	m.current.Store(h)
	m.cfg.Logger.Info("client certificate installed", "csr", csr.Name, "expires", h.leaf.NotAfter)
	m.mu.Lock()
	fs := append([]func(){}, m.onRotate...)
	m.mu.Unlock()
	for _, f := range fs {
		f()
	}
	return nil
}

// NewRequest returns a CSR object asking the kubelet-client signer for a
// certificate of node name for key.
func NewRequest(name string, key *ecdsa.PrivateKey) (*v1.CertificateSigningRequest, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: v1.NodeUserPrefix + name, Organization: []string{v1.NodesGroup}}}, key)
	if err != nil {
		return nil, fmt.Errorf("create certificate request: %w", err)
	}
	return &v1.CertificateSigningRequest{
		ObjectMeta: v1.ObjectMeta{Name: v1.GenerateName("node-csr-" + name + "-")},
		Spec: v1.CertificateSigningRequestSpec{
			Request:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: v1.KubeAPIServerClientKubeletSignerName,
			Usages:     []v1.KeyUsage{v1.UsageDigitalSignature, v1.UsageClientAuth},
		},
	}, nil
}

// wait polls the request until it has a certificate, or fails if it is
// denied or failed.
func (m *Manager) wait(ctx context.Context, api API, name string) ([]byte, error) {
	return WaitForCertificate(ctx, api, name, m.cfg.PollInterval)
}

// WaitForCertificate polls CSR name every interval until it holds a
// certificate, and fails if it is denied or failed or ctx ends.
func WaitForCertificate(ctx context.Context, api API, name string, interval time.Duration) ([]byte, error) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		var csr v1.CertificateSigningRequest
		err := api.Get(ctx, "certificatesigningrequests", "", name, &csr)
		switch {
		case err != nil && ctx.Err() != nil:
			return nil, ctx.Err()
		case err != nil:
			// Transient (a master failing over): try again.
		case csr.HasCondition(v1.CertificateDenied):
			return nil, fmt.Errorf("certificate signing request %s was denied: %s", name, conditionMessage(&csr, v1.CertificateDenied))
		case csr.HasCondition(v1.CertificateFailed):
			return nil, fmt.Errorf("certificate signing request %s failed: %s", name, conditionMessage(&csr, v1.CertificateFailed))
		case len(csr.Status.Certificate) > 0:
			return csr.Status.Certificate, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for certificate signing request %s: %w", name, ctx.Err())
		case <-t.C:
		}
	}
}

func conditionMessage(csr *v1.CertificateSigningRequest, t v1.RequestConditionType) string {
	for _, c := range csr.Status.Conditions {
		if c.Type == t {
			return c.Reason + ": " + c.Message
		}
	}
	return ""
}

// store writes the certificate and key atomically (a temporary file
// renamed over FileName), mode 0600.
func (m *Manager) store(data []byte) error {
	if err := os.MkdirAll(m.cfg.Dir, 0o700); err != nil {
		return fmt.Errorf("store certificate: %w", err)
	}
	f, err := os.CreateTemp(m.cfg.Dir, ".node-client-*")
	if err != nil {
		return fmt.Errorf("store certificate: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(data)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(tmp, filepath.Join(m.cfg.Dir, FileName))
	}
	if werr != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("store certificate: %w", werr)
	}
	return nil
}
