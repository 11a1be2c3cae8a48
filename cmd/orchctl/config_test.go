package main

import (
	"bytes"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"orch.io/orch/api/client"
)

// newTestApp builds orchctl's tree for args with environment env, as run
// does, and parses the global flags.
func newTestApp(t *testing.T, env map[string]string, args ...string) *app {
	t.Helper()
	var out bytes.Buffer
	a := &app{ioStreams: newIOStreams(strings.NewReader(""), &out, &out), getenv: func(k string) string { return env[k] }}
	root := newRootCmd(a, args)
	if err := root.ParseFlags(args); err != nil {
		t.Fatalf("flags %q: %v", args, err)
	}
	return a
}

func saveConfig(t *testing.T, path string, servers ...string) {
	t.Helper()
	cfg := &client.Config{Servers: servers, CertificateAuthority: "/ca.crt", Token: "file-token"}
	if err := cfg.Save(path); err != nil {
		t.Fatal(err)
	}
}

func TestLoadConfigPrecedence(t *testing.T) {
	home, other := t.TempDir(), t.TempDir()
	defaultPath := filepath.Join(home, ".orch", "admin.conf")
	envPath := filepath.Join(other, "env.conf")
	flagPath := filepath.Join(other, "flag.conf")
	saveConfig(t, defaultPath, "https://default:6443")
	saveConfig(t, envPath, "https://env:6443")
	saveConfig(t, flagPath, "https://flag:6443")
	wd, _ := os.Getwd()

	tests := []struct {
		name        string
		env         map[string]string
		args        []string
		wantServers string
		wantToken   string
		wantCA      string
	}{
		{"default file", map[string]string{"HOME": home}, nil, "https://default:6443", "file-token", "/ca.crt"},
		{"$ORCHCONFIG", map[string]string{"HOME": home, configEnv: envPath}, nil, "https://env:6443", "file-token", "/ca.crt"},
		{"--config", map[string]string{"HOME": home, configEnv: envPath}, []string{"--config", flagPath}, "https://flag:6443", "file-token", "/ca.crt"},
		{"flags over the file", map[string]string{"HOME": home},
			[]string{"--server", "https://x:1,https://y:2", "--ca-file", "rel/ca.pem", "--token", "flag-token"},
			"https://x:1,https://y:2", "flag-token", filepath.Join(wd, "rel/ca.pem")},
		{"kubectl's CA flag", map[string]string{"HOME": home}, []string{"--certificate-authority", "/k.pem"},
			"https://default:6443", "file-token", "/k.pem"},
		{"flags alone", map[string]string{"HOME": t.TempDir()}, []string{"-s", "https://x:1", "--ca-file", "/ca.pem"},
			"https://x:1", "", "/ca.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := newTestApp(t, tt.env, tt.args...)
			if !a.useOrchConfig() {
				t.Fatal("orch's config is not used")
			}
			cfg, err := a.loadConfig()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(cfg.Servers, ","); got != tt.wantServers || cfg.Token != tt.wantToken || cfg.CertificateAuthority != tt.wantCA {
				t.Fatalf("config %+v; want servers %s, token %q, CA %s", cfg, tt.wantServers, tt.wantToken, tt.wantCA)
			}
		})
	}
}

func TestConfigSource(t *testing.T) {
	home, empty := t.TempDir(), t.TempDir()
	saveConfig(t, filepath.Join(home, ".orch", "admin.conf"), "https://default:6443")
	tests := []struct {
		name string
		env  map[string]string
		args []string
		orch bool
	}{
		{"~/.orch/admin.conf", map[string]string{"HOME": home}, nil, true},
		{"--kubeconfig wins", map[string]string{"HOME": home}, []string{"--kubeconfig", "/k"}, false},
		{"$KUBECONFIG wins", map[string]string{"HOME": home, "KUBECONFIG": "/k"}, nil, false},
		{"--config", map[string]string{"HOME": empty}, []string{"--config", "/c"}, true},
		{"$ORCHCONFIG", map[string]string{"HOME": empty, configEnv: "/c"}, nil, true},
		{"--server alone", map[string]string{"HOME": empty}, []string{"--server", "https://a:1"}, true},
		{"nothing: kubectl's ~/.kube/config", map[string]string{"HOME": empty}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := newTestApp(t, tt.env, tt.args...).useOrchConfig(); got != tt.orch {
				t.Fatalf("orch config used: %v, want %v", got, tt.orch)
			}
		})
	}
}

func TestLoadConfigErrors(t *testing.T) {
	home := t.TempDir()
	a := newTestApp(t, map[string]string{"HOME": home})
	if _, err := a.loadConfig(); err == nil || !strings.Contains(err.Error(), "no cluster configured") {
		t.Fatalf("no config: err = %v", err)
	}
	a = newTestApp(t, map[string]string{"HOME": home}, "--config", filepath.Join(home, "nope.conf"))
	if _, err := a.loadConfig(); err == nil {
		t.Fatal("a missing --config file was accepted")
	}
	bad := filepath.Join(home, "bad.conf")
	saveConfig(t, bad, "http://plain:80")
	a = newTestApp(t, map[string]string{"HOME": home}, "--config", bad)
	cfg, err := a.loadConfig()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := restConfigFor(cfg, nil); err == nil || !strings.Contains(err.Error(), "scheme must be https") {
		t.Fatalf("http server: err = %v", err)
	}
}

func TestRESTConfigFor(t *testing.T) {
	base := &rest.Config{Host: "http://localhost:8080", BearerToken: "kube", Impersonate: rest.ImpersonationConfig{UserName: "bob"}, QPS: 50}
	cfg := &client.Config{Servers: []string{"https://a:6443/", "https://b:6443"}, CertificateAuthorityData: []byte("CA"),
		ClientCertificateData: []byte("CERT"), ClientKeyData: []byte("KEY"), Token: "orch"}
	rc, err := restConfigFor(cfg, base)
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != "https://a:6443" || rc.BearerToken != "orch" || string(rc.CAData) != "CA" || string(rc.CertData) != "CERT" ||
		string(rc.KeyData) != "KEY" || rc.Impersonate.UserName != "bob" || rc.QPS != 50 || rc.Dial == nil || rc.WrapTransport == nil {
		t.Fatalf("rest config: %+v", rc)
	}
	if base.BearerToken != "kube" || base.WrapTransport != nil {
		t.Fatal("the base config was changed")
	}
}

// kubectl's verbs reach the cluster through orch's config when its first
// master is down: the rest.Config that kubectl gets fails over.
func TestWrappedConfigFailsOver(t *testing.T) {
	var hits atomic.Int32
	live := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "Bearer orch-token" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
	}))
	defer live.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + l.Addr().String()
	l.Close()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.crt")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: live.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "admin.conf")
	if err := (&client.Config{Servers: []string{dead, live.URL}, CertificateAuthority: ca, Token: "orch-token"}).Save(conf); err != nil {
		t.Fatal(err)
	}
	a := newTestApp(t, map[string]string{"HOME": dir}, "--config", conf)
	rc, err := a.flags.ToRESTConfig()
	if err != nil {
		t.Fatal(err)
	}
	if rc.Host != dead {
		t.Fatalf("host %s, want the first server %s", rc.Host, dead)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatalf("server version through the second master: %v", err)
	}
	if v.GitVersion != "v1.37.2" || hits.Load() != 1 {
		t.Fatalf("version %+v after %d requests", v, hits.Load())
	}
}
