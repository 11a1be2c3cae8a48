// Package pki creates and loads a cluster's credentials: a CA, one
// certificate per master (serving the API and the Raft transport, and
// identifying the master to the others by its name, and to node agents),
// the admin bearer token, one client certificate per node, and admin.conf
// for orchctl.
//
// Layout of a PKI directory:
//
//	ca.crt ca.key                    cluster root CA (ECDSA P-256, 10 years)
//	master-NAME.crt master-NAME.key  master NAME's certificate (CN and DNS name NAME, O orch:masters)
//	signer.crt signer.key            optional intermediate CA for client certificates (IssueSigner)
//	admin.token                      the admin bearer token (256 bits, hex)
//	gossip.key                       the gossip pool's AES-256 key (32 bytes, base64)
//	sa.key sa.pub                    service account token keys (ECDSA P-256; the same on every master)
//	admin.conf                       orchctl config (servers, CA path, admin token)
//	admin.kubeconfig                 the same admin as a kubeconfig (written by orchd pki init)
//	encryption-config.yaml           the keys Secrets are encrypted with (package encryption; written by orchd pki init)
//
// A master loads the directory with its name (LoadMaster) and needs no
// ca.key: the root key can stay offline, used only by IssueMaster,
// RenewMaster, IssueSigner and IssueNode. A node needs ca.crt, gossip.key
// and its own client certificate (CN=system:node:<name>, O=system:nodes):
// bootstrapped from a token and kept in its state directory, or issued
// offline by IssueNode into node.crt and node.key.
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
	"os"
	"path/filepath"
	"strings"
	"time"
)

// MasterOrganization marks master certificates.
const MasterOrganization = "orch:masters"

// File names inside a PKI directory.
const (
	CACert     = "ca.crt"
	CAKey      = "ca.key"
	AdminToken = "admin.token"
	GossipKey  = "gossip.key"
	// NodeCert and NodeKey are a node's client certificate and key.
	NodeCert  = "node.crt"
	NodeKey   = "node.key"
	AdminConf = "admin.conf"
	// AdminKubeconfig is the admin's kubeconfig, beside AdminConf.
	AdminKubeconfig = "admin.kubeconfig"
)

// GossipKeySize is the size of the gossip key (AES-256).
const GossipKeySize = 32

// InitOptions says what Init creates.
type InitOptions struct {
	// Dir is the PKI directory; it must not already hold a CA.
	Dir string
	// Hosts are the IPs and DNS names the master certificates are valid for.
	Hosts []string
	// Masters are the names of the masters to issue a certificate for
	// (IssueMaster); more can be issued later.
	Masters []string
	// Validity of the master certificates (default 1 year).
	Validity time.Duration
}

// Init creates a CA, a certificate for each of opts.Masters and the admin
// token in opts.Dir. It refuses to overwrite an existing CA.
func Init(opts InitOptions) error {
	if len(opts.Hosts) == 0 {
		return errors.New("pki init: at least one host is required")
	}
	for _, name := range opts.Masters {
		if err := ValidateMasterName(name); err != nil {
			return fmt.Errorf("pki init: %w", err)
		}
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
	files := []struct {
		name string
		typ  string
		der  []byte
		key  *ecdsa.PrivateKey
	}{{CACert, "CERTIFICATE", caDER, nil}, {CAKey, "", nil, caKey}}
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
	ca := &rootCA{cert: caCert, key: caKey}
	for _, name := range opts.Masters {
		if err := ca.issueMaster(opts.Dir, name, opts.Hosts, opts.Validity, now); err != nil {
			return fmt.Errorf("pki init: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(opts.Dir, AdminToken), []byte(newToken()+"\n"), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", AdminToken, err)
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
	Dir    string
	CAPEM  []byte
	CAPool *x509.CertPool
	// Name is the master the bundle was loaded for (LoadMaster), else empty.
	Name string
	// Master is the master's certificate and key, reloaded when renewed
	// (nil unless loaded with LoadMaster).
	Master     *KeyPairFiles
	AdminToken string
	// GossipKey encrypts the gossip pool (GossipKeySize bytes).
	GossipKey []byte
}

// LoadMaster reads a PKI directory for master name: Load, and the master's
// own certificate and key (MasterCertFile, MasterKeyFile), which it needs.
func LoadMaster(dir, name string) (*Bundle, error) {
	b, err := Load(dir)
	if err != nil {
		return nil, err
	}
	certPath, keyPath := filepath.Join(dir, MasterCertFile(name)), filepath.Join(dir, MasterKeyFile(name))
	if b.Master, err = NewKeyPairFiles(certPath, keyPath); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("load master certificate: %w (issue one where the CA key is kept: `orchd pki issue master %s --dir DIR --hosts IP,...`)", err, name)
		}
		return nil, fmt.Errorf("load master certificate: %w", err)
	}
	leaf := b.Master.Leaf()
	if _, err := VerifyMasterCertificate(b.CAPool, []*x509.Certificate{leaf}); err != nil {
		return nil, fmt.Errorf("load master certificate %s: %w", certPath, err)
	}
	if leaf.Subject.CommonName != name {
		return nil, fmt.Errorf("load master certificate %s: it names master %q, not %q", certPath, leaf.Subject.CommonName, name)
	}
	b.Name = name
	return b, nil
}

// Load reads the shared part of a PKI directory: the CA certificate, the
// tokens and the gossip key (no master certificate: see LoadMaster).
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
	if raw, err := os.ReadFile(filepath.Join(dir, AdminToken)); err == nil {
		b.AdminToken = strings.TrimSpace(string(raw))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load %s: %w", AdminToken, err)
	}
	if b.GossipKey, err = loadGossipKey(dir); err != nil {
		return nil, err
	}
	return b, nil
}

