package encryption

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"sigs.k8s.io/yaml"
)

// FileName is the EncryptionConfiguration file in a master's PKI directory.
const FileName = "encryption-config.yaml"

// Resource is the only resource orch encrypts.
const Resource = "secrets"

// keyBytes is the length of a new key: AES-256 (and secretbox's 32 bytes).
const keyBytes = 32

// ReadFile reads and decodes an EncryptionConfiguration file (its checks
// are those of Load; this only reads it for editing).
func ReadFile(path string) (*apiserverv1.EncryptionConfiguration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the encryption configuration: %w", err)
	}
	cfg, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("encryption configuration %s: %w", path, err)
	}
	return cfg, nil
}

// decode reads an EncryptionConfiguration strictly: an unknown field is an
// error, never ignored.
func decode(b []byte) (*apiserverv1.EncryptionConfiguration, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("the file is empty")
	}
	var cfg apiserverv1.EncryptionConfiguration
	if err := yaml.UnmarshalStrict(b, &cfg); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if cfg.Kind != "EncryptionConfiguration" || cfg.APIVersion != apiserverv1.SchemeGroupVersion.String() {
		return nil, fmt.Errorf("kind %q, apiVersion %q: want EncryptionConfiguration, %s", cfg.Kind, cfg.APIVersion, apiserverv1.SchemeGroupVersion)
	}
	return &cfg, nil
}

// WriteFile writes cfg to path atomically (a temporary file renamed over
// it), readable by its owner only, as the other keys of the PKI directory.
func WriteFile(path string, cfg *apiserverv1.EncryptionConfiguration) error {
	cfg.Kind, cfg.APIVersion = "EncryptionConfiguration", apiserverv1.SchemeGroupVersion.String()
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode the encryption configuration: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".encryption-config-*")
	if err != nil {
		return fmt.Errorf("write the encryption configuration: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("write the encryption configuration: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write the encryption configuration: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write the encryption configuration: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write the encryption configuration: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write the encryption configuration: %w", err)
	}
	return nil
}

// NewConfig returns a new cluster's configuration: Secrets encrypted with
// one new AES-GCM key named name, identity last (so Secrets stored in
// clear before encryption was turned on still read).
func NewConfig(name string) (*apiserverv1.EncryptionConfiguration, error) {
	key, err := newKey(name)
	if err != nil {
		return nil, err
	}
	return &apiserverv1.EncryptionConfiguration{Resources: []apiserverv1.ResourceConfiguration{{
		Resources: []string{Resource},
		Providers: []apiserverv1.ProviderConfiguration{
			{AESGCM: &apiserverv1.AESConfiguration{Keys: []apiserverv1.Key{key}}},
			{Identity: &apiserverv1.IdentityConfiguration{}},
		},
	}}}, nil
}

// WriteNew writes a new cluster's configuration (NewConfig with key
// "key1") to dir/FileName; it refuses to overwrite one.
func WriteNew(dir string) error {
	path := filepath.Join(dir, FileName)
	if _, err := os.Stat(path); err == nil {
		return fmt.Errorf("%s exists already", path)
	}
	cfg, err := NewConfig("key1")
	if err != nil {
		return err
	}
	return WriteFile(path, cfg)
}

func newKey(name string) (apiserverv1.Key, error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return apiserverv1.Key{}, fmt.Errorf("new encryption key: %w", err)
	}
	return apiserverv1.Key{Name: name, Secret: base64.StdEncoding.EncodeToString(b)}, nil
}

// secretsConfig returns the resource configuration that covers Secrets.
func secretsConfig(cfg *apiserverv1.EncryptionConfiguration) (*apiserverv1.ResourceConfiguration, error) {
	for i := range cfg.Resources {
		if slices.Contains(cfg.Resources[i].Resources, Resource) {
			return &cfg.Resources[i], nil
		}
	}
	return nil, errors.New("the encryption configuration has no entry for resources: [secrets]")
}

// providerKeys returns the keys of a provider that has keys (aesgcm,
// aescbc, secretbox) and its name, or nil.
func providerKeys(p *apiserverv1.ProviderConfiguration) (*[]apiserverv1.Key, string) {
	switch {
	case p.AESGCM != nil:
		return &p.AESGCM.Keys, "aesgcm"
	case p.AESCBC != nil:
		return &p.AESCBC.Keys, "aescbc"
	case p.Secretbox != nil:
		return &p.Secretbox.Keys, "secretbox"
	}
	return nil, ""
}

