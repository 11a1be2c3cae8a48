package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Files of the client-certificate signer, an intermediate CA issued by the
// root (IssueSigner) so that the root key can stay offline.
const (
	SignerCert = "signer.crt"
	SignerKey  = "signer.key"
)

// DefaultMasterValidity is how long a master certificate lives unless told.
const DefaultMasterValidity = 365 * 24 * time.Hour

// DefaultSignerValidity is how long the signer lives unless told.
const DefaultSignerValidity = 5 * 365 * 24 * time.Hour

// MasterCertFile is the file name of master name's certificate in a PKI directory.
func MasterCertFile(name string) string { return "master-" + name + ".crt" }

// MasterKeyFile is the file name of master name's private key in a PKI directory.
func MasterKeyFile(name string) string { return "master-" + name + ".key" }

// dnsSubdomain is RFC 1123's subdomain, as Kubernetes' IsDNS1123Subdomain:
// a master's name goes into its certificate as a DNS name.
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// ValidateMasterName checks that name can name a master: it is the master's
// Raft server ID and its certificate's CommonName and DNS name.
func ValidateMasterName(name string) error {
	if len(name) > 253 || !dnsSubdomain.MatchString(name) {
		return fmt.Errorf("master name %q: a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character", name)
	}
	return nil
}

// IssueMasterOptions says what IssueMaster creates.
type IssueMasterOptions struct {
	// Dir is the PKI directory holding ca.crt and ca.key; the certificate
	// and key are written there as MasterCertFile(Name), MasterKeyFile(Name).
	Dir string
	// Name is the master's name (its Raft server ID).
	Name string
	// Hosts are the IPs and DNS names the master is reached at (its API and
	// Raft addresses); Name is added as a DNS name.
	Hosts []string
	// Validity of the certificate (DefaultMasterValidity if 0).
	Validity time.Duration
}

// IssueMaster creates master opts.Name's certificate and key with the root
// CA of opts.Dir: CommonName and a DNS name = the master's name,
// Organization orch:masters, for server and client authentication. It
// replaces an existing certificate of that master.
func IssueMaster(opts IssueMasterOptions) error {
	if err := ValidateMasterName(opts.Name); err != nil {
		return fmt.Errorf("issue master certificate: %w", err)
	}
	if opts.Validity < 0 {
		return fmt.Errorf("issue master certificate: validity %v is negative", opts.Validity)
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultMasterValidity
	}
	ca, err := loadRootCA(opts.Dir)
	if err != nil {
		return fmt.Errorf("issue master certificate: %w", err)
	}
	return ca.issueMaster(opts.Dir, opts.Name, opts.Hosts, opts.Validity, time.Now())
}

// RenewMaster re-issues master name's certificate in opts.Dir with the same
// subject and names, a new key and validity (DefaultMasterValidity if 0), as
// kubeadm's `certs renew`. A running master picks it up at its next TLS
// handshake (KeyPairFiles).
func RenewMaster(dir, name string, validity time.Duration) error {
	if validity < 0 {
		return fmt.Errorf("renew master certificate: validity %v is negative", validity)
	}
	if validity == 0 {
		validity = DefaultMasterValidity
	}
	old, err := readCert(filepath.Join(dir, MasterCertFile(name)))
	if err != nil {
		return fmt.Errorf("renew master certificate of %q: %w", name, err)
	}
	if old.Subject.CommonName != name || !slices.Contains(old.Subject.Organization, MasterOrganization) {
		return fmt.Errorf("renew master certificate: %s is not master %q's certificate (CN %q, O %q)",
			MasterCertFile(name), name, old.Subject.CommonName, old.Subject.Organization)
	}
	ca, err := loadRootCA(dir)
	if err != nil {
		return fmt.Errorf("renew master certificate: %w", err)
	}
	var hosts []string
	for _, ip := range old.IPAddresses {
		hosts = append(hosts, ip.String())
	}
	hosts = append(hosts, old.DNSNames...)
	return ca.issueMaster(dir, name, hosts, validity, time.Now())
}

// IssueSigner creates signer.crt and signer.key in dir with its root CA: an
// intermediate CA (pathlen 0) that may sign only client certificates
// (ExtKeyUsage ClientAuth), so the root key can live offline while the
// leader signs node and user certificates. Masters refuse peers whose
// certificate it signed: a master certificate comes from the root.
func IssueSigner(dir string, validity time.Duration) error {
	if validity < 0 {
		return fmt.Errorf("issue signer: validity %v is negative", validity)
	}
	if validity == 0 {
		validity = DefaultSignerValidity
	}
	ca, err := loadRootCA(dir)
	if err != nil {
		return fmt.Errorf("issue signer: %w", err)
	}
	now := time.Now()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("issue signer: generate key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "orch-client-signer"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              clampNotAfter(now.Add(validity), ca.cert),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return fmt.Errorf("issue signer: %w", err)
	}
	return writeKeyPair(dir, SignerCert, SignerKey, der, key)
}

// rootCA is a loaded ca.crt and ca.key.
type rootCA struct {
	cert *x509.Certificate
	key  any
}

func loadRootCA(dir string) (*rootCA, error) {
	cert, err := readCert(filepath.Join(dir, CACert))
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(filepath.Join(dir, CAKey))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s is not in %s: run this where the CA key is kept", CAKey, dir)
	}
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(raw)
	if blk == nil {
		return nil, fmt.Errorf("%s holds no PEM block", filepath.Join(dir, CAKey))
	}
	key, err := x509.ParseECPrivateKey(blk.Bytes)
	if err != nil {
		k, err2 := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err2 != nil {
			return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, CAKey), err)
		}
		return &rootCA{cert: cert, key: k}, nil
	}
	return &rootCA{cert: cert, key: key}, nil
}

func (ca *rootCA) issueMaster(dir, name string, hosts []string, validity time.Duration, now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate master key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name, Organization: []string{MasterOrganization}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     clampNotAfter(now.Add(validity), ca.cert),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{name},
	}
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if ip := net.ParseIP(h); ip != nil {
			if !slices.ContainsFunc(tmpl.IPAddresses, ip.Equal) {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			}
		} else if h != "" && !slices.Contains(tmpl.DNSNames, h) {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return fmt.Errorf("create master certificate of %q: %w", name, err)
	}
	return writeKeyPair(dir, MasterCertFile(name), MasterKeyFile(name), der, key)
}

// clampNotAfter keeps a certificate from outliving its issuer.
func clampNotAfter(t time.Time, issuer *x509.Certificate) time.Time {
	if t.After(issuer.NotAfter) {
		return issuer.NotAfter
	}
	return t
}

func readCert(path string) (*x509.Certificate, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(raw)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return c, nil
}

// writeKeyPair writes the key, then the certificate, each to a temporary
// file renamed over the old one, so a reader never sees half a file; a
// reader that sees the new key with the old certificate finds them
// mismatched and keeps what it had until the certificate follows.
func writeKeyPair(dir, certName, keyName string, der []byte, key *ecdsa.PrivateKey) error {
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	if err := writeFileAtomic(filepath.Join(dir, keyName), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})); err != nil {
		return err
	}
	return writeFileAtomic(filepath.Join(dir, certName), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// KubernetesServiceDNSNames are the names of the kubernetes Service that a
// master certificate holds, as kubeadm's apiserver certificate, so that
// in-cluster clients can verify the API by them.
func KubernetesServiceDNSNames() []string {
	return []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"}
}
