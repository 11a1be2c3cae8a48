package apiserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"k8s.io/apiserver/pkg/authentication/user"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	nodeauth "orch.io/orch/auth/node"
)

// blockingBackend holds every linearizable read and every write until
// release is closed, announcing each on entered, so that a test can fill
// the in-flight pools deterministically.
type blockingBackend struct {
	Backend
	entered chan string
	release chan struct{}
}

func newBlockingBackend(b Backend) *blockingBackend {
	return &blockingBackend{Backend: b, entered: make(chan string, 64), release: make(chan struct{})}
}

func (b *blockingBackend) hold(ctx context.Context, what string) error {
	b.entered <- what
	select {
	case <-b.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *blockingBackend) ReadBarrier(ctx context.Context) (uint64, error) {
	if err := b.hold(ctx, "read"); err != nil {
		return 0, err
	}
	return b.Backend.ReadBarrier(ctx)
}

func (b *blockingBackend) Apply(ctx context.Context, cmd []byte) (any, error) {
	if err := b.hold(ctx, "apply"); err != nil {
		return nil, err
	}
	return b.Backend.Apply(ctx, cmd)
}

// serveAlso serves a second API server over e's cluster, built from e's
// config changed by change and backed by wrap(e's cluster) when wrap is not
// nil. It returns an env whose requests go to the new server.
func (e *testEnv) serveAlso(t *testing.T, change func(*Config), wrap func(Backend) Backend) *testEnv {
	t.Helper()
	apiTLS, err := e.bundle.APIServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	sc := DefaultConfig()
	sc.TLS, sc.AdminToken, sc.Logger = apiTLS, e.bundle.AdminToken, testLogger(t)
	sc.ClientCAs, sc.Authorizers, sc.AgentCertificate = e.server.cfg.ClientCAs, e.server.cfg.Authorizers, e.server.cfg.AgentCertificate
	if change != nil {
		change(&sc)
	}
	var b Backend = e.cluster
	if wrap != nil {
		b = wrap(b)
	}
	s, err := New(sc, b)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	other := *e
	other.server, other.base = s, "https://"+ln.Addr().String()
	other.http = other.newHTTPClient(t)
	return &other
}

// result is the code and body of a request sent in the background.
type result struct {
	code int
	body []byte
	err  error
}

// sendAsync sends a request on its own connection and reports on the channel.
func (e *testEnv) sendAsync(t *testing.T, method, path, body string) <-chan result {
	out := make(chan result, 1)
	req, err := http.NewRequestWithContext(testCtx(t), method, e.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.bundle.AdminToken)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := e.newHTTPClient(t)
	go func() {
		resp, err := hc.Do(req)
		if err != nil {
			out <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		out <- result{code: resp.StatusCode, body: b, err: err}
	}()
	return out
}

// metricValue returns the value of the sample line that starts with
// series in /metrics, or "" if there is none.
func (e *testEnv) metricValue(t *testing.T, series string) string {
	t.Helper()
	b := e.expectCode(t, http.StatusOK, http.MethodGet, "/metrics", nil)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// expectTooMany checks a 429 as Kubernetes answers it.
func expectTooMany(t *testing.T, resp *http.Response, message string) {
	t.Helper()
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("HTTP %d (%s), want 429", resp.StatusCode, b)
	}
	if ra := resp.Header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	st := decode[v1.Status](t, b)
	if st.Reason != v1.ReasonTooManyRequests || st.Code != 429 || st.Kind != "Status" {
		t.Errorf("status = %+v", st)
	}
	if !strings.Contains(st.Message, message) {
		t.Errorf("message %q does not contain %q", st.Message, message)
	}
	if st.Details == nil || st.Details.RetryAfterSeconds != 1 {
		t.Errorf("details = %+v, want retryAfterSeconds 1", st.Details)
	}
}

func TestInFlightLimits(t *testing.T) {
	e := newTestEnv(t)
	podJSON := func(name string) string {
		return fmt.Sprintf(`{"metadata":{"name":%q},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`, name)
	}
	for _, tc := range []struct {
		name string
		// method, path and body (named by n) of a request that the
		// backend holds.
		method, path string
		body         func(n int) string
		kind, other  string
		// otherMethod, otherPath, otherBody is a request of the other kind
		// that the backend does not hold, with its expected code.
		otherMethod, otherPath, otherBody string
		otherCode                         int
	}{
		{name: "readOnly", method: http.MethodGet, path: podPath(""), body: func(int) string { return "" },
			kind: kindReadOnly, other: kindMutating,
			otherMethod: http.MethodPost, otherPath: podPath(""), otherBody: `{"bogus":1}`, otherCode: http.StatusBadRequest},
		{name: "mutating", method: http.MethodPost, path: podPath(""), body: func(n int) string { return podJSON(fmt.Sprintf("p%d", n)) },
			kind: kindMutating, other: kindReadOnly,
			otherMethod: http.MethodGet, otherPath: "/api/v1", otherCode: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const limit = 2
			bb := newBlockingBackend(e.cluster)
			le := e.serveAlso(t, func(c *Config) {
				c.MaxRequestsInFlight, c.MaxMutatingRequestsInFlight = limit, limit
			}, func(Backend) Backend { return bb })
			var held []<-chan result
			for i := 0; i < limit; i++ {
				held = append(held, le.sendAsync(t, tc.method, tc.path, tc.body(i)))
			}
			for i := 0; i < limit; i++ {
				select {
				case <-bb.entered:
				case <-testCtx(t).Done():
					t.Fatal("the held requests did not reach the backend")
				}
			}
			if v := le.metricValue(t, `apiserver_current_inflight_requests{request_kind="`+tc.kind+`"}`); v != "2" {
				t.Errorf("in-flight %s = %q, want 2", tc.kind, v)
			}

			// The pool is full: the next request of its kind is refused at once.
			expectTooMany(t, le.send(t, le.http, tc.method, tc.path, tc.body(limit)), tooManyRequestsMessage)
			if v := le.metricValue(t, `orch_api_rejected_requests_total{request_kind="`+tc.kind+`"}`); v != "1" {
				t.Errorf("rejected %s = %q, want 1", tc.kind, v)
			}
			// The other pool, health, readiness, metrics and watches are not refused.
			le.expectCode(t, tc.otherCode, tc.otherMethod, tc.otherPath, tc.otherBody)
			for _, p := range []string{"/healthz", "/readyz"} {
				le.expectCode(t, http.StatusOK, http.MethodGet, p, nil, withToken(""))
			}
			le.expectCode(t, http.StatusOK, http.MethodGet, "/metrics", nil) // the admin's token

			w := le.openWatch(t, podPath(""), url.Values{"resourceVersion": {"0"}})
			// Unauthenticated requests get 401, not 429.
			le.expectStatus(t, http.StatusUnauthorized, tc.method, tc.path, nil, withToken(""))

			close(bb.release)
			for i, c := range held {
				r := <-c
				if r.err != nil || r.code >= 300 {
					t.Fatalf("held request %d: HTTP %d %s %v", i, r.code, r.body, r.err)
				}
			}
			if v := le.metricValue(t, `apiserver_current_inflight_requests{request_kind="`+tc.kind+`"}`); v != "0" {
				t.Errorf("in-flight %s after release = %q, want 0", tc.kind, v)
			}
			// Slots are given back.
			for i := 0; i < limit+1; i++ {
				if r := <-le.sendAsync(t, tc.method, tc.path, tc.body(limit+1+i)); r.err != nil || r.code >= 300 {
					t.Fatalf("request after release: HTTP %d %s %v", r.code, r.body, r.err)
				}
			}
			w.resp.Body.Close()
		})
	}
}

func TestWatchLimits(t *testing.T) {
	e := newTestEnv(t)
	le := e.serveAlso(t, func(c *Config) { c.MaxWatchesPerClient, c.MaxWatches = 2, 3 }, nil)
	rv0 := func() url.Values { return url.Values{"resourceVersion": {"0"}, "watch": {"true"}} }
	path := podPath("") + "?" + rv0().Encode()

	a1 := le.openWatch(t, podPath(""), rv0())
	le.openWatch(t, podPath(""), rv0())
	// A third watch of the admin token is over its client's cap.
	expectTooMany(t, le.send(t, le.newHTTPClient(t), http.MethodGet, path, nil), "Too many watches from this client (limit 2)")
	// The node is another client: one more fits the server's cap of 3, and
	// then the server is full for everyone.
	nodeQ := rv0()
	nodeQ.Set("fieldSelector", "spec.nodeName="+testNodeName)
	le.openWatch(t, podPath(""), nodeQ, withToken(nodeCredential))
	expectTooMany(t, le.send(t, le.newHTTPClient(t), http.MethodGet, podPath("")+"?"+nodeQ.Encode(), nil, withToken(nodeCredential)),
		"Too many watches on this server (limit 3)")
	// A watch is not a read in flight.
	le.expectCode(t, http.StatusOK, http.MethodGet, podPath(""), nil)

	// Closing a watch frees its place once the server has seen it end.
	a1.resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp := le.send(t, le.newHTTPClient(t), http.MethodGet, path, nil)
		if resp.StatusCode == http.StatusOK {
			resp.Body.Close()
			break
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || time.Now().After(deadline) {
			t.Fatalf("watch after closing one: HTTP %d", resp.StatusCode)
		}
	}
}

func TestClientKey(t *testing.T) {
	admin := &user.DefaultInfo{Name: AdminUser, Groups: []string{user.SystemPrivilegedGroup}}
	node := &user.DefaultInfo{Name: testNodeUser, Groups: []string{nodeauth.NodesGroup}}
	alice := &user.DefaultInfo{Name: "alice"}
	for _, tc := range []struct {
		user   user.Info
		remote string
		want   string
	}{
		{admin, "10.0.0.1:1234", "user:admin"},
		{admin, "10.0.0.2:999", "user:admin"},
		{alice, "10.0.0.2:999", "user:alice"},
		{node, "10.0.0.1:1234", "user:" + testNodeUser},
		{node, "10.0.0.2:5678", "user:" + testNodeUser},
		{nil, "10.0.0.1:1", "none"},
	} {
		r := &http.Request{RemoteAddr: tc.remote}
		if got := clientKey(r, tc.user); got != tc.want {
			t.Errorf("clientKey(%v, %s) = %q, want %q", tc.user, tc.remote, got, tc.want)
		}
	}
}

func TestRequestKind(t *testing.T) {
	for _, tc := range []struct {
		method, target, want string
	}{
		{"GET", "/api/v1/namespaces/default/pods", kindReadOnly},
		{"GET", "/api/v1/namespaces/default/pods?watch=true", kindWatch},
		{"GET", "/api/v1/pods?watch=1&resourceVersion=5", kindWatch},
		{"GET", "/api/v1/namespaces/default/pods/p?watch=true", kindReadOnly}, // a get, as parsePath reads it
		{"GET", "/api/v1/namespaces/default/pods/p/log?follow=true", kindLongRunning},
		{"GET", "/api/v1/namespaces/default/pods/p/log", kindLongRunning},
		{"POST", "/api/v1/nodes/n1/images", kindLongRunning},
		{"POST", "/api/v1/namespaces/default/pods", kindMutating},
		{"PUT", "/api/v1/namespaces/default/pods/p", kindMutating},
		{"PATCH", "/api/v1/namespaces/default/pods/p", kindMutating},
		{"DELETE", "/api/v1/namespaces/default/pods/p", kindMutating},
		{"POST", "/api/v1/bogus", kindMutating},
		{"GET", "/api", kindReadOnly},
		{"GET", "/orch/v1/snapshot", kindReadOnly},
		{"POST", "/orch/v1/cluster/transfer-leader", kindMutating},
	} {
		u, err := url.Parse(tc.target)
		if err != nil {
			t.Fatal(err)
		}
		if got := requestKind(&http.Request{Method: tc.method, URL: u}); got != tc.want {
			t.Errorf("%s %s: kind %s, want %s", tc.method, tc.target, got, tc.want)
		}
	}
}

// rawConn is an HTTP/1.1 connection over TLS written by hand, to send
// incomplete requests.
type rawConn struct {
	conn *tls.Conn
	br   *bufio.Reader
}

func (e *testEnv) dialRaw(t *testing.T) *rawConn {
	t.Helper()
	cfg := e.tlsConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	conn, err := tls.Dial("tcp", strings.TrimPrefix(e.base, "https://"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{conn: conn, br: bufio.NewReader(conn)}
}

// response reads one response, failing if none comes within d.
func (c *rawConn) response(t *testing.T, d time.Duration) (*http.Response, []byte) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", d, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// expectClosed fails unless the server closes the connection within d.
func (c *rawConn) expectClosed(t *testing.T, d time.Duration) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	_, err := c.br.ReadByte()
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("the server did not close the connection within %v (read: %v)", d, err)
	}
}

// An unauthenticated request is answered at once, without waiting for a
// body that may never come, and its connection is closed.
func TestUnauthorizedBeforeBody(t *testing.T) {
	e := newTestEnv(t) // ReadTimeout is the default 60 s
	for _, tc := range []struct{ name, method, path, auth string }{
		{"no token", "POST", podPath(""), ""},
		{"bad token", "PUT", podPath("p"), "Authorization: Bearer wrong\r\n"},
		{"no token, node images", "POST", "/api/v1/nodes/n1/images", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.dialRaw(t)
			fmt.Fprintf(c.conn, "%s %s HTTP/1.1\r\nHost: orch\r\n%sContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{", tc.method, tc.path, tc.auth)
			start := time.Now()
			resp, body := c.response(t, 5*time.Second)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("HTTP %d %s, want 401", resp.StatusCode, body)
			}
			if st := decode[v1.Status](t, body); st.Reason != v1.ReasonUnauthorized {
				t.Errorf("status %+v", st)
			}
			if !resp.Close {
				t.Errorf("the 401 does not close the connection (Connection: %q)", resp.Header.Get("Connection"))
			}
			c.expectClosed(t, 5*time.Second)
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("the 401 and close took %v", d)
			}
		})
	}
}