// findKey returns the provider index and key index of the key named name.
func findKey(rc *apiserverv1.ResourceConfiguration, name string) (int, int, bool) {
	for i := range rc.Providers {
		keys, _ := providerKeys(&rc.Providers[i])
		if keys == nil {
			continue
		}
		for j, k := range *keys {
			if k.Name == name {
				return i, j, true
			}
		}
	}
	return 0, 0, false
}

// AddKey adds a new random key named name as the second key of the first
// provider with keys (AES-GCM, added first when there is none), as
// Kubernetes' rotation starts: every master must know a key before any
// master encrypts with it.
func AddKey(cfg *apiserverv1.EncryptionConfiguration, name string) error {
	if name == "" {
		return errors.New("a key needs a name")
	}
	rc, err := secretsConfig(cfg)
	if err != nil {
		return err
	}
	if _, _, ok := findKey(rc, name); ok {
		return fmt.Errorf("the encryption configuration has a key named %q already", name)
	}
	key, err := newKey(name)
	if err != nil {
		return err
	}
	for i := range rc.Providers {
		if keys, _ := providerKeys(&rc.Providers[i]); keys != nil {
			*keys = slices.Insert(*keys, min(1, len(*keys)), key)
			return nil
		}
	}
	// No provider with keys (identity only): AES-GCM after identity, so
	// nothing changes until the key is made primary.
	rc.Providers = append(rc.Providers, apiserverv1.ProviderConfiguration{AESGCM: &apiserverv1.AESConfiguration{Keys: []apiserverv1.Key{key}}})
	return nil
}

// UseKey makes the key named name primary: first of its provider, and its
// provider first, so every write encrypts with it.
func UseKey(cfg *apiserverv1.EncryptionConfiguration, name string) error {
	rc, err := secretsConfig(cfg)
	if err != nil {
		return err
	}
	i, j, ok := findKey(rc, name)
	if !ok {
		return fmt.Errorf("the encryption configuration has no key named %q", name)
	}
	keys, _ := providerKeys(&rc.Providers[i])
	k := (*keys)[j]
	*keys = slices.Insert(slices.Delete(*keys, j, j+1), 0, k)
	p := rc.Providers[i]
	rc.Providers = slices.Insert(slices.Delete(rc.Providers, i, i+1), 0, p)
	return nil
}

// RemoveKey removes the key named name; the primary key cannot be removed
// (make another primary first), and a provider left without keys goes.
// Every Secret must have been rewritten with another key before (see
// orchctl secrets reencrypt): one still encrypted with it no longer reads.
func RemoveKey(cfg *apiserverv1.EncryptionConfiguration, name string) error {
	rc, err := secretsConfig(cfg)
	if err != nil {
		return err
	}
	i, j, ok := findKey(rc, name)
	if !ok {
		return fmt.Errorf("the encryption configuration has no key named %q", name)
	}
	if i == 0 && j == 0 {
		return fmt.Errorf("key %q is the primary key: make another key primary first", name)
	}
	keys, _ := providerKeys(&rc.Providers[i])
	*keys = slices.Delete(*keys, j, j+1)
	if len(*keys) == 0 {
		rc.Providers = slices.Delete(rc.Providers, i, i+1)
	}
	return nil
}

// Describe lists the providers for Secrets and their key names in order,
// the primary first ("aesgcm key2 (primary)"), never a key.
func Describe(cfg *apiserverv1.EncryptionConfiguration) []string {
	rc, err := secretsConfig(cfg)
	if err != nil {
		return []string{err.Error()}
	}
	var out []string
	for i := range rc.Providers {
		keys, name := providerKeys(&rc.Providers[i])
		if keys == nil {
			name = "identity"
			if rc.Providers[i].KMS != nil {
				name = "kms"
			}
			line := name
			if i == 0 {
				line += " (primary: stored in clear)"
			}
			out = append(out, line)
			continue
		}
		for j, k := range *keys {
			line := name + " " + k.Name
			if i == 0 && j == 0 {
				line += " (primary)"
			}
			out = append(out, line)
		}
	}
	return out
}
