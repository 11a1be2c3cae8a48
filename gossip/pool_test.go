package gossip

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func testGossipKey(t *testing.T) []byte {
	t.Helper()
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	return key
}

// testGossipConfig is a loopback member with short timings.
func testGossipConfig(t *testing.T, name, role, api string, key []byte) Config {
	return Config{
		Name: name, BindAddr: "127.0.0.1:0", Key: key, Role: role, APIAddr: api,
		Logger:        slog.New(slog.NewTextHandler(newTestLogWriter(t), &slog.HandlerOptions{Level: slog.LevelWarn})),
		ProbeInterval: 100 * time.Millisecond, ProbeTimeout: 50 * time.Millisecond,
		GossipInterval: 50 * time.Millisecond, SuspicionMult: 2,
	}
}

// startGossip builds and starts a member; t.Cleanup shuts it down.
func startGossip(t *testing.T, cfg Config) *Pool {
	t.Helper()
	g, err := NewPool(cfg)
	if err != nil {
		t.Fatalf("new gossip %s: %v", cfg.Name, err)
	}
	if err := g.Start(testCtx(t, 10*time.Second)); err != nil {
		t.Fatalf("start gossip %s: %v", cfg.Name, err)
	}
	t.Cleanup(func() {
		if err := g.Shutdown(); err != nil {
			t.Errorf("shut down %s: %v", cfg.Name, err)
		}
	})
	return g
}

func joinGossip(t *testing.T, g *Pool, seed *Pool) {
	t.Helper()
	n, err := g.Join(testCtx(t, 10*time.Second), []string{seed.LocalAddr()})
	if err != nil || n != 1 {
		t.Fatalf("join %s via %s: %d answered, %v", g.cfg.Name, seed.cfg.Name, n, err)
	}
}

// memberStates summarizes a view as "name=state/role/api" for comparisons.
func memberStates(ms []Member) string {
	var parts []string
	for _, m := range ms {
		parts = append(parts, fmt.Sprintf("%s=%s/%s/%s", m.Name, m.State, m.Role, m.APIAddr))
	}
	return strings.Join(parts, " ")
}

// stateOf returns the state g sees name in ("" if unknown).
func stateOf(g *Pool, name string) MemberState {
	for _, m := range g.Members() {
		if m.Name == name {
			return m.State
		}
	}
	return ""
}

// threeMembers starts m1 and m2 (masters) and n1 (a node); m2 and n1 join via m1.
func threeMembers(t *testing.T, key []byte, m1cfg func(*Config)) (m1, m2, n1 *Pool) {
	t.Helper()
	c1 := testGossipConfig(t, "m1", RoleMaster, "https://127.0.0.1:6443", key)
	if m1cfg != nil {
		m1cfg(&c1)
	}
	m1 = startGossip(t, c1)
	m2 = startGossip(t, testGossipConfig(t, "m2", RoleMaster, "https://127.0.0.2:6443", key))
	n1 = startGossip(t, testGossipConfig(t, "n1", RoleNode, "", key))
	joinGossip(t, m2, m1)
	joinGossip(t, n1, m1)
	return m1, m2, n1
}

const threeAlive = "m1=alive/master/https://127.0.0.1:6443 m2=alive/master/https://127.0.0.2:6443 n1=alive/node/"

func TestGossipMembersSeeEachOtherAndTheMasters(t *testing.T) {
	m1, m2, n1 := threeMembers(t, testGossipKey(t), nil)
	for _, g := range []*Pool{m1, m2, n1} {
		waitFor(t, 10*time.Second, func() bool { return memberStates(g.Members()) == threeAlive },
			func() string {
				return fmt.Sprintf("%s sees %q, want %q", g.cfg.Name, memberStates(g.Members()), threeAlive)
			})
	}
	want := []string{"https://127.0.0.1:6443", "https://127.0.0.2:6443"}
	if got := n1.MasterClaims(); !slices.Equal(got, want) {
		t.Fatalf("node's MasterClaims %v, want %v", got, want)
	}
	for _, m := range n1.Members() {
		if m.Addr == "" || !strings.HasPrefix(m.Addr, "127.0.0.1:") {
			t.Fatalf("member %s has gossip address %q", m.Name, m.Addr)
		}
	}
	if m1.LocalAddr() == m2.LocalAddr() || !strings.HasPrefix(n1.LocalAddr(), "127.0.0.1:") {
		t.Fatalf("local addresses %s %s %s", m1.LocalAddr(), m2.LocalAddr(), n1.LocalAddr())
	}
	if m1.Dropped() != 0 {
		t.Fatalf("%d events dropped with a roomy buffer", m1.Dropped())
	}
}

// eventLog collects a member's events.
type eventLog struct {
	mu  sync.Mutex
	evs []Event
}

