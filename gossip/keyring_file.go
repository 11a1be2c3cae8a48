package gossip

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeyringFileName is the name each member gives its keyring file inside
// its state directory (a master's --data-dir, a node's --state-dir).
const KeyringFileName = "gossip.keyring"

// ParseKey decodes a gossip key: base64 (standard encoding) of KeySize bytes.
func ParseKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("gossip key is not base64: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("gossip key is %d bytes, want %d", len(key), KeySize)
	}
	return key, nil
}

// EncodeKey is the base64 form of a key, as ParseKey reads it.
func EncodeKey(key []byte) string { return base64.StdEncoding.EncodeToString(key) }

// LoadKeyring reads a keyring file written by SaveKeyring: a JSON array of
// base64 keys, the primary (encrypting) key first, as Serf's keyring file.
// A missing file gives (nil, nil): the caller falls back to pki's gossip.key.
func LoadKeyring(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load gossip keyring: %w", err)
	}
	var encoded []string
	if err := json.Unmarshal(b, &encoded); err != nil {
		return nil, fmt.Errorf("load gossip keyring %s: %w", path, err)
	}
	if len(encoded) == 0 {
		return nil, fmt.Errorf("load gossip keyring %s: no key", path)
	}
	keys := make([][]byte, 0, len(encoded))
	for i, s := range encoded {
		k, err := ParseKey(s)
		if err != nil {
			return nil, fmt.Errorf("load gossip keyring %s: key %d: %w", path, i, err)
		}
		for _, have := range keys {
			if bytes.Equal(have, k) {
				return nil, fmt.Errorf("load gossip keyring %s: key %d is listed twice", path, i)
			}
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// SaveKeyring writes keys (primary first) to path, mode 0600, replacing the
// file atomically so a crash leaves the old keyring or the new one.
func SaveKeyring(path string, keys [][]byte) error {
	if len(keys) == 0 {
		return errors.New("save gossip keyring: no key")
	}
	encoded := make([]string, len(keys))
	for i, k := range keys {
		encoded[i] = EncodeKey(k)
	}
	b, err := json.MarshalIndent(encoded, "", "  ")
	if err != nil {
		return fmt.Errorf("save gossip keyring: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("save gossip keyring: %w", err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("save gossip keyring: %w", err)
	}
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save gossip keyring: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save gossip keyring: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save gossip keyring: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save gossip keyring: %w", err)
	}
	return nil
}
