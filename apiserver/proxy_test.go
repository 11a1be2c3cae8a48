package apiserver

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/node/agentserver"
)

// proxyEnv is a test cluster with one real node agent server ("n1"): its
// Node object points at the agent, and the pods it knows are looked up in
// pods.
type proxyEnv struct {
	*testEnv
	agent   *agentserver.Server
	podsDir string

	mu      sync.Mutex
	pods    map[string]string // namespace/name -> uid
	running map[string]bool   // uid/container/attempt
	imports [][]byte
}

func newProxyEnv(t *testing.T, opts ...envOption) *proxyEnv {
	t.Helper()
	e := &proxyEnv{testEnv: newTestEnv(t, opts...), podsDir: t.TempDir(),
		pods: map[string]string{}, running: map[string]bool{}}
	a, err := agentserver.New(agentserver.Config{
		Addr:      "127.0.0.1:0",
		ClientCAs: e.bundle.CAPool,
		PodsDir:   e.podsDir,
		Lookup: func(ns, name string) (string, bool) {
			e.mu.Lock()
			defer e.mu.Unlock()
			uid, ok := e.pods[ns+"/"+name]
			return uid, ok
		},
		Running: func(uid, c string, attempt int) bool {
			e.mu.Lock()
			defer e.mu.Unlock()
			return e.running[uid+"/"+c+"/"+strconv.Itoa(attempt)]
		},
		Import: func(ctx context.Context, r io.Reader) ([]string, error) {
			b, err := io.ReadAll(r)
			if err != nil {
				return nil, err
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			e.imports = append(e.imports, b)
			return []string{"docker.io/library/app:v1", "docker.io/library/db:v2"}, nil
		},
		Logger: testLogger(t),
	})
	if err != nil {
		t.Fatalf("agentserver.New: %v", err)
	}
	if err := a.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("agent Run: %v", err)
		}
	})
	e.agent = a
	_, port, _ := net.SplitHostPort(a.Addr())
	p, _ := strconv.Atoi(port)
	e.createAgentNode(t, "n1", "127.0.0.1", int32(p), a.CertSHA256())
	return e
}

// createAgentNode registers a node whose agent is at ip:port with the pin,
// as the node agent does.
func (e *proxyEnv) createAgentNode(t *testing.T, name, ip string, port int32, pin string) {
	t.Helper()
	n := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: name}}
	if pin != "" {
		n.Annotations = map[string]string{v1.AnnotationAgentCertSHA256: pin}
	}
	if err := e.admin.Create(testCtx(t), n); err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	if ip != "" {
		n.Status.Addresses = []v1.NodeAddress{{Type: "Hostname", Address: name}, {Type: "InternalIP", Address: ip}}
	}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = port
	if err := e.admin.UpdateStatus(testCtx(t), n); err != nil {
		t.Fatalf("update status of node %s: %v", name, err)
	}
}

