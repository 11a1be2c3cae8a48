// Package pki creates and loads a cluster's credentials: a CA, the master
// certificate (serving the API and the Raft transport, and identifying
// masters to each other), the admin and node bearer tokens, and admin.conf
// for orchctl.
//
// Layout of a PKI directory:
//
//	ca.crt ca.key           cluster CA (ECDSA P-256, 10 years)
//	master.crt master.key   master certificate (server and client auth)
//	admin.token node.token  bearer tokens (256 bits, hex)
//	gossip.key              the gossip pool's AES-256 key (32 bytes, base64)
//	sa.key sa.pub           service account token keys (ECDSA P-256; same on every master)
//	admin.conf              orchctl config (servers, CA path, admin token)
//
// Masters load the whole directory (Load). A node needs only ca.crt,
// node.token and gossip.key (LoadNode), so those three are what an operator
// copies to a node.
package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// MasterOrganization marks master certificates (same as cluster.MasterOrganization).
const MasterOrganization = "orch:masters"

// File names inside a PKI directory.
const (
	CACert     = "ca.crt"
	CAKey      = "ca.key"
	MasterCert = "master.crt"
	MasterKey  = "master.key"
	AdminToken = "admin.token"
	NodeToken  = "node.token"
	GossipKey  = "gossip.key"
	AdminConf  = "admin.conf"
)

// GossipKeySize is the size of the gossip key (AES-256).
const GossipKeySize = 32

// InitOptions says what Init creates.
type InitOptions struct {
	// Dir is the PKI directory; it must not already hold a CA.
	Dir string
	// Hosts are the IPs and DNS names the master certificate is valid for.
	Hosts []string
	// Validity of the master certificate (default 1 year).
	Validity time.Duration
}

// Init creates a CA, a master certificate and the tokens in opts.Dir.
// It refuses to overwrite an existing CA.
func Init(opts InitOptions) error {
	if len(opts.Hosts) == 0 {
		return errors.New("pki init: at least one host is required")
	}
	if opts.Validity == 0 {
		opts.Validity = 365 * 24 * time.Hour
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return fmt.Errorf("pki init: %w", err)
	}
	if _, err := os.Stat(filepath.Join(opts.Dir, CACert)); err == nil {
		return fmt.Errorf("pki init: %s already holds a CA; use a new directory", opts.Dir)
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate CA key: %w", err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "orch-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("create CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	mKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate master key: %w", err)
	}
	mTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "orch-master", Organization: []string{MasterOrganization}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(opts.Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
	}
	for _, h := range opts.Hosts {
		h = strings.TrimSpace(h)
		if ip := net.ParseIP(h); ip != nil {
			mTmpl.IPAddresses = append(mTmpl.IPAddresses, ip)
		} else if h != "" {
			mTmpl.DNSNames = append(mTmpl.DNSNames, h)
		}
	}
	mDER, err := x509.CreateCertificate(rand.Reader, mTmpl, caCert, &mKey.PublicKey, caKey)
	if err != nil {
		return fmt.Errorf("create master certificate: %w", err)
	}
	files := []struct {
		name string
		typ  string
		der  []byte
		key  *ecdsa.PrivateKey
	}{{CACert, "CERTIFICATE", caDER, nil}, {CAKey, "", nil, caKey}, {MasterCert, "CERTIFICATE", mDER, nil}, {MasterKey, "", nil, mKey}}
	for _, f := range files {
		var b []byte
		if f.key != nil {
			der, err := x509.MarshalECPrivateKey(f.key)
			if err != nil {
				return err
			}
			b = pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
		} else {
			b = pem.EncodeToMemory(&pem.Block{Type: f.typ, Bytes: f.der})
		}
		if err := os.WriteFile(filepath.Join(opts.Dir, f.name), b, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", f.name, err)
		}
	}
	for _, name := range []string{AdminToken, NodeToken} {
		if err := os.WriteFile(filepath.Join(opts.Dir, name), []byte(newToken()+"\n"), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", name, err)
		}
	}
	key := make([]byte, GossipKeySize)
	if _, err := rand.Read(key); err != nil {
		return fmt.Errorf("generate gossip key: %w", err)
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, GossipKey), []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", GossipKey, err)
	}
	return WriteServiceAccountKey(opts.Dir)
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func newToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Bundle is a loaded PKI directory.
type Bundle struct {
	Dir        string
	CAPEM      []byte
	CAPool     *x509.CertPool
	Master     *tls.Certificate
	AdminToken string
	NodeToken  string
	// GossipKey encrypts the gossip pool (GossipKeySize bytes).
	GossipKey []byte
}

