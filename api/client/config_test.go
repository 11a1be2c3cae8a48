package client

import (
	"bytes"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestConfigSaveLoad(t *testing.T) {
	s := httptest.NewTLSServer(http.NotFoundHandler())
	defer s.Close()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "admin.conf")
	in := &Config{Servers: []string{"https://127.0.0.1:6443", "https://127.0.0.1:6444"},
		CertificateAuthorityData: caPEM, Token: "abc"}
	if err := in.Save(path); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", st.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	for _, want := range []string{"apiVersion: orch.io/v1", "kind: Config", "certificateAuthorityData:", "token: abc"} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("file lacks %q:\n%s", want, raw)
		}
	}
	out, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Servers) != 2 || out.Token != "abc" || !bytes.Equal(out.CertificateAuthorityData, caPEM) {
		t.Fatalf("loaded %+v", out)
	}
	if _, err := New(out); err != nil {
		t.Fatalf("New from loaded config: %v", err)
	}
}

func TestConfigRelativeCAPath(t *testing.T) {
	s := httptest.NewTLSServer(http.NotFoundHandler())
	defer s.Close()
	dir := t.TempDir()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	conf := "apiVersion: orch.io/v1\nkind: Config\nservers: [\"" + s.URL + "\"]\ncertificateAuthority: ca.crt\ntoken: t\n"
	path := filepath.Join(dir, "admin.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.CertificateAuthority != filepath.Join(dir, "ca.crt") {
		t.Fatalf("CA path = %q", cfg.CertificateAuthority)
	}
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	s := httptest.NewTLSServer(http.NotFoundHandler())
	defer s.Close()
	good := testConfig(t, s, s.URL)
	tests := map[string]func(c *Config){
		"no servers":   func(c *Config) { c.Servers = nil },
		"plain http":   func(c *Config) { c.Servers = []string{"http://127.0.0.1:6443"} },
		"no CA":        func(c *Config) { c.CertificateAuthorityData = nil },
		"bad CA":       func(c *Config) { c.CertificateAuthorityData = []byte("not pem") },
		"missing file": func(c *Config) { c.CertificateAuthorityData = nil; c.CertificateAuthority = "/nonexistent/ca.crt" },
	}
	for name, mutate := range tests {
		t.Run(name, func(t *testing.T) {
			c := *good
			mutate(&c)
			if _, err := New(&c); err == nil {
				t.Fatal("New accepted a bad config")
			}
		})
	}
}
