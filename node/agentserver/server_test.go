package agentserver

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"crypto/x509"
	"crypto/x509/pkix"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
)

// Who a test request comes from: a master's certificate, a node's
// certificate (same CA, O=system:nodes), or no certificate.
const (
	asMaster = "master"
	asNode   = "node"
	asNobody = ""
)

// testAgent is a running Server over a temporary pods directory.
type testAgent struct {
	s       *Server
	podsDir string
	base    string
	http    *http.Client
	// certs are the client certificates of asMaster and asNode.
	certs map[string]tls.Certificate

	mu      sync.Mutex
	pods    map[string]string // namespace/name -> uid
	running map[string]bool   // uid/container/attempt -> running
	imports [][]byte
	// importErr is returned by Import when set.
	importErr error
}

func newTestAgent(t *testing.T, change ...func(*Config)) *testAgent {
	t.Helper()
	a := &testAgent{podsDir: t.TempDir(), pods: map[string]string{}, running: map[string]bool{}}
	pool, certs := testPKI(t)
	a.certs = certs
	cfg := Config{
		Addr:      "127.0.0.1:0",
		ClientCAs: pool,
		PodsDir:   a.podsDir,
		Lookup: func(ns, name string) (string, bool) {
			a.mu.Lock()
			defer a.mu.Unlock()
			uid, ok := a.pods[ns+"/"+name]
			return uid, ok
		},
		Running: func(uid, c string, attempt int) bool {
			a.mu.Lock()
			defer a.mu.Unlock()
			return a.running[runKey(uid, c, attempt)]
		},
		Import: func(ctx context.Context, r io.Reader) ([]string, error) {
			b, err := io.ReadAll(r)
			if err != nil {
				return nil, err
			}
			a.mu.Lock()
			defer a.mu.Unlock()
			a.imports = append(a.imports, b)
			if a.importErr != nil {
				return nil, a.importErr
			}
			return []string{"docker.io/library/test:" + strings.TrimSpace(string(b))}, nil
		},
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	for _, c := range change {
		c(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	s.pollInterval = 10 * time.Millisecond
	if err := s.Listen(); err != nil {
		t.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	a.s, a.base = s, "https://"+s.Addr()
	a.http = a.client(t, asMaster)
	return a
}

// client returns an HTTP client pinning the agent's certificate and
// presenting who's client certificate.
func (a *testAgent) client(t *testing.T, who string) *http.Client {
	tlsConfig := pinnedTLS(a.s.CertSHA256())
	if c, ok := a.certs[who]; ok {
		tlsConfig.Certificates = []tls.Certificate{c}
	}
	tr := &http.Transport{TLSClientConfig: tlsConfig}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// testPKI makes a cluster CA and returns its pool and the client
// certificates of a master and of a node.
func testPKI(t *testing.T) (*x509.CertPool, map[string]tls.Certificate) {
	t.Helper()
	dir := t.TempDir()
	if err := pki.Init(pki.InitOptions{Dir: dir, Hosts: []string{"127.0.0.1"}, Masters: []string{"m1"}}); err != nil {
		t.Fatal(err)
	}
	b, err := pki.LoadMaster(dir, "m1")
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadClusterCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.NewClientKeyPair(pki.ClientCertificate{CommonName: "system:node:n1",
		Organizations: []string{"system:nodes"}, Validity: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	node, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return b.CAPool, map[string]tls.Certificate{asMaster: *b.Master.Current(), asNode: node}
}

// testWriter sends log output to t.Log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func runKey(uid, c string, attempt int) string {
	return uid + "/" + c + "/" + strconv.Itoa(attempt)
}

// pinnedTLS trusts exactly the certificate with the given SHA-256, as the
// masters do.
func pinnedTLS(pin string) *tls.Config {
	return &tls.Config{
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no peer certificate")
			}
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(sum[:]) != pin {
				return errors.New("peer certificate does not match the pin")
			}
			return nil
		},
	}
}

func (a *testAgent) addPod(ns, name, uid string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pods[ns+"/"+name] = uid
}

func (a *testAgent) setRunning(uid, c string, attempt int, running bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.running[runKey(uid, c, attempt)] = running
}

// logPath returns the log file of an attempt, creating its directory.
func (a *testAgent) logPath(t *testing.T, uid, c string, attempt int) string {
	t.Helper()
	dir := filepath.Join(a.podsDir, uid, "logs", c)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return attemptPath(dir, attempt)
}

// writeLog writes the log file of an attempt (suffix ".1" for its piece).
func (a *testAgent) writeLog(t *testing.T, uid, c string, attempt int, suffix, content string) string {
	t.Helper()
	p := a.logPath(t, uid, c, attempt) + suffix
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// appendFile appends s to path with O_APPEND, as the runtime writes.
func appendFile(t *testing.T, path, s string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// request sends a request as who (asMaster, asNode, asNobody).
func (a *testAgent) request(t *testing.T, method, path, who string, body io.Reader, ct string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(testCtx(t), method, a.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	hc := a.http
	if who != asMaster {
		hc = a.client(t, who)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// get sends an authenticated GET and returns the code and body.
func (a *testAgent) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp := a.request(t, http.MethodGet, path, asMaster, nil, "")
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: read: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

func decodeStatus(t *testing.T, body string) v1.Status {
	t.Helper()
	var st v1.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil || st.Kind != "Status" {
		t.Fatalf("not a Status (%v): %s", err, body)
	}
	return st
}

func TestCertSHA256MatchesServedCertificate(t *testing.T) {
	a := newTestAgent(t)
	if len(a.s.CertSHA256()) != 64 {
		t.Fatalf("CertSHA256 = %q, want 64 hex digits", a.s.CertSHA256())
	}
	// The pinned client connects; a client with another pin does not.
	code, _ := a.get(t, "/pods/default/none/log")
	if code != http.StatusNotFound {
		t.Fatalf("pinned client: HTTP %d", code)
	}
	other := &http.Client{Transport: &http.Transport{TLSClientConfig: pinnedTLS(strings.Repeat("0", 64))}}
	if _, err := other.Get(a.base + "/pods/default/none/log"); err == nil {
		t.Fatal("a client pinning another certificate connected")
	}
}

// Only a master's certificate gets through: no certificate, a node's
// certificate of the same CA, and a master-organization certificate of
// another CA are refused in the TLS handshake.
func TestOnlyMastersConnect(t *testing.T) {
	a := newTestAgent(t)
	_, otherCA := testPKI(t)
	a.certs["other-ca-master"] = otherCA[asMaster]
	for _, tc := range []struct {
		who     string
		refused bool
	}{
		{asMaster, false},
		{asNobody, true},
		{asNode, true},
		{"other-ca-master", true},
	} {
		t.Run(tc.who, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(testCtx(t), http.MethodPost, a.base+"/images", strings.NewReader("img"))
			resp, err := a.client(t, tc.who).Do(req)
			if !tc.refused {
				if err != nil {
					t.Fatalf("master refused: %v", err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("master: HTTP %d", resp.StatusCode)
				}
				return
			}
			if err == nil {
				resp.Body.Close()
				t.Fatalf("%s got HTTP %d, want the TLS handshake refused", tc.who, resp.StatusCode)
			}
			if !strings.Contains(err.Error(), "tls") && !strings.Contains(err.Error(), "certificate") {
				t.Fatalf("%s: error %v is not a TLS refusal", tc.who, err)
			}
		})
	}
	if n := a.importCount(); n != 1 {
		t.Fatalf("%d imports, want only the master's", n)
	}
}

// masterChain refuses a master-organization certificate issued by an
// intermediate CA: only the cluster CA makes masters.
func TestMasterChainRefusesIntermediates(t *testing.T) {
	leaf := func(orgs ...string) *x509.Certificate {
		return &x509.Certificate{Subject: pkix.Name{CommonName: "m", Organization: orgs}}
	}
	root, mid := &x509.Certificate{}, &x509.Certificate{}
	for _, tc := range []struct {
		name   string
		chains [][]*x509.Certificate
		ok     bool
	}{
		{"master from root", [][]*x509.Certificate{{leaf(MasterOrganization), root}}, true},
		{"master via intermediate", [][]*x509.Certificate{{leaf(MasterOrganization), mid, root}}, false},
		{"node from root", [][]*x509.Certificate{{leaf("system:nodes"), root}}, false},
		{"no chain", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := masterChain(tc.chains); (err == nil) != tc.ok {
				t.Fatalf("masterChain = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestImages(t *testing.T) {
	a := newTestAgent(t)
	for _, tc := range []struct {
		name      string
		ct        string
		importErr error
		want      int
		wantBody  string
	}{
		{"tarball", "application/x-tar", nil, http.StatusOK, `{"images":["docker.io/library/test:img"]}`},
		{"no content type", "", nil, http.StatusOK, `{"images":["docker.io/library/test:img"]}`},
		{"json refused", "application/json", nil, http.StatusUnsupportedMediaType, ""},
		{"bad tarball", "application/x-tar", v1.NewBadRequest("not an OCI archive"), http.StatusBadRequest, "not an OCI archive"},
		{"runtime failure", "application/x-tar", errors.New("containerd is down"), http.StatusInternalServerError, "containerd is down"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a.mu.Lock()
			a.importErr, a.imports = tc.importErr, nil
			a.mu.Unlock()
			resp := a.request(t, http.MethodPost, "/images", asMaster, strings.NewReader("img"), tc.ct)
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.want || !strings.Contains(string(b), tc.wantBody) {
				t.Fatalf("HTTP %d %s; want %d containing %q", resp.StatusCode, b, tc.want, tc.wantBody)
			}
			a.mu.Lock()
			n := len(a.imports)
			a.mu.Unlock()
			if wantImport := tc.want != http.StatusUnsupportedMediaType; (n == 1) != wantImport {
				t.Fatalf("%d imports, want import %v", n, wantImport)
			}
		})
	}
}

func TestRunStopsFollowers(t *testing.T) {
	a := newTestAgent(t)
	a.addPod("default", "p", "uid1")
	a.writeLog(t, "uid1", "c", 0, "", "one\n")
	a.setRunning("uid1", "c", 0, true)

	// A separate server, so its Run can be stopped inside the test.
	s, err := New(Config{Addr: "127.0.0.1:0", ClientCAs: a.s.cfg.ClientCAs, PodsDir: a.podsDir,
		Lookup: a.s.cfg.Lookup, Running: a.s.cfg.Running})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != "" {
		t.Fatalf("Addr before Listen = %q, want empty", s.Addr())
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	tlsConfig := pinnedTLS(s.CertSHA256())
	tlsConfig.Certificates = []tls.Certificate{a.certs[asMaster]}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodGet, "https://"+s.Addr()+"/pods/default/p/log?follow=true", nil)
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "one\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
}