// createBoundPod creates a pod bound to node, known to the agent, with the
// given log files ("container/attempt" -> content).
func (e *proxyEnv) createBoundPod(t *testing.T, name, node string, logs map[string]string) *v1.Pod {
	t.Helper()
	p := e.createPod(t, name, nil)
	if node != "" {
		e.bind(t, name, node)
	}
	e.mu.Lock()
	e.pods[p.Namespace+"/"+name] = p.UID
	e.mu.Unlock()
	for k, content := range logs {
		c, file, _ := strings.Cut(k, "/")
		dir := filepath.Join(e.podsDir, p.UID, "logs", c)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, file+".log"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func (e *proxyEnv) logFile(p *v1.Pod, container string, attempt int) string {
	return filepath.Join(e.podsDir, p.UID, "logs", container, strconv.Itoa(attempt)+".log")
}

func (e *proxyEnv) setRunning(p *v1.Pod, c string, attempt int, running bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.running[p.UID+"/"+c+"/"+strconv.Itoa(attempt)] = running
}

func logPath(name string) string { return podPath(name) + "/log" }

func TestLogProxy(t *testing.T) {
	e := newProxyEnv(t)
	e.createBoundPod(t, "web", "n1", map[string]string{"c/0": "first attempt\n", "c/1": "l1\nl2\nl3\n"})
	e.createBoundPod(t, "multi", "n1", map[string]string{"app/0": "app\n", "side/0": "side\n"})
	e.createBoundPod(t, "pending", "", nil)
	_, port, _ := net.SplitHostPort(e.agent.Addr())
	p, _ := strconv.Atoi(port)
	e.createAgentNode(t, "badpin", "127.0.0.1", int32(p), strings.Repeat("ab", 32))
	e.createBoundPod(t, "on-badpin", "badpin", nil)
	e.createAgentNode(t, "noaddr", "", int32(p), e.agent.CertSHA256())
	e.createBoundPod(t, "on-noaddr", "noaddr", nil)
	dead := freeAddr(t)
	_, deadPort, _ := net.SplitHostPort(dead)
	dp, _ := strconv.Atoi(deadPort)
	e.createAgentNode(t, "down", "127.0.0.1", int32(dp), e.agent.CertSHA256())
	e.createBoundPod(t, "on-down", "down", nil)
	e.createBoundPod(t, "unknown-to-agent", "n1", nil)
	e.mu.Lock()
	delete(e.pods, "default/unknown-to-agent")
	e.mu.Unlock()

	for _, tc := range []struct {
		name  string
		path  string
		token string
		code  int
		want  string // the body, or a substring of the Status message
	}{
		{"whole log", logPath("web"), "", 200, "l1\nl2\nl3\n"},
		{"tailLines", logPath("web") + "?tailLines=2", "", 200, "l2\nl3\n"},
		{"previous", logPath("web") + "?previous=true", "", 200, "first attempt\n"},
		{"container named", logPath("multi") + "?container=side", "", 200, "side\n"},
		{"container needed", logPath("multi"), "", 400, "a container name must be specified for pod default/multi, choose one of: [app side]"},
		{"unknown container", logPath("multi") + "?container=db", "", 400, `container "db" in pod default/multi has no logs`},
		{"no previous attempt", logPath("multi") + "?container=app&previous=true", "", 400, "previous terminated container"},
		{"missing pod", logPath("nope"), "", 404, `pods "nope" not found`},
		{"pod not bound", logPath("pending"), "", 400, "pod pending is not bound to a node"},
		{"pod unknown to the agent", logPath("unknown-to-agent"), "", 404, `pods "unknown-to-agent" not found`},
		{"wrong pin", logPath("on-badpin"), "", 503, "does not match the pin"},
		{"no InternalIP", logPath("on-noaddr"), "", 503, "node noaddr publishes no InternalIP address"},
		{"agent down", logPath("on-down"), "", 503, "cannot reach the agent of node down"},
		{"node certificate", logPath("web"), nodeCredential, 403, "cannot get resource \"pods/log\""},
		{"no token", logPath("web"), "-", 401, "Unauthorized"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []reqOpt
			switch tc.token {
			case "":
			case "-":
				opts = append(opts, withToken(""))
			default:
				opts = append(opts, withToken(tc.token))
			}
			if tc.code != 200 {
				st := e.expectStatus(t, tc.code, http.MethodGet, tc.path, nil, opts...)
				if !strings.Contains(st.Message, tc.want) {
					t.Fatalf("message %q, want it to contain %q", st.Message, tc.want)
				}
				return
			}
			if b := e.expectCode(t, 200, http.MethodGet, tc.path, nil, opts...); string(b) != tc.want {
				t.Fatalf("body %q, want %q", b, tc.want)
			}
		})
	}
}

func TestLogProxyMethods(t *testing.T) {
	e := newTestEnv(t)
	for _, tc := range []struct {
		method, path string
		code         int
	}{
		{http.MethodPost, logPath("web"), http.StatusMethodNotAllowed},
		{http.MethodPut, logPath("web"), http.StatusMethodNotAllowed},
		{http.MethodDelete, logPath("web"), http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/v1/nodes/n1/images", http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/v1/namespaces/default/services/web/log", http.StatusNotFound},
		{http.MethodPost, "/api/v1/namespaces/default/pods/web/images", http.StatusNotFound},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			e.expectStatus(t, tc.code, tc.method, tc.path, nil)
		})
	}
}

