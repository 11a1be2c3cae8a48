package apiserver

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authorization/authorizer"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	nodeauth "orch.io/orch/auth/node"
	"orch.io/orch/auth/rbac"
	"orch.io/orch/cluster"
	"orch.io/orch/pki"
)

// testEnv is a real one-master cluster with its HTTPS API server on loopback.
type testEnv struct {
	bundle  *pki.Bundle
	cluster *cluster.Cluster
	server  *Server
	// base is https://127.0.0.1:port of the API.
	base string
	// admin and node are API clients holding the admin token and the
	// certificate of node testNodeName (system:node:n1).
	admin *client.Client
	node  *client.Client
	// tlsConfig trusts the cluster CA, for raw HTTP clients.
	tlsConfig *tls.Config
	// http is a raw HTTP/1.1 client trusting the cluster CA; it sends no token.
	http *http.Client
	// nodeHTTP is http with the certificate of node testNodeName.
	nodeHTTP *http.Client
}

// testNodeName is the node e.node authenticates as.
const (
	testNodeName = "n1"
	testNodeUser = nodeauth.NodeUserPrefix + testNodeName
)

type envConfig struct {
	feedSize int
	server   func(*Config)
	// backend, if set, wraps the cluster the server is given.
	backend func(Backend) Backend
	// rbac plugs in the RBAC authorizer over the cluster's store.
	rbac bool
}

type envOption func(*envConfig)

// withFeedSize sets the FSM's change feed size (the watch window).
func withFeedSize(n int) envOption { return func(c *envConfig) { c.feedSize = n } }

// withServerConfig changes the API server's config before New.
func withServerConfig(f func(*Config)) envOption { return func(c *envConfig) { c.server = f } }

// withBackend wraps the cluster the API server is given.
func withBackend(f func(Backend) Backend) envOption { return func(c *envConfig) { c.backend = f } }

