package gossip

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestKeyringFileRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, KeyringFileName)
	if keys, err := LoadKeyring(path); err != nil || keys != nil {
		t.Fatalf("missing file: %v, %v; want nil, nil", keys, err)
	}
	k1, k2 := bytes.Repeat([]byte{1}, KeySize), bytes.Repeat([]byte{2}, KeySize)
	if err := SaveKeyring(path, [][]byte{k2, k1}); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", st.Mode().Perm())
	}
	keys, err := LoadKeyring(path)
	if err != nil || len(keys) != 2 || !bytes.Equal(keys[0], k2) || !bytes.Equal(keys[1], k1) {
		t.Fatalf("load: %v, %v", keys, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
}

func TestLoadKeyringRefusesBadFiles(t *testing.T) {
	good := EncodeKey(bytes.Repeat([]byte{1}, KeySize))
	tests := map[string]string{
		"not json":     "{",
		"empty list":   "[]",
		"not base64":   `["***"]`,
		"short key":    `["` + EncodeKey([]byte("short")) + `"]`,
		"listed twice": `["` + good + `","` + good + `"]`,
	}
	for name, content := range tests {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), KeyringFileName)
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if keys, err := LoadKeyring(path); err == nil || !strings.Contains(err.Error(), path) {
				t.Fatalf("load %q: %v, %v; want an error naming the file", content, keys, err)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	k := bytes.Repeat([]byte{7}, KeySize)
	if got, err := ParseKey(" " + EncodeKey(k) + "\n"); err != nil || !slices.Equal(got, k) {
		t.Fatalf("parse: %v, %v", got, err)
	}
	for _, bad := range []string{"", "!!", EncodeKey(k[:16])} {
		if _, err := ParseKey(bad); err == nil {
			t.Fatalf("ParseKey(%q) accepted", bad)
		}
	}
}
