package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// CA is a certificate authority that can sign: the cluster CA, or an
// intermediate signer for client certificates.
type CA struct {
	// Cert is the CA's certificate; CertPEM the same, PEM-encoded.
	Cert    *x509.Certificate
	CertPEM []byte
	// Key signs.
	Key crypto.Signer
}

// LoadCA reads a CA's certificate and key from PEM files.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	block, _ := pem.Decode(certPEM)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("load CA: %s holds no PEM certificate", certFile)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("load CA %s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("load CA: %s is not a CA certificate", certFile)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	key, err := parsePrivateKey(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("load CA key %s: %w", keyFile, err)
	}
	return &CA{Cert: cert, CertPEM: certPEM, Key: key}, nil
}

// LoadClusterCA reads the cluster CA (ca.crt, ca.key) of a PKI directory.
func LoadClusterCA(dir string) (*CA, error) {
	return LoadCA(filepath.Join(dir, CACert), filepath.Join(dir, CAKey))
}

func parsePrivateKey(keyPEM []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	switch block.Type {
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(block.Bytes)
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("key of type %T cannot sign", k)
		}
		return s, nil
	}
	return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
}

// ClientCertificate says what SignClient puts in a client certificate.
type ClientCertificate struct {
	// CommonName is the user (system:node:<name> for a node).
	CommonName string
	// Organizations are the groups (system:nodes for a node).
	Organizations []string
	// Validity is how long the certificate is valid from now.
	Validity time.Duration
}

// SignClient issues a client-auth certificate for pub. It never issues a
// certificate in the masters' organization: a client certificate must
// not pass for a master.
func (ca *CA) SignClient(pub crypto.PublicKey, spec ClientCertificate, now time.Time) ([]byte, error) {
	if spec.CommonName == "" {
		return nil, errors.New("sign client certificate: a common name is required")
	}
	if slices.Contains(spec.Organizations, MasterOrganization) {
		return nil, fmt.Errorf("sign client certificate: organization %q is reserved for master certificates", MasterOrganization)
	}
	if spec.Validity <= 0 {
		return nil, errors.New("sign client certificate: the validity must be positive")
	}
	notAfter := now.Add(spec.Validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: spec.CommonName, Organization: spec.Organizations},
		NotBefore:    now.Add(-5 * time.Minute), // clock skew between masters and clients
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("sign client certificate for %s: %w", spec.CommonName, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

// NewClientKeyPair makes a new P-256 key and a client certificate for it
// signed by ca: the certificate and key, PEM-encoded.
func (ca *CA) NewClientKeyPair(spec ClientCertificate, now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate client key: %w", err)
	}
	certPEM, err = ca.SignClient(&key.PublicKey, spec, now)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return certPEM, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}