func collectEvents(t *testing.T, g *Pool) *eventLog {
	l := &eventLog{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-g.Events():
				l.mu.Lock()
				l.evs = append(l.evs, ev)
				l.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

// has reports whether an event of typ about name arrived.
func (l *eventLog) has(typ EventType, name string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range l.evs {
		if ev.Type == typ && ev.Member.Name == name {
			return true
		}
	}
	return false
}

// count returns how many events of typ about name arrived.
func (l *eventLog) count(typ EventType, name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ev := range l.evs {
		if ev.Type == typ && ev.Member.Name == name {
			n++
		}
	}
	return n
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var parts []string
	for _, ev := range l.evs {
		parts = append(parts, fmt.Sprintf("%s:%s(%s)", ev.Type, ev.Member.Name, ev.Member.State))
	}
	return strings.Join(parts, " ")
}

func TestGossipEventsJoinUpdateLeaveFail(t *testing.T) {
	key := testGossipKey(t)
	m1 := startGossip(t, testGossipConfig(t, "m1", RoleMaster, "https://127.0.0.1:6443", key))
	evs := collectEvents(t, m1)
	leaver := startGossip(t, testGossipConfig(t, "leaver", RoleNode, "", key))
	crasher := startGossip(t, testGossipConfig(t, "crasher", RoleNode, "", key))
	joinGossip(t, leaver, m1)
	joinGossip(t, crasher, m1)
	crasherAddr := crasher.LocalAddr()

	for _, name := range []string{"m1", "leaver", "crasher"} {
		waitFor(t, 10*time.Second, func() bool { return evs.has(EventJoin, name) },
			func() string { return "no join event for " + name + "; got " + evs.String() })
	}

	// A graceful leave: the leaving flag arrives as an update, then the leave.
	if err := leaver.Leave(5 * time.Second); err != nil {
		t.Fatalf("leave: %v", err)
	}
	if err := leaver.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return evs.has(EventLeave, "leaver") },
		func() string { return "no leave event; got " + evs.String() })
	if !evs.has(EventUpdate, "leaver") {
		t.Fatalf("no update event before the leave; got %s", evs)
	}
	if evs.has(EventFail, "leaver") {
		t.Fatalf("a graceful leave was reported as a failure: %s", evs)
	}
	if s := stateOf(m1, "leaver"); s != MemberLeft {
		t.Fatalf("leaver is %q in m1's view, want left", s)
	}

	// A crash: no leave, the probes find it dead.
	if err := crasher.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return evs.has(EventFail, "crasher") },
		func() string { return "no fail event; got " + evs.String() })
	if evs.has(EventLeave, "crasher") {
		t.Fatalf("a crash was reported as a leave: %s", evs)
	}
	if s := stateOf(m1, "crasher"); s != MemberDead {
		t.Fatalf("crasher is %q in m1's view, want dead", s)
	}
	if got := m1.MasterClaims(); !slices.Equal(got, []string{"https://127.0.0.1:6443"}) {
		t.Fatalf("MasterClaims %v", got)
	}

	// The crashed member restarts on its address: a join again. (On
	// another address memberlist refuses its name until it forgets the
	// dead member, after GossipToTheDeadTime.)
	cfg := testGossipConfig(t, "crasher", RoleNode, "", key)
	cfg.BindAddr = crasherAddr
	back := startGossip(t, cfg)
	joinGossip(t, back, m1)
	waitFor(t, 10*time.Second, func() bool { return stateOf(m1, "crasher") == MemberAlive },
		func() string { return "crasher did not come back; m1 sees " + memberStates(m1.Members()) })
	waitFor(t, 10*time.Second, func() bool { return evs.count(EventJoin, "crasher") == 2 },
		func() string { return "no second join event for crasher; got " + evs.String() })
}

func TestGossipWrongKeyCannotJoin(t *testing.T) {
	m1 := startGossip(t, testGossipConfig(t, "m1", RoleMaster, "https://127.0.0.1:6443", testGossipKey(t)))
	intruder := startGossip(t, testGossipConfig(t, "intruder", RoleNode, "", testGossipKey(t)))
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, err := intruder.Join(ctx, []string{m1.LocalAddr()})
	if err == nil || n != 0 {
		t.Fatalf("join with the wrong key: %d answered, err %v; want an error", n, err)
	}
	if got := memberStates(m1.Members()); got != "m1=alive/master/https://127.0.0.1:6443" {
		t.Fatalf("m1 sees %q after a join with the wrong key", got)
	}
	if got := memberStates(intruder.Members()); got != "intruder=alive/node/" {
		t.Fatalf("intruder sees %q", got)
	}
}

func TestGossipJoinWithoutOtherSeeds(t *testing.T) {
	g := startGossip(t, testGossipConfig(t, "m1", RoleMaster, "https://127.0.0.1:6443", testGossipKey(t)))
	n, err := g.Join(testCtx(t, time.Second), []string{g.LocalAddr(), " "})
	if err != nil || n != 0 {
		t.Fatalf("join with only itself as seed: %d, %v; want 0, nil", n, err)
	}
}

// reconcileOnly hides a source's events, so a Liveness over it learns
// everything from its periodic reconcile.
type reconcileOnly struct{ *Pool }

