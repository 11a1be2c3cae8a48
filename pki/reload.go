package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"
)

// KeyPairFiles serves a certificate and its key from two files and reloads
// them when either changes on disk, as Kubernetes components reload their
// serving certificates (k8s.io/apiserver's dynamiccertificates): a
// renewed certificate is used from the next TLS handshake on, without a
// restart. Each handshake stats the two files (no clock, no goroutine);
// a pair that does not load (half written, key and certificate not
// matching) leaves the current one in use and is tried again next time.
type KeyPairFiles struct {
	certPath, keyPath string

	mu       sync.Mutex
	cur      *tls.Certificate
	certInfo os.FileInfo
	keyInfo  os.FileInfo
}

// NewKeyPairFiles loads the pair; it fails if it does not load now.
func NewKeyPairFiles(certPath, keyPath string) (*KeyPairFiles, error) {
	k := &KeyPairFiles{certPath: certPath, keyPath: keyPath}
	ci, ki, err := k.stat()
	if err != nil {
		return nil, err
	}
	if err := k.load(ci, ki); err != nil {
		return nil, err
	}
	return k, nil
}

func (k *KeyPairFiles) stat() (os.FileInfo, os.FileInfo, error) {
	ci, err := os.Stat(k.certPath)
	if err != nil {
		return nil, nil, err
	}
	ki, err := os.Stat(k.keyPath)
	if err != nil {
		return nil, nil, err
	}
	return ci, ki, nil
}

func (k *KeyPairFiles) load(ci, ki os.FileInfo) error {
	c, err := tls.LoadX509KeyPair(k.certPath, k.keyPath)
	if err != nil {
		return fmt.Errorf("load %s: %w", k.certPath, err)
	}
	if c.Leaf == nil { // GODEBUG x509keypairleaf=0
		if c.Leaf, err = x509.ParseCertificate(c.Certificate[0]); err != nil {
			return fmt.Errorf("load %s: %w", k.certPath, err)
		}
	}
	// Load the files again if they changed while being read.
	if ci2, ki2, err := k.stat(); err != nil || !sameFile(ci, ci2) || !sameFile(ki, ki2) {
		return fmt.Errorf("load %s: changed while being read", k.certPath)
	}
	k.cur, k.certInfo, k.keyInfo = &c, ci, ki
	return nil
}

func sameFile(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

// Current returns the pair, reloaded first if a file changed.
func (k *KeyPairFiles) Current() *tls.Certificate {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ci, ki, err := k.stat(); err == nil && (!sameFile(ci, k.certInfo) || !sameFile(ki, k.keyInfo)) {
		_ = k.load(ci, ki) // on failure the current pair stays in use
	}
	return k.cur
}

// Leaf returns the current certificate, parsed.
func (k *KeyPairFiles) Leaf() *x509.Certificate { return k.Current().Leaf }

// GetCertificate implements tls.Config.GetCertificate.
func (k *KeyPairFiles) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return k.Current(), nil
}

// GetClientCertificate implements tls.Config.GetClientCertificate.
func (k *KeyPairFiles) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return k.Current(), nil
}