// newTestEnv starts a one-master cluster (real raft over mutual TLS on
// loopback, raft-boltdb in a temporary directory), waits until it has
// established leadership, serves the API with Server.Serve on a loopback
// listener and creates the "default" namespace through the API, as the
// daemon does. Everything is stopped by t.Cleanup.
func newTestEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	var ec envConfig
	for _, o := range opts {
		o(&ec)
	}
	log := testLogger(t)
	pkiDir, dataDir := t.TempDir(), t.TempDir()
	if err := pki.Init(pki.InitOptions{Dir: pkiDir, Hosts: []string{"127.0.0.1"}, Masters: []string{"m1"}}); err != nil {
		t.Fatalf("pki init: %v", err)
	}
	bundle, err := pki.LoadMaster(pkiDir, "m1")
	if err != nil {
		t.Fatalf("pki load: %v", err)
	}
	peerServer, err := bundle.PeerServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	peerClient, err := bundle.PeerClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	apiTLS, err := bundle.APIServerTLS()
	if err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	t.Cleanup(func() { ln.Close() })
	raftAddr := freeAddr(t)
	cc := cluster.DefaultConfig()
	cc.ID, cc.RaftAddr, cc.APIAddr, cc.DataDir = "m1", raftAddr, ln.Addr().String(), dataDir
	cc.InitialCluster = []cluster.Peer{{ID: "m1", RaftAddr: raftAddr}}
	cc.ServerTLS, cc.ClientTLS = peerServer, peerClient
	// A single voter elects itself after one heartbeat timeout: keep it short.
	cc.HeartbeatTimeout, cc.ElectionTimeout, cc.LeaderLeaseTimeout = 50*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	cc.ApplyTimeout = 5 * time.Second
	if ec.feedSize > 0 {
		cc.FeedSize = ec.feedSize
	}
	cc.Logger = log
	c, err := cluster.New(cc)
	if err != nil {
		t.Fatalf("cluster.New: %v", err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	go func() { defer close(runDone); c.Run(runCtx) }()
	t.Cleanup(func() {
		stopRun()
		<-runDone
		if err := c.Shutdown(); err != nil && !errors.Is(err, context.Canceled) {
			t.Logf("cluster shutdown: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer wcancel()
	if err := c.WaitEstablished(wctx); err != nil {
		t.Fatalf("leadership not established: %v", err)
	}

	sc := DefaultConfig()
	sc.Addr, sc.TLS = ln.Addr().String(), apiTLS
	sc.AdminToken, sc.AgentCertificate = bundle.AdminToken, bundle.Master.GetClientCertificate
	sc.ClientCAs = bundle.CAPool
	sc.Authorizers = []authorizer.UnconditionalAuthorizer{nodeauth.NewAuthorizer(nodeauth.StorePods{Store: c.Store,
		Barrier: func(ctx context.Context) error { _, err := c.ReadBarrier(ctx); return err }})}
	sc.Logger = log
	if ec.server != nil {
		ec.server(&sc)
	}
	if ec.rbac {
		a := rbac.New(c.Store)
		sc.Authorizers, sc.RBAC = append(sc.Authorizers, a), a
	}
	var backend Backend = c
	if ec.backend != nil {
		backend = ec.backend(c)
	}
	s, err := New(sc, backend)
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	serveCtx, stopServe := context.WithCancel(context.Background())
	serveDone := make(chan error, 1)
	go func() { serveDone <- s.Serve(serveCtx, ln) }()
	t.Cleanup(func() {
		stopServe()
		if err := <-serveDone; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})

	e := &testEnv{bundle: bundle, cluster: c, server: s, base: "https://" + ln.Addr().String(),
		tlsConfig: &tls.Config{RootCAs: bundle.CAPool, MinVersion: tls.VersionTLS12}}
	e.http = e.newHTTPClient(t)
	e.admin = e.newClient(t, bundle.AdminToken)
	e.node = e.certClient(t, testNodeUser, nodeauth.NodesGroup)
	e.nodeHTTP = e.newNodeHTTPClient(t)
	ns := &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: v1.DefaultNamespace}}
	if err := e.admin.Create(testCtx(t), ns); err != nil {
		t.Fatalf("create namespace default: %v", err)
	}
	return e
}

func (e *testEnv) newClient(t *testing.T, token string) *client.Client {
	t.Helper()
	cl, err := client.New(&client.Config{Servers: []string{e.base}, CertificateAuthorityData: e.bundle.CAPEM,
		Token: token, FailoverRounds: 1})
	if err != nil {
		t.Fatalf("client.New: %v", err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	return cl
}

// newHTTPClient returns a raw HTTP/1.1 client with its own connection pool.
func (e *testEnv) newHTTPClient(t *testing.T) *http.Client {
	tr := &http.Transport{TLSClientConfig: e.tlsConfig.Clone(), MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// newNodeHTTPClient returns a raw client presenting the certificate of
// node testNodeName.
func (e *testEnv) newNodeHTTPClient(t *testing.T) *http.Client {
	ca, err := pki.LoadClusterCA(e.bundle.Dir)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.NewClientKeyPair(pki.ClientCertificate{CommonName: testNodeUser,
		Organizations: []string{nodeauth.NodesGroup}, Validity: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.tlsConfig.Clone()
	cfg.Certificates = []tls.Certificate{cert}
	tr := &http.Transport{TLSClientConfig: cfg, MaxIdleConnsPerHost: 4}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// newHTTP2Client returns a raw client that speaks HTTP/2 (as kubectl does).
func (e *testEnv) newHTTP2Client(t *testing.T) *http.Client {
	tr := &http.Transport{TLSClientConfig: e.tlsConfig.Clone(), ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// freeAddr returns a loopback address with a port that was free a moment ago
// (raft advertises the address it binds, so ":0" cannot be used).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// testLogger routes warnings and errors to t.Log until the test's cleanup
// has run (logging after a test ends would panic).
func testLogger(t *testing.T) *slog.Logger {
	w := &testLogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type testLogWriter struct {
	t    *testing.T
	mu   sync.Mutex
	done bool
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// reqOpt changes a raw request.
type reqOpt func(*http.Request)

// nodeCredential, given to withToken, sends the request with the
// certificate of node testNodeName instead of a token.
const nodeCredential = "<node certificate>"

// asNodeHeader marks a request send makes with e.nodeHTTP.
const asNodeHeader = "X-Test-As-Node"

// withToken sends a bearer token ("" sends no Authorization header;
// nodeCredential the node's certificate).
func withToken(tok string) reqOpt {
	return func(r *http.Request) {
		switch tok {
		case "":
			r.Header.Del("Authorization")
		case nodeCredential:
			r.Header.Del("Authorization")
			r.Header.Set(asNodeHeader, "1")
		default:
			r.Header.Set("Authorization", "Bearer "+tok)
		}
	}
}

// withContentType sets the Content-Type header.
func withContentType(ct string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Content-Type", ct) }
}

// do sends a raw request with the admin token (unless an option changes it)
// and returns the code and the body. body may be nil, a string, []byte or a
// value to encode as JSON.
func (e *testEnv) do(t *testing.T, method, path string, body any, opts ...reqOpt) (int, []byte) {
	t.Helper()
	resp := e.send(t, e.http, method, path, body, opts...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return resp.StatusCode, b
}

func (e *testEnv) send(t *testing.T, hc *http.Client, method, path string, body any, opts ...reqOpt) *http.Response {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd, ct = strings.NewReader(b), "application/json"
	case []byte:
		rd, ct = bytes.NewReader(b), "application/json"
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("encode body: %v", err)
		}
		rd, ct = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequestWithContext(testCtx(t), method, e.base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.bundle.AdminToken)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for _, o := range opts {
		o(req)
	}
	if req.Header.Get(asNodeHeader) != "" {
		req.Header.Del(asNodeHeader)
		hc = e.nodeHTTP
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// expectCode sends a raw request and fails unless the answer has code want.
// It returns the body.
func (e *testEnv) expectCode(t *testing.T, want int, method, path string, body any, opts ...reqOpt) []byte {
	t.Helper()
	code, b := e.do(t, method, path, body, opts...)
	if code != want {
		t.Fatalf("%s %s: got HTTP %d, want %d: %s", method, path, code, want, b)
	}
	return b
}

// expectStatus is expectCode for an error answer: it also checks that the
// body is a v1.Status with the same code, and returns it.
func (e *testEnv) expectStatus(t *testing.T, want int, method, path string, body any, opts ...reqOpt) v1.Status {
	t.Helper()
	b := e.expectCode(t, want, method, path, body, opts...)
	var st v1.Status
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf("%s %s: answer is not a Status: %v: %s", method, path, err, b)
	}
	if st.Kind != "Status" || int(st.Code) != want || st.Status != "Failure" {
		t.Fatalf("%s %s: bad Status %+v", method, path, st)
	}
	return st
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %T: %v: %s", v, err, b)
	}
	return v
}

func podPath(name string) string {
	p := "/api/v1/namespaces/default/pods"
	if name != "" {
		p += "/" + name
	}
	return p
}

func newPod(name string, labels map[string]string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: v1.DefaultNamespace, Labels: labels},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
	}
}

// createPod creates a pod through the API and returns it as stored.
func (e *testEnv) createPod(t *testing.T, name string, labels map[string]string) *v1.Pod {
	t.Helper()
	p := newPod(name, labels)
	if err := e.admin.Create(testCtx(t), p); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	return p
}

// createNode creates a node through the API.
func (e *testEnv) createNode(t *testing.T, name string) *v1.Node {
	t.Helper()
	n := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: name}}
	if err := e.admin.Create(testCtx(t), n); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	return n
}

// bind binds a pod to a node through the binding subresource.
func (e *testEnv) bind(t *testing.T, pod, node string) {
	t.Helper()
	e.expectCode(t, http.StatusCreated, http.MethodPost, podPath(pod)+"/binding",
		v1.Binding{ObjectMeta: v1.ObjectMeta{Name: pod}, Target: v1.ObjectReference{Kind: "Node", Name: node}})
}

func (e *testEnv) getPod(t *testing.T, name string) *v1.Pod {
	t.Helper()
	var p v1.Pod
	if err := e.admin.Get(testCtx(t), "pods", v1.DefaultNamespace, name, &p); err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return &p
}

// watchEvent is one line of a watch stream.
type watchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
	meta   v1.ObjectMeta
}

// rawWatch reads a watch stream line by line on its own connection, so a
// test sees exactly what the server sent, including the end of the stream.
type rawWatch struct {
	resp   *http.Response
	events chan watchEvent
	// done is closed when the stream ended; err says how.
	done chan struct{}
	err  error
}

// openWatch opens path?watch=true&query with the admin token (unless an
// option changes it) on a new connection and fails unless the answer is 200.
func (e *testEnv) openWatch(t *testing.T, path string, query url.Values, opts ...reqOpt) *rawWatch {
	t.Helper()
	return e.openWatchWith(t, e.newHTTPClient(t), path, query, opts...)
}

// openWatchWith is openWatch with a given HTTP client.
func (e *testEnv) openWatchWith(t *testing.T, hc *http.Client, path string, query url.Values, opts ...reqOpt) *rawWatch {
	t.Helper()
	if query == nil {
		query = url.Values{}
	}
	query.Set("watch", "true")
	resp := e.send(t, hc, http.MethodGet, path+"?"+query.Encode(), nil, opts...)
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Fatalf("watch %s?%s: HTTP %d: %s", path, query.Encode(), resp.StatusCode, b)
	}
	w := &rawWatch{resp: resp, events: make(chan watchEvent, 1024), done: make(chan struct{})}
	t.Cleanup(func() {
		resp.Body.Close()
		<-w.done
	})
	go w.read()
	return w
}

func (w *rawWatch) read() {
	defer close(w.done)
	sc := bufio.NewScanner(w.resp.Body)
	sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
	for sc.Scan() {
		var ev watchEvent
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			w.err = err
			return
		}
		var obj struct {
			Metadata v1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(ev.Object, &obj); err != nil {
			w.err = err
			return
		}
		ev.meta = obj.Metadata
		w.events <- ev
	}
	w.err = sc.Err()
	if w.err == nil {
		w.err = io.EOF
	}
}

// next returns the next event, failing if none comes within 10 s or the
// stream ends first.
func (w *rawWatch) next(t *testing.T) watchEvent {
	t.Helper()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case ev := <-w.events:
		return ev
	case <-timer.C:
		t.Fatalf("no watch event within 10s")
	case <-w.done:
		select {
		case ev := <-w.events:
			return ev
		default:
		}
		t.Fatalf("the watch stream ended: %v", w.err)
	}
	return watchEvent{}
}

// expect reads the next event and checks its type and object name.
func (w *rawWatch) expect(t *testing.T, typ, name string) watchEvent {
	t.Helper()
	ev := w.next(t)
	if ev.Type != typ || ev.meta.Name != name {
		t.Fatalf("got event %s %s (rv %s), want %s %s", ev.Type, ev.meta.Name, ev.meta.ResourceVersion, typ, name)
	}
	return ev
}

// waitEnd waits for the server to end the stream and fails if an event
// arrives first or it does not end within d.
func (w *rawWatch) waitEnd(t *testing.T, d time.Duration) {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case ev := <-w.events:
		t.Fatalf("unexpected event %s %s", ev.Type, ev.meta.Name)
	case <-w.done:
		select {
		case ev := <-w.events:
			t.Fatalf("unexpected event %s %s", ev.Type, ev.meta.Name)
		default:
		}
		if !errors.Is(w.err, io.EOF) {
			t.Fatalf("the stream ended with %v, want a clean end", w.err)
		}
	case <-timer.C:
		t.Fatalf("the watch stream did not end within %v", d)
	}
}
