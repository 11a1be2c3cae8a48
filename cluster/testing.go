package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"runtime/pprof"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"orch.io/orch/pki"
)

// This file holds helpers for tests of this and other packages.

// TestOptions changes how NewTestGroup starts its members.
type TestOptions struct {
	// Setup, if set, runs on each member after New and before Run: register
	// OnLeader routines here.
	Setup func(c *Cluster)
	// WrapHandler, if set, wraps each member's internal handler, e.g. to
	// count the requests the other members send it.
	WrapHandler func(id string, h http.Handler) http.Handler
	// RaftTimeout is the heartbeat, election and leader lease timeout
	// (default 50 ms). Tests that load the machine for seconds can raise
	// it so that a scheduling stall does not cost the leader its lease.
	RaftTimeout time.Duration
	// LogStore is the members' Raft log store (Config.LogStore; "": raft-wal).
	LogStore string
}

// TestGroup is a group of masters started by NewTestGroup.
type TestGroup struct {
	// Members are m1..mn, in order.
	Members []*TestMember
	// Bundle is the group's PKI directory (its CA and tokens); each member
	// has its own certificate in it (pki.LoadMaster(Bundle.Dir, "m1")).
	Bundle *pki.Bundle
}

// TestMember is one master of a TestGroup: a real Cluster whose internal
// endpoints are served over HTTPS at APIAddr.
type TestMember struct {
	*Cluster
	// APIAddr is the loopback address of its internal endpoints (Config.APIAddr).
	APIAddr string

	stopped  atomic.Bool
	stopOnce sync.Once
	stop     func()
}

// Stop stops the member as the daemon does (Run, then the internal
// endpoints, then Raft), without handing leadership over first. Leader
// routines have returned when Stop returns. Stop is idempotent.
func (m *TestMember) Stop() {
	m.stopOnce.Do(func() {
		m.stopped.Store(true)
		m.stop()
	})
}

// Stopped reports whether Stop was called.
func (m *TestMember) Stopped() bool { return m.stopped.Load() }

// TestCluster starts n masters (see NewTestGroup) and returns them once one
// of them has established leadership.
func TestCluster(t testing.TB, n int) []*Cluster {
	t.Helper()
	g := NewTestGroup(t, n, TestOptions{})
	out := make([]*Cluster, len(g.Members))
	for i, m := range g.Members {
		out[i] = m.Cluster
	}
	return out
}

// NewTestGroup starts n real masters on loopback: Raft over mutual TLS on
// free ports with 50 ms timeouts (see TestOptions.RaftTimeout), raft-boltdb
// in t.TempDir(), credentials from pki.Init, and each member's internal
// endpoints served over HTTPS on its own listener. It returns once a leader has established leadership and
// every member knows its API address. t.Cleanup stops every member.
func NewTestGroup(t testing.TB, n int, opts TestOptions) *TestGroup {
	t.Helper()
	pkiDir := t.TempDir()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("m%d", i+1)
	}
	if err := pki.Init(pki.InitOptions{Dir: pkiDir, Hosts: []string{"127.0.0.1"}, Masters: names}); err != nil {
		t.Fatalf("pki init: %v", err)
	}
	bundle, err := pki.Load(pkiDir)
	if err != nil {
		t.Fatalf("pki load: %v", err)
	}
	logw := newTestLogWriter(t)
	var g *TestGroup
	// Raft binds the address it advertises, so its ports are picked free
	// and bound a moment later; another process may take one in between.
	for attempt := 1; ; attempt++ {
		g, err = startTestGroup(t, n, bundle, logw, opts)
		if err == nil {
			break
		}
		if attempt == 3 || !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("start test cluster (attempt %d): %v", attempt, err)
		}
		t.Logf("start test cluster: %v; retrying with other ports", err)
	}
	t.Cleanup(func() {
		var wg sync.WaitGroup
		for _, m := range g.Members {
			wg.Add(1)
			go func() { defer wg.Done(); m.Stop() }()
		}
		stopped := make(chan struct{})
		go func() { wg.Wait(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(30 * time.Second):
			// A wedged Raft goroutine would otherwise hang the package
			// until its -timeout; report what is stuck and move on.
			var b strings.Builder
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Errorf("the members did not stop within 30s; goroutines:\n%s", b.String())
		}
	})
	g.WaitLeader(t)
	return g
}