func TestLogProxyFollow(t *testing.T) {
	// A short request timeout: a followed log must outlive it.
	const timeout = time.Second
	e := newProxyEnv(t, withServerConfig(func(c *Config) { c.RequestTimeout = timeout }))
	p := e.createBoundPod(t, "web", "n1", map[string]string{"c/0": "old\n"})
	e.setRunning(p, "c", 0, true)

	ctx, cancel := context.WithCancel(testCtx(t))
	defer cancel()
	rc, err := e.admin.Logs(ctx, "default", "web", client.LogOptions{Follow: true})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer rc.Close()
	lines := make(chan string, 10)
	ended := make(chan error, 1)
	go func() {
		r := bufio.NewReader(rc)
		for {
			l, err := r.ReadString('\n')
			if l != "" {
				lines <- l
			}
			if err != nil {
				ended <- err
				return
			}
		}
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case l := <-lines:
			if l != want {
				t.Fatalf("line %q, want %q", l, want)
			}
		case err := <-ended:
			t.Fatalf("the stream ended (%v) before %q", err, want)
		case <-time.After(10 * time.Second):
			t.Fatalf("no line %q within 10s", want)
		}
	}
	start := time.Now()
	expect("old\n")
	f, err := os.OpenFile(e.logFile(p, "c", 0), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString("new\n")
	expect("new\n")
	// Outlive the request timeout: this waits for the property under test,
	// not for another goroutine.
	<-time.After(2*timeout - time.Since(start))
	f.WriteString("later\n")
	expect("later\n")

	e.setRunning(p, "c", 0, false)
	select {
	case err := <-ended:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("the stream ended with %v, want EOF", err)
		}
	case l := <-lines:
		t.Fatalf("unexpected line %q", l)
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end after the container stopped")
	}
}

func TestImageUploadProxy(t *testing.T) {
	e := newProxyEnv(t)
	e.createAgentNode(t, "noagent", "", 0, "")
	tarball := strings.Repeat("layer bytes ", 100000) // ~1.2 MB, streamed

	t.Run("client reaches Import", func(t *testing.T) {
		images, err := e.admin.LoadImage(testCtx(t), "n1", strings.NewReader(tarball))
		if err != nil {
			t.Fatalf("LoadImage: %v", err)
		}
		if strings.Join(images, ",") != "docker.io/library/app:v1,docker.io/library/db:v2" {
			t.Fatalf("images %q", images)
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		if len(e.imports) != 1 || string(e.imports[0]) != tarball {
			t.Fatalf("Import got %d tarballs (first %d bytes)", len(e.imports), len(e.imports[0]))
		}
	})
	for _, tc := range []struct {
		name  string
		path  string
		ct    string
		token string
		code  int
		want  string
	}{
		{"raw upload", "/api/v1/nodes/n1/images", "application/x-tar", "", 200, `{"images":["docker.io/library/app:v1","docker.io/library/db:v2"]}`},
		{"missing node", "/api/v1/nodes/nope/images", "application/x-tar", "", 404, `not found`},
		{"node without agent", "/api/v1/nodes/noagent/images", "application/x-tar", "", 503, "node noagent publishes no InternalIP address"},
		{"json refused", "/api/v1/nodes/n1/images", "application/json", "", 415, "application/x-tar"},
		{"node certificate", "/api/v1/nodes/n1/images", "application/x-tar", nodeCredential, 403, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []reqOpt{withContentType(tc.ct)}
			if tc.token != "" {
				opts = append(opts, withToken(tc.token))
			}
			b := e.expectCode(t, tc.code, http.MethodPost, tc.path, []byte("tar"), opts...)
			if !strings.Contains(string(b), tc.want) {
				t.Fatalf("answer %s, want it to contain %q", b, tc.want)
			}
		})
	}
}

func TestLogProxyAgentBreaksMidStream(t *testing.T) {
	e := newTestEnv(t)
	// An agent that sends one line, then drops the connection.
	agent := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "one line\n")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}))
	agent.Config.ErrorLog = log.New(io.Discard, "", 0)
	defer agent.Close()
	sum := sha256.Sum256(agent.Certificate().Raw)
	host, port, _ := net.SplitHostPort(strings.TrimPrefix(agent.URL, "https://"))
	p, _ := strconv.Atoi(port)
	pe := &proxyEnv{testEnv: e, pods: map[string]string{}}
	pe.createAgentNode(t, "flaky", host, int32(p), hex.EncodeToString(sum[:]))
	pe.createPod(t, "web", nil)
	pe.bind(t, "web", "flaky")

	resp := e.send(t, e.http, http.MethodGet, logPath("web")+"?follow=true", nil)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d", resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	if string(b) != "one line\n" || err == nil {
		t.Fatalf("read %q, %v; want the line, then an error", b, err)
	}
}
