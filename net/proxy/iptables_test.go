package proxy

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-iptables/iptables"
	v1 "orch.io/orch/api/v1"
)

// fixture is a small but varied service set: multi-port NodePort, UDP with
// affinity, a service without endpoints.
func fixture() ([]*v1.Service, []*v1.Endpoints) {
	return []*v1.Service{
			svc("default", "web", "10.96.0.10", svcPort{"http", "TCP", 80, 30080}, svcPort{"dns", "UDP", 53, 30053}),
			withAffinity(svc("default", "sticky", "10.96.0.11", svcPort{"", "TCP", 443, 0}), 60),
			svc("default", "empty", "10.96.0.12", svcPort{"", "TCP", 80, 30099}),
		}, []*v1.Endpoints{
			eps("default", "web", []string{"10.244.1.10", "10.244.1.11"}, svcPort{"http", "TCP", 8080, 0}, svcPort{"dns", "UDP", 5353, 0}),
			eps("default", "sticky", []string{"10.244.1.12", "10.244.1.13", "10.244.1.14"}, svcPort{"", "TCP", 8443, 0}),
		}
}

func newTestProxier(t *testing.T, ns string) *Proxier {
	t.Helper()
	p, err := New(Config{ClusterCIDR: clusterCIDR, NetNS: ns, MinSyncInterval: 50 * time.Millisecond, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// requireJumps checks there is exactly one jump rule of ours per built-in chain.
func requireJumps(t *testing.T, got []jumpRule) {
	t.Helper()
	var g, w []string
	for _, j := range got {
		g = append(g, j.table+"/"+j.chain+" "+j.spec)
	}
	for _, j := range builtinJumps {
		w = append(w, j.table+"/"+j.chain+" "+j.spec)
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Fatalf("jump rules:\n got %q\nwant %q", g, w)
	}
}

// jumpPositions lists, per rule of builtinJumps, the positions (1-based)
// at which its built-in chain holds it, read with go-iptables List inside
// the namespace.
func jumpPositions(t *testing.T, ns string) map[jumpRule][]int {
	t.Helper()
	be := &backend{iptables: "iptables"}
	pos := map[jumpRule][]int{}
	err := be.withIPTables(ns, func(ipt *iptables.IPTables) error {
		for _, j := range builtinJumps {
			rules, err := ipt.List(j.table, j.chain)
			if err != nil {
				return err
			}
			n := 0
			for _, r := range rules {
				if !strings.HasPrefix(r, "-A ") {
					continue // the -P policy line
				}
				n++
				if r == "-A "+j.chain+" "+j.spec {
					pos[j] = append(pos[j], n)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// requireJumpsAt checks each rule of builtinJumps is in its chain exactly
// once, or not at all when at is 0. The jumps of one built-in chain (filter
// INPUT has two) must fill the positions from at (1 = first) on, in any
// order.
func requireJumpsAt(t *testing.T, ns string, at int) {
	t.Helper()
	pos := jumpPositions(t, ns)
	got := map[string][]int{}
	for _, j := range builtinJumps {
		if at == 0 {
			if len(pos[j]) != 0 {
				t.Fatalf("%s/%s %s at positions %v, want none", j.table, j.chain, j.spec, pos[j])
			}
			continue
		}
		if len(pos[j]) != 1 {
			t.Fatalf("%s/%s %s at positions %v, want exactly one", j.table, j.chain, j.spec, pos[j])
		}
		got[j.table+"/"+j.chain] = append(got[j.table+"/"+j.chain], pos[j][0])
	}
	for chain, ps := range got {
		slices.Sort(ps)
		for i, p := range ps {
			if p != at+i {
				t.Fatalf("jumps in %s at positions %v, want %d to %d", chain, ps, at, at+len(ps)-1)
			}
		}
	}
}

func TestRealSetupJumpRules(t *testing.T) {
	ns := newNetNS(t)
	ctx := context.Background()
	p := newTestProxier(t, ns)
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if p.be.mode == "nf_tables" && p.be.iptables != "iptables-nft" {
		if _, err := exec.LookPath("iptables-nft"); err == nil {
			t.Fatalf("nf_tables backend, go-iptables runs %s", p.be.iptables)
		}
	}
	requireJumpsAt(t, ns, 1)
	_, js := kernelState(t, ns)
	requireJumps(t, js)

	t.Run("second Setup adds none", func(t *testing.T) {
		if err := p.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		requireJumpsAt(t, ns, 1)
	})

	t.Run("a jump deleted by hand is put back", func(t *testing.T) {
		j := builtinJumps[1] // nat OUTPUT
		args, err := splitSpec(j.spec)
		if err != nil {
			t.Fatal(err)
		}
		// Something else's rule first, so "put back" must mean position 1.
		nsRun(t, ns, "iptables", "-t", j.table, "-I", j.chain, "1", "-d", "192.0.2.1/32", "-j", "RETURN")
		nsRun(t, ns, "iptables", append([]string{"-t", j.table, "-D", j.chain}, args...)...)
		if pos := jumpPositions(t, ns)[j]; len(pos) != 0 {
			t.Fatalf("jump still at %v after deleting it", pos)
		}
		if err := p.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		requireJumpsAt(t, ns, 1)
		nsRun(t, ns, "iptables", "-t", j.table, "-D", j.chain, "-d", "192.0.2.1/32", "-j", "RETURN")
	})

	t.Run("a jump below another rule stays there", func(t *testing.T) {
		j := builtinJumps[4] // filter FORWARD (INPUT holds two jumps of ours)
		nsRun(t, ns, "iptables", "-t", j.table, "-I", j.chain, "1", "-s", "192.0.2.2/32", "-j", "ACCEPT")
		if err := p.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		if pos := jumpPositions(t, ns)[j]; !slices.Equal(pos, []int{2}) {
			t.Fatalf("jump at %v, want left at [2]", pos)
		}
		nsRun(t, ns, "iptables", "-t", j.table, "-D", j.chain, "-s", "192.0.2.2/32", "-j", "ACCEPT")
		requireJumpsAt(t, ns, 1)
	})

	t.Run("Cleanup leaves none", func(t *testing.T) {
		services, endpoints := fixture()
		p.Update(services, endpoints)
		if err := p.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		// A duplicate and a stray jump (another spec) must go too, or the
		// chains they jump to could not be deleted.
		nsRun(t, ns, "iptables", "-t", "nat", "-A", "PREROUTING", "-m", "comment", "--comment", "orch service portals", "-j", ChainServices)
		nsRun(t, ns, "iptables", "-t", "nat", "-A", "OUTPUT", "-p", "tcp", "-j", ChainServices)
		if err := p.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
		requireJumpsAt(t, ns, 0)
		rs, js := kernelState(t, ns)
		if len(js) != 0 || rs.NumChains() != 0 {
			t.Fatalf("after Cleanup: jumps %v, %d chains of ours", js, rs.NumChains())
		}
		if err := p.SyncNow(ctx); !errors.Is(err, errNotSetUp) {
			t.Fatalf("SyncNow after Cleanup: %v", err)
		}
		// Cleanup of a namespace with nothing of ours, without Setup.
		if err := newTestProxier(t, ns).Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("Cleanup of a fresh namespace", func(t *testing.T) {
		if err := newTestProxier(t, newNetNS(t)).Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
	})
}

func TestRealSyncLifecycle(t *testing.T) {
	ns := newNetNS(t)
	ctx := context.Background()
	p := newTestProxier(t, ns)
	if err := p.SyncNow(ctx); !errors.Is(err, errNotSetUp) {
		t.Fatalf("SyncNow before Setup: %v", err)
	}
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Setup(ctx); err != nil { // idempotent
		t.Fatal(err)
	}
	requireJumpsAt(t, ns, 1)
	if got := strings.TrimSpace(nsRun(t, ns, "cat", "/proc/sys/net/ipv4/conf/all/route_localnet")); got != "0" {
		t.Fatalf("route_localnet for all devices = %s in the netns, want 0 (it is set per device)", got)
	}
	services, endpoints := fixture()
	p.Update(services, endpoints)
	if err := p.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	want := BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints})
	got, js := kernelState(t, ns)
	requireSameRules(t, got, want) // also proves the rules are in iptables-save's canonical form
	requireJumps(t, js)

	t.Run("no change runs no restore", func(t *testing.T) {
		if err := p.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		if st := p.Stats(); st.RestoreBytes != 0 || !st.Changes.Empty() {
			t.Fatalf("second sync restored %d bytes: %+v", st.RestoreBytes, st.Changes)
		}
	})

	t.Run("endpoint change rewrites only its chains", func(t *testing.T) {
		endpoints2 := slices.Clone(endpoints)
		endpoints2[1] = eps("default", "sticky", []string{"10.244.1.12", "10.244.1.15", "10.244.1.14"}, svcPort{"", "TCP", 8443, 0})
		p.Update(services, endpoints2)
		if err := p.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		st := p.Stats()
		if !st.Partial || st.Full {
			t.Fatalf("endpoint change: partial %v, full %v; want a partial sync", st.Partial, st.Full)
		}
		wantW := []string{"nat/" + SVCChainName("default", "sticky", "", "tcp"),
			"nat/" + SEPChainName("default", "sticky", "", "tcp", "10.244.1.15", 8443)}
		wantD := []string{"nat/" + SEPChainName("default", "sticky", "", "tcp", "10.244.1.13", 8443)}
		slices.Sort(wantW)
		if !slices.Equal(refs(st.Changes.Written), wantW) || !slices.Equal(refs(st.Changes.Deleted), wantD) {
			t.Fatalf("changes %+v, want written %v deleted %v", st.Changes, wantW, wantD)
		}
		got, _ := kernelState(t, ns)
		requireSameRules(t, got, BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints2}))
		endpoints = endpoints2
	})

	t.Run("restarted agent rewrites nothing", func(t *testing.T) {
		p2 := newTestProxier(t, ns)
		if err := p2.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		p2.Update(services, endpoints)
		if err := p2.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		if st := p2.Stats(); st.RestoreBytes != 0 {
			t.Fatalf("restarted proxier rewrote %v", st.Changes)
		}
		_, js := kernelState(t, ns)
		requireJumps(t, js)
	})

	t.Run("cleanup leaves nothing of ours", func(t *testing.T) {
		if err := p.Cleanup(ctx); err != nil {
			t.Fatal(err)
		}
		for _, tb := range []string{"nat", "filter"} {
			if out := nsRun(t, ns, "iptables-save", "-t", tb); strings.Contains(out, "ORCH-") {
				t.Fatalf("after Cleanup, %s still has:\n%s", tb, out)
			}
		}
		requireJumpsAt(t, ns, 0)
		// A fresh agent can set up again from nothing.
		if err := p.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		got, js := kernelState(t, ns)
		requireSameRules(t, got, BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints}))
		requireJumps(t, js)
		requireJumpsAt(t, ns, 1)
	})
}

func TestRealRefusesTwoBackends(t *testing.T) {
	ns := newNetNS(t)
	ctx := context.Background()
	p := newTestProxier(t, ns)
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	if p.be.mode != "nf_tables" || p.be.other == "" {
		t.Fatalf("needs iptables-nft as the default and iptables-legacy installed, as Debian's iptables package gives (have %s, other %q)", p.be.mode, p.be.other)
	}
	// Someone (an older agent) left rules in legacy iptables, in this netns only.
	nsRun(t, ns, "iptables-legacy", "-t", "nat", "-N", ChainServices)
	nsRun(t, ns, "iptables-legacy", "-t", "nat", "-A", ChainServices, "-d", "10.96.0.1/32", "-j", "RETURN")
	err := newTestProxier(t, ns).Setup(ctx)
	if err == nil || !strings.Contains(err.Error(), "iptables-legacy-save") {
		t.Fatalf("Setup with rules in both backends: %v", err)
	}
}

// flakyExec fails the next n iptables-restore calls with a line number.
type flakyExec struct {
	inner    executor
	failures atomic.Int32
	saves    atomic.Int32
}

func (f *flakyExec) run(ctx context.Context, name string, args []string, stdin []byte) ([]byte, error) {
	if name == "iptables-restore" && f.failures.Add(-1) >= 0 {
		return nil, &cmdError{cmd: name, err: errors.New("exit status 2"), stderr: "iptables-restore: line 3 failed"}
	}
	if name == "iptables-save" {
		f.saves.Add(1)
	}
	return f.inner.run(ctx, name, args, stdin)
}

func TestRealRestoreFailureFallsBackToFullRewrite(t *testing.T) {
	ns := newNetNS(t)
	ctx := context.Background()
	p := newTestProxier(t, ns)
	fx := &flakyExec{inner: p.x}
	p.x = fx
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	services, endpoints := fixture()
	p.Update(services, endpoints)
	fx.failures.Store(1)
	err := p.SyncNow(ctx)
	if err == nil || !strings.Contains(err.Error(), "> 3: ") {
		t.Fatalf("failed sync error does not quote the failing line: %v", err)
	}
	if st := p.Stats(); st.Err == nil {
		t.Fatal("stats do not record the failure")
	}
	saves := fx.saves.Load()
	if err := p.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	st := p.Stats()
	want := BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: endpoints})
	if !st.Full || len(st.Changes.Written) != want.NumChains() || fx.saves.Load() == saves {
		t.Fatalf("sync after a failure: full=%v wrote %d of %d chains, state re-read: %v",
			st.Full, len(st.Changes.Written), want.NumChains(), fx.saves.Load() != saves)
	}
	got, _ := kernelState(t, ns)
	requireSameRules(t, got, want)
	if err := p.SyncNow(ctx); err != nil || p.Stats().Full || p.Stats().RestoreBytes != 0 {
		t.Fatalf("third sync: err %v, stats %+v", err, p.Stats())
	}
}

func TestRealRunCoalescesAndRetries(t *testing.T) {
	ns := newNetNS(t)
	p := newTestProxier(t, ns)
	p.cfg.MinSyncInterval = 300 * time.Millisecond
	fx := &flakyExec{inner: p.x}
	p.x = fx
	ctx, cancel := context.WithCancel(context.Background())
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); p.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	if p.Stats().Syncs != 0 {
		t.Fatal("Run synced before the first Update")
	}
	services, endpoints := manyServices(10)
	var last []*v1.Endpoints
	for i := 0; i < 50; i++ {
		last = slices.Clone(endpoints)
		last[3] = eps("default", "svc-00003", []string{fmt.Sprintf("10.250.0.%d", i+1)}, svcPort{"http", "TCP", 8080, 0})
		p.Update(services, last)
	}
	want := BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services, Endpoints: last})
	inKernel := func() bool {
		got, _ := kernelState(t, ns)
		_, ch := want.RenderChanged(got)
		return ch.Empty()
	}
	eventually(t, 10*time.Second, "the last update in the kernel", inKernel)
	if n := p.Stats().Syncs; n > 3 {
		t.Fatalf("50 updates in a burst took %d syncs, want them coalesced (<= 3)", n)
	}

	// A failing restore is retried with back-off until it succeeds.
	fx.failures.Store(2)
	before := p.Stats().Syncs
	services2, endpoints2 := manyServices(12)
	p.Update(services2, endpoints2)
	want = BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: services2, Endpoints: endpoints2})
	// The rules reach the kernel a moment before the sync records its
	// outcome: wait for both.
	eventually(t, 20*time.Second, "the update applied after two failed restores", func() bool {
		return inKernel() && p.Stats().Err == nil
	})
	if st := p.Stats(); st.Syncs-before < 3 || st.Err != nil || !st.Full {
		t.Fatalf("after retries: %d syncs, err %v, full %v", st.Syncs-before, st.Err, st.Full)
	}
}