func (reconcileOnly) Events() <-chan Event { return nil }

func TestGossipEventOverflowDropsAndReconcileConverges(t *testing.T) {
	key := testGossipKey(t)
	// Nobody reads m1's one-slot buffer: its own join fills it.
	m1, _, _ := threeMembers(t, key, func(c *Config) { c.EventBuffer = 1 })
	n2 := startGossip(t, testGossipConfig(t, "n2", RoleNode, "", key))
	joinGossip(t, n2, m1)
	waitFor(t, 10*time.Second, func() bool { return len(m1.Members()) == 4 },
		func() string { return "m1 sees " + memberStates(m1.Members()) })
	if m1.Dropped() == 0 {
		t.Fatal("no event dropped with a full one-slot buffer")
	}

	l := NewLiveness(reconcileOnly{m1}, nil, 20*time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	for _, name := range []string{"m1", "m2", "n1", "n2"} {
		waitFor(t, 10*time.Second, func() bool { a, k := l.Alive(name); return a && k },
			func() string { return name + " not alive in the liveness view" })
	}
	if err := n2.Shutdown(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { a, k := l.Alive("n2"); return !a && k },
		func() string { return "n2 still alive in the liveness view; m1 sees " + memberStates(m1.Members()) })
	if a, k := l.Alive("n1"); !a || !k {
		t.Fatalf("n1: alive %v known %v", a, k)
	}
}

func TestNewGossipValidates(t *testing.T) {
	key := make([]byte, KeySize)
	ok := Config{Name: "m1", BindAddr: "127.0.0.1:0", Key: key, Role: RoleMaster, APIAddr: "https://127.0.0.1:6443"}
	tests := []struct {
		name    string
		change  func(*Config)
		wantErr string
	}{
		{"valid master", func(*Config) {}, ""},
		{"valid node on all addresses", func(c *Config) { c.Role, c.APIAddr, c.BindAddr = RoleNode, "", ":7946" }, ""},
		{"no name", func(c *Config) { c.Name = "" }, "name is required"},
		{"no key", func(c *Config) { c.Key = nil }, "key is 0 bytes"},
		{"short key", func(c *Config) { c.Key = make([]byte, 16) }, "key is 16 bytes"},
		{"bad role", func(c *Config) { c.Role = "worker" }, "role"},
		{"master without API", func(c *Config) { c.APIAddr = "" }, "needs its API address"},
		{"node with API", func(c *Config) { c.Role = RoleNode }, "advertises no API"},
		{"host name", func(c *Config) { c.BindAddr = "localhost:0" }, "must be an IP"},
		{"no port", func(c *Config) { c.BindAddr = "127.0.0.1" }, "bind address"},
		{"advertise without IP", func(c *Config) { c.AdvertiseAddr = ":7946" }, "advertise address"},
		{"metadata too long", func(c *Config) { c.APIAddr = "https://" + strings.Repeat("a", 600) }, "metadata"},
		{"probe timeout too long", func(c *Config) { c.ProbeInterval, c.ProbeTimeout = time.Second, time.Second }, "probe timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.change(&cfg)
			_, err := NewPool(cfg)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestGossipBeforeStart(t *testing.T) {
	g, err := NewPool(Config{Name: "n1", BindAddr: "127.0.0.1:0", Key: make([]byte, KeySize), Role: RoleNode})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.Join(context.Background(), []string{"127.0.0.1:1"}); err == nil {
		t.Fatal("join before start succeeded")
	}
	if g.LocalAddr() != "" || len(g.Members()) != 0 || g.Shutdown() != nil {
		t.Fatal("a member that never started has state")
	}
}

func TestMemberlistLogWriterLevels(t *testing.T) {
	var mu sync.Mutex
	var got []string
	h := &recordHandler{record: func(r slog.Record) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, r.Level.String()+" "+r.Message)
	}}
	w := &memberlistLogWriter{logger: slog.New(h)}
	for _, line := range []string{"[DEBUG] memberlist: a\n", "[WARN] memberlist: b\n", "[ERR] memberlist: c\n", "[INFO] memberlist: d\n", "plain\n"} {
		if _, err := w.Write([]byte(line)); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"DEBUG a", "WARN b", "ERROR c", "INFO d", "INFO plain"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// recordHandler passes every record to record.
type recordHandler struct{ record func(slog.Record) }

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.record(r)
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

func TestGossipAfterShutdown(t *testing.T) {
	g := startGossip(t, testGossipConfig(t, "n1", RoleNode, "", testGossipKey(t)))
	if err := g.Shutdown(); err != nil {
		t.Fatal(err)
	}
	// memberlist panics on Leave after Shutdown; Gossip returns errors.
	if err := g.Leave(time.Second); err == nil {
		t.Fatal("leave after shutdown succeeded")
	}
	if _, err := g.Join(context.Background(), []string{"127.0.0.1:1"}); err == nil {
		t.Fatal("join after shutdown succeeded")
	}
	if err := g.Shutdown(); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}
