package client

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

func podHandler(hits *atomic.Int32) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Header.Get("Authorization") != "Bearer secret" {
			writeStatus(w, v1.NewUnauthorized("no token"))
			return
		}
		switch r.Method {
		case http.MethodGet:
			writeJSON(w, http.StatusOK, testPod("web", "7"))
		case http.MethodPost:
			var p v1.Pod
			_ = readJSON(r, &p)
			p.UID, p.ResourceVersion = "uid-1", "8"
			writeJSON(w, http.StatusCreated, &p)
		default:
			writeStatus(w, v1.NewMethodNotAllowed(r.Method))
		}
	})
}

func readJSON(r *http.Request, v any) error {
	b, err := io.ReadAll(r.Body)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

func TestFailoverFromClosedServer(t *testing.T) {
	var hits atomic.Int32
	live := httptest.NewTLSServer(podHandler(&hits))
	defer live.Close()
	c := newTestClient(t, live, deadURL(t), live.URL)

	var p v1.Pod
	if err := c.Get(testCtx(t), "pods", "default", "web", &p); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if p.Name != "web" || p.ResourceVersion != "7" {
		t.Fatalf("got %+v", p.ObjectMeta)
	}
	// A write whose connection was refused was never sent: it fails over too.
	c.preferred.Store(0)
	np := testPod("new", "")
	if err := c.Create(testCtx(t), np); err != nil {
		t.Fatalf("Create: %v", err)
	}
	if np.UID != "uid-1" {
		t.Fatalf("Create did not fill the object: %+v", np.ObjectMeta)
	}
	// The live server is now preferred: the next request goes straight there.
	if got := c.preferred.Load(); got != 1 {
		t.Fatalf("preferred = %d, want 1", got)
	}
}

// TestFailoverFromHungServer: a server that accepts TCP but never completes
// the TLS handshake is skipped after the handshake timeout, well under 1 s.
func TestFailoverFromHungServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, conn)
			mu.Unlock()
		}
	}()
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range held {
			c.Close()
		}
		mu.Unlock()
	}()
	var hits atomic.Int32
	live := httptest.NewTLSServer(podHandler(&hits))
	defer live.Close()
	c := newTestClient(t, live, "https://"+ln.Addr().String(), live.URL)

	start := time.Now()
	var p v1.Pod
	if err := c.Get(testCtx(t), "pods", "default", "web", &p); err != nil {
		t.Fatalf("Get: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("failover took %v", d)
	}
}

func TestServiceUnavailableThenSuccess(t *testing.T) {
	t.Run("next server", func(t *testing.T) {
		var hits1, hits2 atomic.Int32
		s1 := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			hits1.Add(1)
			writeStatus(w, v1.NewServiceUnavailable("no leader"))
		}))
		defer s1.Close()
		s2 := httptest.NewTLSServer(podHandler(&hits2))
		defer s2.Close()
		c := newTestClient(t, s1, s1.URL, s2.URL)
		if err := c.Create(testCtx(t), testPod("web", "")); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if hits1.Load() != 1 || hits2.Load() != 1 {
			t.Fatalf("hits = %d, %d; want 1, 1", hits1.Load(), hits2.Load())
		}
	})
	t.Run("same server after backoff", func(t *testing.T) {
		var n atomic.Int32
		var hits atomic.Int32
		ok := podHandler(&hits)
		s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) <= 2 {
				writeStatus(w, v1.NewServiceUnavailable("no leader"))
				return
			}
			ok.ServeHTTP(w, r)
		}))
		defer s.Close()
		c := newTestClient(t, s, s.URL)
		if err := c.Create(testCtx(t), testPod("web", "")); err != nil {
			t.Fatalf("Create: %v", err)
		}
		if n.Load() != 3 {
			t.Fatalf("attempts = %d, want 3", n.Load())
		}
	})
	t.Run("gives up with the 503", func(t *testing.T) {
		s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeStatus(w, v1.NewServiceUnavailable("no leader"))
		}))
		defer s.Close()
		cfg := testConfig(t, s, s.URL)
		cfg.FailoverRounds = 2
		c, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		err = c.Create(testCtx(t), testPod("web", ""))
		if v1.ReasonOf(err) != v1.ReasonServiceUnavailable || IsUnknownOutcome(err) {
			t.Fatalf("err = %v, want ServiceUnavailable", err)
		}
	})
}

