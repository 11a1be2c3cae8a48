package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Files of the service account token keys. Every master signs tokens with
// sa.key and accepts tokens signed by any key of sa.pub, so all masters
// need the same two files. To rotate: append the new public key to sa.pub
// on every master, then replace sa.key, then (once the old tokens have
// expired) drop the old public key.
const (
	ServiceAccountKey = "sa.key"
	ServiceAccountPub = "sa.pub"
)

// WriteServiceAccountKey makes an ECDSA P-256 key pair in dir: sa.key
// (0600) and sa.pub (0644). It refuses to replace an existing sa.key.
func WriteServiceAccountKey(dir string) error {
	keyPath := filepath.Join(dir, ServiceAccountKey)
	if _, err := os.Stat(keyPath); err == nil {
		return fmt.Errorf("service account key: %s already exists", keyPath)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("generate service account key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return fmt.Errorf("service account key: %w", err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", ServiceAccountKey, err)
	}
	if err := os.WriteFile(filepath.Join(dir, ServiceAccountPub), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", ServiceAccountPub, err)
	}
	return nil
}

// ServiceAccountKeys are the loaded token keys of a master.
type ServiceAccountKeys struct {
	// Signing signs new tokens.
	Signing *ecdsa.PrivateKey
	// Public are the keys tokens are accepted from: every key of sa.pub
	// and the signing key's own.
	Public []crypto.PublicKey
}

// LoadServiceAccountKeys reads sa.key and sa.pub from dir.
func LoadServiceAccountKeys(dir string) (*ServiceAccountKeys, error) {
	raw, err := os.ReadFile(filepath.Join(dir, ServiceAccountKey))
	if err != nil {
		return nil, fmt.Errorf("load service account key: %w (run `orchd pki init`, or copy sa.key and sa.pub from another master)", err)
	}
	signer, err := parsePrivateKey(raw)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", ServiceAccountKey, err)
	}
	key, ok := signer.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, fmt.Errorf("load %s: the key must be ECDSA P-256", ServiceAccountKey)
	}
	keys := &ServiceAccountKeys{Signing: key, Public: []crypto.PublicKey{&key.PublicKey}}
	pubs, err := os.ReadFile(filepath.Join(dir, ServiceAccountPub))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("load %s: %w", ServiceAccountPub, err)
	}
	for rest := pubs; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "PUBLIC KEY" {
			continue
		}
		pub, err := x509.ParsePKIXPublicKey(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", ServiceAccountPub, err)
		}
		ec, ok := pub.(*ecdsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("load %s: a %T is not an ECDSA public key", ServiceAccountPub, pub)
		}
		if !ec.Equal(&key.PublicKey) {
			keys.Public = append(keys.Public, ec)
		}
	}
	return keys, nil
}
