package pki

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func initDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := Init(InitOptions{Dir: dir, Hosts: []string{"127.0.0.1", "master.example"}, Masters: []string{"m1", "m2"}}); err != nil {
		t.Fatalf("init: %v", err)
	}
	return dir
}

func TestInitWritesGossipKeyAndLoadReadsIt(t *testing.T) {
	dir := initDir(t)
	fi, err := os.Stat(filepath.Join(dir, GossipKey))
	if err != nil {
		t.Fatalf("stat gossip.key: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Fatalf("gossip.key mode %v, want 0600", mode)
	}
	raw, err := os.ReadFile(filepath.Join(dir, GossipKey))
	if err != nil {
		t.Fatal(err)
	}
	want, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(want) != GossipKeySize {
		t.Fatalf("gossip.key holds %q: %d bytes, err %v; want %d base64-encoded bytes", raw, len(want), err, GossipKeySize)
	}
	b, err := LoadMaster(dir, "m1")
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if !bytes.Equal(b.GossipKey, want) {
		t.Fatalf("Bundle.GossipKey %x, want %x", b.GossipKey, want)
	}
	if b.Master == nil || b.AdminToken == "" {
		t.Fatalf("bundle incomplete: master %v admin %q", b.Master != nil, b.AdminToken)
	}
	if _, err := os.Stat(filepath.Join(dir, "node.token")); !os.IsNotExist(err) {
		t.Fatalf("init wrote a shared node token (stat: %v)", err)
	}

	other := initDir(t)
	ob, err := Load(other)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(ob.GossipKey, b.GossipKey) {
		t.Fatal("two pki directories share a gossip key")
	}
}

// IssueNode writes a directory a node can use as its --pki-dir: its own
// certificate (system:node:<name> in system:nodes), the CA and the gossip key.
func TestIssueNode(t *testing.T) {
	src := initDir(t)
	out := filepath.Join(t.TempDir(), "n1")
	now := time.Now()
	if err := IssueNode(IssueNodeOptions{Dir: src, Name: "n1", Out: out, Validity: time.Hour}, now); err != nil {
		t.Fatalf("issue: %v", err)
	}
	full, err := Load(src)
	if err != nil {
		t.Fatal(err)
	}
	nb, err := LoadNode(out)
	if err != nil {
		t.Fatalf("load node: %v", err)
	}
	if !bytes.Equal(nb.GossipKey, full.GossipKey) || !bytes.Equal(nb.CACertPEM, full.CAPEM) {
		t.Fatal("node bundle does not match the masters' directory")
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(out, NodeCert), filepath.Join(out, NodeKey))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "system:node:n1" || len(cert.Subject.Organization) != 1 || cert.Subject.Organization[0] != "system:nodes" {
		t.Fatalf("subject %v", cert.Subject)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: full.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if d := cert.NotAfter.Sub(now); d > time.Hour+time.Minute || d < time.Hour-time.Minute {
		t.Fatalf("validity %v, want 1h", d)
	}
	for _, bad := range []string{"", "N1", "a/b", "system:node:x"} {
		if err := IssueNode(IssueNodeOptions{Dir: src, Name: bad, Out: t.TempDir()}, now); err == nil {
			t.Errorf("IssueNode accepted the name %q", bad)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	tests := []struct {
		name    string
		remove  string
		write   map[string]string
		load    func(string) error
		wantErr string
	}{
		{name: "master dir without gossip.key", remove: GossipKey, load: loadFull, wantErr: "orchd pki init"},
		{name: "node dir without gossip.key", remove: GossipKey, load: loadNode, wantErr: "predates gossip encryption"},
		{name: "node dir without ca.crt", remove: CACert, load: loadNode, wantErr: CACert},
		{name: "gossip key not base64", write: map[string]string{GossipKey: "not base64!\n"}, load: loadFull, wantErr: "not base64"},
		{name: "gossip key too short", write: map[string]string{GossipKey: base64.StdEncoding.EncodeToString(make([]byte, 16))}, load: loadNode, wantErr: "16 bytes, want 32"},
		{name: "master without its certificate", load: func(dir string) error { _, err := LoadMaster(dir, "m3"); return err },
			wantErr: "orchd pki issue master m3"},
		{name: "master with another master's certificate", load: func(dir string) error {
			for _, f := range [][2]string{{MasterCertFile("m1"), MasterCertFile("m3")}, {MasterKeyFile("m1"), MasterKeyFile("m3")}} {
				raw, err := os.ReadFile(filepath.Join(dir, f[0]))
				if err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(dir, f[1]), raw, 0o600); err != nil {
					return err
				}
			}
			_, err := LoadMaster(dir, "m3")
			return err
		}, wantErr: `names master "m1", not "m3"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := initDir(t)
			if tt.remove != "" {
				if err := os.Remove(filepath.Join(dir, tt.remove)); err != nil {
					t.Fatal(err)
				}
			}
			for name, content := range tt.write {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := tt.load(dir)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func loadFull(dir string) error { _, err := Load(dir); return err }
func loadNode(dir string) error { _, err := LoadNode(dir); return err }
