package client

import (
	"context"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// TestHTTP2 checks that a client with HTTP2 set sends every request, a
// watch held open among them, over one HTTP/2 connection per server, and
// that without it each request in flight has an HTTP/1.1 connection of
// its own.
func TestHTTP2(t *testing.T) {
	for _, tt := range []struct {
		name      string
		http2     bool
		sharedCAs bool
		wantProto int
		wantConns func(n int64) bool
	}{
		{"http2", true, false, 2, func(n int64) bool { return n == 1 }},
		{"http2 with a shared CA pool", true, true, 2, func(n int64) bool { return n == 1 }},
		{"http/1.1", false, false, 1, func(n int64) bool { return n > 1 }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var conns atomic.Int64
			var protoMu sync.Mutex
			protos := map[int]int{}
			release := make(chan struct{})
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				protoMu.Lock()
				protos[r.ProtoMajor]++
				protoMu.Unlock()
				if r.URL.Query().Get("watch") == "true" {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusOK)
					http.NewResponseController(w).Flush()
					select {
					case <-release:
					case <-r.Context().Done():
					}
					return
				}
				writeJSON(w, http.StatusOK, testPod("p", "1"))
			}))
			srv.EnableHTTP2 = true
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.StartTLS()
			defer srv.Close()
			defer close(release)
			cfg := testConfig(t, srv, srv.URL)
			cfg.HTTP2 = tt.http2
			if tt.sharedCAs {
				pool := x509.NewCertPool()
				pool.AddCert(srv.Certificate())
				cfg.RootCAs, cfg.CertificateAuthorityData = pool, nil
			}
			c, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseAllConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			w, err := c.Watch(ctx, "pods", "default", WatchOptions{})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					var p v1.Pod
					if err := c.Get(ctx, "pods", "default", "p", &p); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
			protoMu.Lock()
			defer protoMu.Unlock()
			if protos[tt.wantProto] < 9 || len(protos) != 1 {
				t.Errorf("requests by HTTP major version %v, want 9 or more, all of HTTP/%d", protos, tt.wantProto)
			}
			if n := conns.Load(); !tt.wantConns(n) {
				t.Errorf("%d connections", n)
			}
		})
	}
}