func TestUnreachable(t *testing.T) {
	var hits atomic.Int32
	ca := httptest.NewTLSServer(podHandler(&hits))
	defer ca.Close()
	d1, d2 := deadURL(t), deadURL(t)
	cfg := testConfig(t, ca, d1, d2)
	cfg.FailoverRounds = 2
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = c.Create(testCtx(t), testPod("web", ""))
	var ue *UnreachableError
	if !errors.As(err, &ue) {
		t.Fatalf("err = %v, want *UnreachableError", err)
	}
	if len(ue.Servers) != 2 || ue.Servers[0] != d1 || ue.Servers[1] != d2 {
		t.Fatalf("servers = %v", ue.Servers)
	}
	if IsUnknownOutcome(err) {
		t.Fatal("a refused connection must not be an unknown outcome")
	}

	// A cancelled context stops the cycling.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Get(ctx, "pods", "default", "web", &v1.Pod{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// hangUp answers nothing: it reads the request and closes the connection.
func hangUp(w http.ResponseWriter, r *http.Request) {
	_, _ = io.ReadAll(r.Body)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

func TestUnknownOutcome(t *testing.T) {
	var hits1, hits2 atomic.Int32
	s1 := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits1.Add(1)
		hangUp(w, r)
	}))
	defer s1.Close()
	s2 := httptest.NewTLSServer(podHandler(&hits2))
	defer s2.Close()
	c := newTestClient(t, s1, s1.URL, s2.URL)

	t.Run("write sent, answer lost", func(t *testing.T) {
		c.preferred.Store(0)
		err := c.Create(testCtx(t), testPod("web", ""))
		if !IsUnknownOutcome(err) {
			t.Fatalf("err = %v, want unknown outcome", err)
		}
		if hits2.Load() != 0 {
			t.Fatal("a sent write was retried on another server")
		}
	})
	t.Run("read retried", func(t *testing.T) {
		c.preferred.Store(0)
		if err := c.Get(testCtx(t), "pods", "default", "web", &v1.Pod{}); err != nil {
			t.Fatalf("Get: %v", err)
		}
		if hits2.Load() != 1 {
			t.Fatalf("second server hits = %d, want 1", hits2.Load())
		}
	})
	t.Run("504 on a write", func(t *testing.T) {
		s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			writeStatus(w, v1.NewTimeout("raft apply timed out"))
		}))
		defer s.Close()
		c := newTestClient(t, s, s.URL)
		err := c.Create(testCtx(t), testPod("web", ""))
		if !IsUnknownOutcome(err) || v1.ReasonOf(err) != v1.ReasonTimeout {
			t.Fatalf("err = %v, want unknown outcome carrying the Timeout status", err)
		}
		if err := c.Get(testCtx(t), "pods", "default", "web", &v1.Pod{}); IsUnknownOutcome(err) || v1.CodeOf(err) != 504 {
			t.Fatalf("Get err = %v, want a plain 504 StatusError", err)
		}
	})
	t.Run("context ends after the write was sent", func(t *testing.T) {
		release := make(chan struct{})
		s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body)
			// Not r.Context(): the client's close would end it and the
			// empty answer could race the client's own deadline.
			<-release
		}))
		defer s.Close()
		defer close(release)
		c := newTestClient(t, s, s.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		if err := c.Create(ctx, testPod("web", "")); !IsUnknownOutcome(err) {
			t.Fatalf("err = %v, want unknown outcome", err)
		}
	})
}

func TestSetServers(t *testing.T) {
	live := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, testPod("p", "7"))
	}))
	t.Cleanup(live.Close)
	c := newTestClient(t, live, deadURL(t))
	var p v1.Pod
	if err := c.Get(testCtx(t), "pods", "default", "p", &p); err == nil {
		t.Fatal("get from a dead server succeeded")
	}
	if err := c.SetServers(nil); err == nil {
		t.Fatal("SetServers accepted an empty list")
	}
	if err := c.SetServers([]string{"ftp://x"}); err == nil {
		t.Fatal("SetServers accepted a bad URL")
	}
	if got := c.Servers(); len(got) != 1 || got[0] == live.URL {
		t.Fatalf("a refused SetServers changed the servers: %v", got)
	}
	if err := c.SetServers([]string{deadURL(t), live.URL}); err != nil {
		t.Fatal(err)
	}
	if err := c.Get(testCtx(t), "pods", "default", "p", &p); err != nil || p.ResourceVersion != "7" {
		t.Fatalf("get after SetServers: %v %v", p.ResourceVersion, err)
	}
}