// Load reads a PKI directory. The master certificate is optional (nodes have none).
func Load(dir string) (*Bundle, error) {
	b := &Bundle{Dir: dir}
	var err error
	if b.CAPEM, err = os.ReadFile(filepath.Join(dir, CACert)); err != nil {
		return nil, fmt.Errorf("load pki: %w (run `orchd pki init --dir %s` first)", err, dir)
	}
	b.CAPool = x509.NewCertPool()
	if !b.CAPool.AppendCertsFromPEM(b.CAPEM) {
		return nil, fmt.Errorf("load pki: %s holds no PEM certificate", filepath.Join(dir, CACert))
	}
	if c, err := tls.LoadX509KeyPair(filepath.Join(dir, MasterCert), filepath.Join(dir, MasterKey)); err == nil {
		b.Master = &c
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load master certificate: %w", err)
	}
	for _, t := range []struct {
		name string
		dst  *string
	}{{AdminToken, &b.AdminToken}, {NodeToken, &b.NodeToken}} {
		raw, err := os.ReadFile(filepath.Join(dir, t.name))
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, fmt.Errorf("load %s: %w", t.name, err)
		}
		*t.dst = strings.TrimSpace(string(raw))
	}
	if b.GossipKey, err = loadGossipKey(dir); err != nil {
		return nil, err
	}
	return b, nil
}

// NodeBundle is what a node loads: the CA it verifies masters with, its
// bearer token and the gossip key.
type NodeBundle struct {
	// CAPool holds the cluster CA, to verify the masters' API certificate.
	CAPool *x509.CertPool
	// CACertPEM is ca.crt as read.
	CACertPEM []byte
	// NodeToken is the bearer token nodes present to the API.
	NodeToken string
	// GossipKey encrypts the gossip pool (GossipKeySize bytes).
	GossipKey []byte
}

// LoadNode reads the credentials a node needs from dir: ca.crt, node.token
// and gossip.key, all required; no other file needs to be present.
func LoadNode(dir string) (*NodeBundle, error) {
	nb := &NodeBundle{}
	var err error
	if nb.CACertPEM, err = os.ReadFile(filepath.Join(dir, CACert)); err != nil {
		return nil, fmt.Errorf("load node credentials: %w (copy %s, %s and %s from the masters' pki directory)", err, CACert, NodeToken, GossipKey)
	}
	nb.CAPool = x509.NewCertPool()
	if !nb.CAPool.AppendCertsFromPEM(nb.CACertPEM) {
		return nil, fmt.Errorf("load node credentials: %s holds no PEM certificate", filepath.Join(dir, CACert))
	}
	raw, err := os.ReadFile(filepath.Join(dir, NodeToken))
	if err != nil {
		return nil, fmt.Errorf("load node credentials: %w", err)
	}
	if nb.NodeToken = strings.TrimSpace(string(raw)); nb.NodeToken == "" {
		return nil, fmt.Errorf("load node credentials: %s is empty", filepath.Join(dir, NodeToken))
	}
	if nb.GossipKey, err = loadGossipKey(dir); err != nil {
		return nil, err
	}
	return nb, nil
}

// loadGossipKey reads and checks dir/gossip.key. A directory made before
// gossip encryption lacks it: the error says how to add one. Load does not
// generate it, because every master and node must hold the same key and
// each may read its own copy of the directory.
func loadGossipKey(dir string) ([]byte, error) {
	path := filepath.Join(dir, GossipKey)
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load gossip key: %s does not exist (the pki directory predates gossip encryption): "+
			"create it once with `head -c %d /dev/urandom | base64 > %s && chmod 600 %s` and copy it to every master and node, "+
			"or run `orchd pki init` again in a new directory", path, GossipKeySize, path, path)
	}
	if err != nil {
		return nil, fmt.Errorf("load gossip key: %w", err)
	}
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		return nil, fmt.Errorf("load gossip key %s: not base64: %w", path, err)
	}
	if len(key) != GossipKeySize {
		return nil, fmt.Errorf("load gossip key %s: %d bytes, want %d", path, len(key), GossipKeySize)
	}
	return key, nil
}

// APIServerTLS serves the API: the master certificate, and client
// certificates requested (not required) so masters can identify each other.
func (b *Bundle) APIServerTLS() (*tls.Config, error) {
	if b.Master == nil {
		return nil, fmt.Errorf("no master certificate in %s", b.Dir)
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{*b.Master},
		ClientCAs:    b.CAPool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
	}, nil
}

// PeerServerTLS serves the Raft transport: only masters may connect.
func (b *Bundle) PeerServerTLS() (*tls.Config, error) {
	c, err := b.APIServerTLS()
	if err != nil {
		return nil, err
	}
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.VerifyPeerCertificate = requireMasterOrg
	return c, nil
}

// PeerClientTLS dials other masters, presenting the master certificate.
func (b *Bundle) PeerClientTLS() (*tls.Config, error) {
	if b.Master == nil {
		return nil, fmt.Errorf("no master certificate in %s", b.Dir)
	}
	return &tls.Config{
		MinVersion:            tls.VersionTLS12,
		RootCAs:               b.CAPool,
		Certificates:          []tls.Certificate{*b.Master},
		VerifyPeerCertificate: requireMasterOrg,
	}, nil
}

func requireMasterOrg(_ [][]byte, chains [][]*x509.Certificate) error {
	if len(chains) == 0 || len(chains[0]) == 0 {
		return errors.New("no verified certificate chain")
	}
	if !slices.Contains(chains[0][0].Subject.Organization, MasterOrganization) {
		return fmt.Errorf("peer certificate %q is not a master certificate", chains[0][0].Subject.CommonName)
	}
	return nil
}