// An authenticated body that trickles is cut by the server's ReadTimeout.
func TestTrickledBodyCutByReadTimeout(t *testing.T) {
	e := newTestEnv(t)
	le := e.serveAlso(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond }, nil)
	c := le.dialRaw(t)
	start := time.Now()
	fmt.Fprintf(c.conn, "POST %s HTTP/1.1\r\nHost: orch\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"metadata\":",
		podPath(""), e.bundle.AdminToken)
	resp, body := c.response(t, 5*time.Second)
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("HTTP %d %s, want 400 for a body cut short", resp.StatusCode, body)
	}
	c.expectClosed(t, 5*time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a trickled body held the connection %v with a ReadTimeout of 300ms", d)
	}
}

// A watch outlives the server's WriteTimeout.
func TestWatchOutlivesWriteTimeout(t *testing.T) {
	e := newTestEnv(t)
	const writeTimeout = 300 * time.Millisecond
	le := e.serveAlso(t, func(c *Config) {
		c.WriteTimeout, c.WatchBookmarkInterval = writeTimeout, 50*time.Millisecond
	}, nil)
	w := le.openWatch(t, podPath(""), url.Values{"resourceVersion": {"0"}, "allowWatchBookmarks": {"true"}})
	start := time.Now()
	for time.Since(start) < 4*writeTimeout {
		if ev := w.next(t); ev.Type != v1.Bookmark {
			t.Fatalf("event %s, want BOOKMARK", ev.Type)
		}
	}
	// Ordinary requests still have their deadline and still work.
	le.expectCode(t, http.StatusOK, http.MethodGet, podPath(""), nil)
}

