package pki

import (
	"crypto/ecdsa"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestServiceAccountKeys(t *testing.T) {
	dir := initDir(t) // pki init makes sa.key and sa.pub
	for name, mode := range map[string]os.FileMode{ServiceAccountKey: 0o600, ServiceAccountPub: 0o644} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil || st.Mode().Perm() != mode {
			t.Fatalf("%s: %v %v, want mode %v", name, err, st, mode)
		}
	}
	keys, err := LoadServiceAccountKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys.Public) != 1 || !keys.Public[0].(*ecdsa.PublicKey).Equal(&keys.Signing.PublicKey) {
		t.Fatalf("public keys %v, want the signing key's only", keys.Public)
	}
	if err := WriteServiceAccountKey(dir); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("replacing sa.key: %v", err)
	}

	// Rotation: the next key's public half is appended to sa.pub, then
	// sa.key is replaced; both keys verify.
	next := t.TempDir()
	if err := WriteServiceAccountKey(next); err != nil {
		t.Fatal(err)
	}
	oldPub, _ := os.ReadFile(filepath.Join(dir, ServiceAccountPub))
	newPub, _ := os.ReadFile(filepath.Join(next, ServiceAccountPub))
	newKey, _ := os.ReadFile(filepath.Join(next, ServiceAccountKey))
	os.WriteFile(filepath.Join(dir, ServiceAccountPub), append(oldPub, newPub...), 0o644)
	os.WriteFile(filepath.Join(dir, ServiceAccountKey), newKey, 0o600)
	rotated, err := LoadServiceAccountKeys(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(rotated.Public) != 2 || rotated.Signing.Equal(keys.Signing) || !rotated.Public[1].(*ecdsa.PublicKey).Equal(&keys.Signing.PublicKey) {
		t.Fatalf("after rotation: %d public keys", len(rotated.Public))
	}

	// Errors: no key, a key that is not P-256 ECDSA.
	if _, err := LoadServiceAccountKeys(t.TempDir()); err == nil {
		t.Error("a directory without sa.key loaded")
	}
	os.WriteFile(filepath.Join(dir, ServiceAccountKey), []byte("junk"), 0o600)
	if _, err := LoadServiceAccountKeys(dir); err == nil {
		t.Error("a junk sa.key loaded")
	}
}
