package agentserver

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// rawConn is an HTTP/1.1 connection over TLS written by hand, to send
// incomplete requests.
type rawConn struct {
	conn *tls.Conn
	br   *bufio.Reader
}

func (a *testAgent) dialRaw(t *testing.T) *rawConn {
	t.Helper()
	cfg := pinnedTLS(a.s.CertSHA256())
	cfg.Certificates = []tls.Certificate{a.certs[asMaster]}
	conn, err := tls.Dial("tcp", a.s.Addr(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return &rawConn{conn: conn, br: bufio.NewReader(conn)}
}

// response reads one response, failing if none comes within d.
func (c *rawConn) response(t *testing.T, d time.Duration) (*http.Response, string) {
	t.Helper()
	c.conn.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("no response within %v: %v", d, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
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

// The handler on its own (without the TLS listener that refuses other
// callers) answers a request that proved no master certificate 401 at
// once, without reading its body, and closes the connection.
func TestHandlerRefusesWithoutMasterCertificate(t *testing.T) {
	a := newTestAgent(t)
	for _, tc := range []struct {
		name string
		tls  *tls.ConnectionState
	}{
		{"no TLS", nil},
		{"no client certificate", &tls.ConnectionState{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/images", strings.NewReader("img"))
			req.TLS = tc.tls
			rec := httptest.NewRecorder()
			a.s.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized || rec.Header().Get("Connection") != "close" {
				t.Fatalf("HTTP %d (Connection %q) %s, want 401 and close", rec.Code, rec.Header().Get("Connection"), rec.Body)
			}
			if n := a.importCount(); n != 0 {
				t.Errorf("%d imports", n)
			}
		})
	}
}

func (a *testAgent) importCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.imports)
}

// An upload whose body stalls is cut by the read timeout, although the
// upload as a whole may take much longer.
func TestTrickledUploadCutByReadTimeout(t *testing.T) {
	a := newTestAgent(t, func(c *Config) { c.ReadTimeout = 300 * time.Millisecond })
	c := a.dialRaw(t)
	start := time.Now()
	fmt.Fprint(c.conn, "POST /images HTTP/1.1\r\nHost: agent\r\nContent-Type: application/x-tar\r\nContent-Length: 1000\r\n\r\nsome bytes")
	resp, body := c.response(t, 5*time.Second)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "read request body") {
		t.Errorf("HTTP %d %s, want 400 naming the body", resp.StatusCode, body)
	}
	c.expectClosed(t, 5*time.Second)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("a stalled body held the connection %v with a ReadTimeout of 300ms", d)
	}
	if n := a.importCount(); n != 0 {
		t.Errorf("%d imports of a cut body", n)
	}
}

// An import slower than the WriteTimeout still gets its answer.
func TestSlowImportOutlivesWriteTimeout(t *testing.T) {
	const writeTimeout = 200 * time.Millisecond
	a := newTestAgent(t, func(c *Config) {
		c.WriteTimeout = writeTimeout
		imp := c.Import
		c.Import = func(ctx context.Context, r io.Reader) ([]string, error) {
			names, err := imp(ctx, r)
			// The runtime's import takes a while (a fixed delay inside the
			// fake runtime, not a wait for something to happen).
			select {
			case <-time.After(3 * writeTimeout):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return names, err
		}
	})
	resp := a.request(t, http.MethodPost, "/images", asMaster, strings.NewReader("img"), "application/x-tar")
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "test:img") {
		t.Fatalf("HTTP %d %s %v", resp.StatusCode, b, err)
	}
}

// A followed log keeps streaming past the WriteTimeout.
func TestFollowedLogOutlivesWriteTimeout(t *testing.T) {
	const writeTimeout = 200 * time.Millisecond
	a := newTestAgent(t, func(c *Config) { c.WriteTimeout = writeTimeout })
	a.addPod("default", "p", "uid1")
	path := a.writeLog(t, "uid1", "c", 0, "", "line 0\n")
	a.setRunning("uid1", "c", 0, true)
	ls := a.follow(t, "/pods/default/p/log?follow=true")
	ls.expect(t, "line 0\n")
	start := time.Now()
	for i := 1; time.Since(start) < 4*writeTimeout; i++ {
		appendFile(t, path, fmt.Sprintf("line %d\n", i))
		ls.expect(t, fmt.Sprintf("line %d\n", i))
	}
}

// Every timeout and the connection limit are set, by default and when the
// config leaves them zero.
func TestHTTPServerTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(*Config)
		conns  int
	}{
		{"defaults", nil, DefaultMaxConnections},
		{"set", func(c *Config) {
			c.ReadHeaderTimeout, c.ReadTimeout, c.WriteTimeout, c.IdleTimeout = time.Second, 2*time.Second, 3*time.Second, 4*time.Second
			c.ImageUploadTimeout, c.MaxConnections = time.Minute, 7
		}, 7},
		{"no connection limit", func(c *Config) { c.MaxConnections = -1 }, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Addr: "127.0.0.1:0", PodsDir: t.TempDir(), Lookup: func(string, string) (string, bool) { return "", false }}
			if tc.change != nil {
				tc.change(&cfg)
			}
			s, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			hs := s.httpServer()
			for name, d := range map[string]time.Duration{"ReadHeaderTimeout": hs.ReadHeaderTimeout,
				"ReadTimeout": hs.ReadTimeout, "WriteTimeout": hs.WriteTimeout, "IdleTimeout": hs.IdleTimeout,
				"ImageUploadTimeout": s.cfg.ImageUploadTimeout} {
				if d <= 0 {
					t.Errorf("%s = %v", name, d)
				}
			}
			if tc.change != nil && tc.conns > 0 && (hs.ReadTimeout != 2*time.Second || hs.WriteTimeout != 3*time.Second) {
				t.Errorf("configured timeouts not used: %+v", hs)
			}
			if s.cfg.MaxConnections != tc.conns {
				t.Errorf("MaxConnections = %d, want %d", s.cfg.MaxConnections, tc.conns)
			}
		})
	}
}

// Beyond MaxConnections a connection is not served until another closes.
func TestConnectionLimit(t *testing.T) {
	a := newTestAgent(t, func(c *Config) { c.MaxConnections = 1 })
	first := a.dialRaw(t)
	fmt.Fprint(first.conn, "GET /pods/default/none/log HTTP/1.1\r\nHost: agent\r\n\r\n")
	if resp, body := first.response(t, 5*time.Second); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("first connection: HTTP %d %s", resp.StatusCode, body)
	}
	// The second connection's handshake waits: nobody accepts it.
	raw, err := net.Dial("tcp", a.s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	second := tls.Client(raw, pinnedTLS(a.s.CertSHA256()))
	raw.SetDeadline(time.Now().Add(300 * time.Millisecond))
	var ne net.Error
	if err := second.Handshake(); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("second connection's handshake: %v, want a timeout while the first is open", err)
	}
	// Once the first closes, a new connection is served (the waiting one
	// is given up first, or the server would wait for its handshake).
	raw.Close()
	first.conn.Close()
	code, _ := a.get(t, "/pods/default/none/log")
	if code != http.StatusNotFound {
		t.Fatalf("after the first closed: HTTP %d", code)
	}
}