// Every timeout of the http.Server is set, by default and when the
// config leaves it zero.
func TestHTTPServerTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
	}{
		{"defaults", nil},
		{"zero", func(c *Config) {
			c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout = 0, 0, 0, 0
		}},
		{"zero request timeout", func(c *Config) { *c = Config{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.change != nil {
				tc.change(&cfg)
			}
			cfg.AdminToken = "admin"
			s, err := New(cfg, stubBackend{})
			if err != nil {
				t.Fatal(err)
			}
			hs := s.httpServer(nil)
			for name, d := range map[string]time.Duration{"ReadHeaderTimeout": hs.ReadHeaderTimeout,
				"ReadTimeout": hs.ReadTimeout, "WriteTimeout": hs.WriteTimeout, "IdleTimeout": hs.IdleTimeout} {
				if d <= 0 {
					t.Errorf("%s = %v", name, d)
				}
			}
			if hs.WriteTimeout <= s.cfg.RequestTimeout {
				t.Errorf("WriteTimeout %v would cut requests inside their RequestTimeout %v", hs.WriteTimeout, s.cfg.RequestTimeout)
			}
		})
	}
}

// stubBackend serves no requests; it lets New build a server whose
// configuration a test inspects.
type stubBackend struct{ Backend }

func (stubBackend) InternalHandler() http.Handler { return http.NotFoundHandler() }