// NodeBundle is what a node loads besides its own client certificate: the
// CA it verifies masters with and the gossip key.
type NodeBundle struct {
	// CAPool holds the cluster CA, to verify the masters' API certificate.
	CAPool *x509.CertPool
	// CACertPEM is ca.crt as read.
	CACertPEM []byte
	// GossipKey encrypts the gossip pool (GossipKeySize bytes).
	GossipKey []byte
}

// LoadNode reads ca.crt and gossip.key from dir, both required. The node's
// own certificate (node.crt, node.key) is read by the API client on every
// connection, so that a renewed one is used without a restart.
func LoadNode(dir string) (*NodeBundle, error) {
	nb := &NodeBundle{}
	var err error
	if nb.CACertPEM, err = os.ReadFile(filepath.Join(dir, CACert)); err != nil {
		return nil, fmt.Errorf("load node credentials: %w (make the node's directory with `orchd pki issue node NAME`)", err)
	}
	nb.CAPool = x509.NewCertPool()
	if !nb.CAPool.AppendCertsFromPEM(nb.CACertPEM) {
		return nil, fmt.Errorf("load node credentials: %s holds no PEM certificate", filepath.Join(dir, CACert))
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

// APIServerTLS serves the API: the master certificate (reloaded when
// renewed), and client certificates requested (not required): masters,
// nodes and users authenticate with them.
func (b *Bundle) APIServerTLS() (*tls.Config, error) {
	if b.Master == nil {
		return nil, fmt.Errorf("no master certificate loaded from %s", b.Dir)
	}
	c := SecureTLSConfig()
	c.GetCertificate = b.Master.GetCertificate
	c.ClientCAs = b.CAPool
	c.ClientAuth = tls.VerifyClientCertIfGiven
	return c, nil
}

// PeerServerTLS serves the Raft transport: only masters may connect
// (VerifyMasterCertificate; which names may is the cluster's to check).
func (b *Bundle) PeerServerTLS() (*tls.Config, error) {
	c, err := b.APIServerTLS()
	if err != nil {
		return nil, err
	}
	// Verified by VerifyConnection, without the intermediates the peer sends.
	c.ClientAuth = tls.RequireAnyClientCert
	c.VerifyConnection = b.verifyMasterConn
	return c, nil
}

// PeerClientTLS dials other masters, presenting the master certificate
// and accepting only a master certificate (VerifyMasterCertificate; which
// master it must be is the cluster's to check per dial).
func (b *Bundle) PeerClientTLS() (*tls.Config, error) {
	if b.Master == nil {
		return nil, fmt.Errorf("no master certificate loaded from %s", b.Dir)
	}
	c := SecureTLSConfig()
	c.RootCAs = b.CAPool
	c.GetClientCertificate = b.Master.GetClientCertificate
	// The chain and the name are verified by VerifyConnection instead of
	// against the dialed host: a master is known by its name.
	c.InsecureSkipVerify = true //nolint:gosec // VerifyConnection verifies.
	c.VerifyConnection = b.verifyMasterConn
	return c, nil
}

func (b *Bundle) verifyMasterConn(cs tls.ConnectionState) error {
	_, err := VerifyMasterCertificate(b.CAPool, cs.PeerCertificates)
	return err
}