func startTestGroup(t testing.TB, n int, bundle *pki.Bundle, logw *testLogWriter, opts TestOptions) (_ *TestGroup, err error) {
	type memberTLS struct{ peerServer, peerClient, api *tls.Config }
	tlsOf := make([]memberTLS, n)
	for i := range n {
		mb, err := pki.LoadMaster(bundle.Dir, fmt.Sprintf("m%d", i+1))
		if err != nil {
			return nil, err
		}
		m := &tlsOf[i]
		if m.peerServer, err = mb.PeerServerTLS(); err != nil {
			return nil, err
		}
		if m.peerClient, err = mb.PeerClientTLS(); err != nil {
			return nil, err
		}
		if m.api, err = mb.APIServerTLS(); err != nil {
			return nil, err
		}
	}
	lns := make([]net.Listener, n)
	defer func() {
		if err != nil {
			for _, ln := range lns {
				if ln != nil {
					ln.Close()
				}
			}
		}
	}()
	for i := range n {
		if lns[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, err
		}
	}
	// Raft binds the address it advertises: hold n distinct free ports,
	// then release them for New to bind.
	peers := make([]Peer, n)
	holds := make([]net.Listener, n)
	for i := range n {
		if holds[i], err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			for _, h := range holds[:i] {
				h.Close()
			}
			return nil, err
		}
		peers[i] = Peer{ID: fmt.Sprintf("m%d", i+1), RaftAddr: holds[i].Addr().String()}
	}
	for _, h := range holds {
		h.Close()
	}
	g := &TestGroup{Bundle: bundle}
	cs := make([]*Cluster, n)
	for i := range n {
		cfg := DefaultConfig()
		cfg.ID, cfg.RaftAddr, cfg.APIAddr, cfg.DataDir = peers[i].ID, peers[i].RaftAddr, lns[i].Addr().String(), t.TempDir()
		cfg.LogStore = opts.LogStore
		cfg.InitialCluster = peers
		cfg.ServerTLS, cfg.ClientTLS = tlsOf[i].peerServer, tlsOf[i].peerClient
		rt := opts.RaftTimeout
		if rt == 0 {
			rt = 50 * time.Millisecond
		}
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = rt, rt, rt
		// Followers learn the commit index within 5-10 ms, not 20-40 ms.
		cfg.CommitTimeout = 5 * time.Millisecond
		cfg.ApplyTimeout = 5 * time.Second
		cfg.FeedSize = 1000
		cfg.Logger = slog.New(slog.NewTextHandler(logw, &slog.HandlerOptions{Level: slog.LevelWarn})).With("master", peers[i].ID)
		cs[i], err = New(cfg)
		if err != nil {
			for _, c := range cs[:i] {
				c.Shutdown()
			}
			return nil, fmt.Errorf("member %s: %w", peers[i].ID, err)
		}
	}
	for i, c := range cs {
		if opts.Setup != nil {
			opts.Setup(c)
		}
		var h http.Handler = c.InternalHandler()
		if opts.WrapHandler != nil {
			h = opts.WrapHandler(c.ID(), h)
		}
		srv := &http.Server{Handler: h, TLSConfig: tlsOf[i].api, ReadHeaderTimeout: 5 * time.Second,
			ReadTimeout: 30 * time.Second, WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute,
			ErrorLog: log.New(logw, c.ID()+" internal http: ", 0)}
		served := make(chan struct{})
		go func() {
			defer close(served)
			srv.ServeTLS(lns[i], "", "")
		}()
		ctx, cancel := context.WithCancel(context.Background())
		ran := make(chan struct{})
		go func() {
			defer close(ran)
			c.Run(ctx)
		}()
		g.Members = append(g.Members, &TestMember{Cluster: c, APIAddr: lns[i].Addr().String(), stop: func() {
			cancel()
			<-ran
			srv.Close()
			<-served
			if err := c.Shutdown(); err != nil {
				t.Logf("shut down %s: %v", c.ID(), err)
			}
		}})
	}
	return g, nil
}

// WaitLeader waits (up to 15 s) until one running member has established
// leadership and every running member resolves its API address, and
// returns it.
func (g *TestGroup) WaitLeader(t testing.TB) *TestMember {
	t.Helper()
	var leader *TestMember
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		leader = nil
		for _, m := range g.Members {
			if !m.Stopped() && m.IsLeader() && m.isEstablished() {
				leader = m
			}
		}
		if leader != nil && g.allResolve(leader) {
			return leader
		}
		if time.Now().After(deadline) {
			t.Fatalf("no established leader known to every member within 15s")
		}
		<-tick.C
	}
}

func (g *TestGroup) allResolve(leader *TestMember) bool {
	for _, m := range g.Members {
		if m.Stopped() {
			continue
		}
		if addr, ok := m.LeaderAPIAddr(); !ok || addr != leader.APIAddr {
			return false
		}
	}
	return true
}

// WaitRegistered waits (up to 15 s) until every running member's store
// holds its own addresses as it registered them (registerSelf): from then
// on no member forwards its registration, so a test that counts forwarded
// requests sees only its own.
func (g *TestGroup) WaitRegistered(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for _, m := range g.Members {
			if m.Stopped() {
				continue
			}
			if got, ok := m.Store().Master(m.ID()); !ok || got != m.self() {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the members did not all register their addresses within 15s")
		}
		<-tick.C
	}
}

// Followers returns the running members other than leader.
func (g *TestGroup) Followers(leader *TestMember) []*TestMember {
	var out []*TestMember
	for _, m := range g.Members {
		if m != leader && !m.Stopped() {
			out = append(out, m)
		}
	}
	return out
}

// testLogWriter sends log lines to t.Log until the test's cleanup has run
// (logging after a test ends would panic).
type testLogWriter struct {
	t    testing.TB
	mu   sync.Mutex
	done bool
}

func newTestLogWriter(t testing.TB) *testLogWriter {
	w := &testLogWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return w
}

func (w *testLogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}
