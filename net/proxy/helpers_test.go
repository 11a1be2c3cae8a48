package proxy

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// svcPort is a compact service port for fixtures: "name/proto/port[/nodePort]".
type svcPort struct {
	name     string
	proto    string
	port     int32
	nodePort int32
}

// svc builds a service; a port with a nodePort makes it a NodePort service.
func svc(ns, name, ip string, ports ...svcPort) *v1.Service {
	s := &v1.Service{ObjectMeta: v1.ObjectMeta{Namespace: ns, Name: name},
		Spec: v1.ServiceSpec{Type: v1.ServiceTypeClusterIP, ClusterIP: ip}}
	for _, p := range ports {
		s.Spec.Ports = append(s.Spec.Ports, v1.ServicePort{Name: p.name, Protocol: p.proto, Port: p.port, NodePort: p.nodePort})
		if p.nodePort != 0 {
			s.Spec.Type = v1.ServiceTypeNodePort
		}
	}
	return s
}

// withAffinity sets ClientIP affinity (timeout 0 = default).
func withAffinity(s *v1.Service, timeout int32) *v1.Service {
	s.Spec.SessionAffinity = v1.AffinityClientIP
	if timeout > 0 {
		s.Spec.SessionAffinityConfig = &v1.SessionAffinityConfig{ClientIP: &v1.ClientIPConfig{TimeoutSeconds: &timeout}}
	}
	return s
}

// eps builds Endpoints with one subset: ready IPs and ports "name/proto/port".
func eps(ns, name string, ips []string, ports ...svcPort) *v1.Endpoints {
	e := &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Namespace: ns, Name: name}}
	ss := v1.EndpointSubset{}
	for _, ip := range ips {
		ss.Addresses = append(ss.Addresses, v1.EndpointAddress{IP: ip})
	}
	for _, p := range ports {
		ss.Ports = append(ss.Ports, v1.EndpointPort{Name: p.name, Protocol: p.proto, Port: p.port})
	}
	e.Subsets = []v1.EndpointSubset{ss}
	return e
}

func mustCIDR(s string) *net.IPNet {
	_, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	return n
}

var clusterCIDR = mustCIDR("10.244.0.0/16")

// manyServices builds n services with three endpoints each, like the bench.
func manyServices(n int) ([]*v1.Service, []*v1.Endpoints) {
	var ss []*v1.Service
	var es []*v1.Endpoints
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("svc-%05d", i)
		ss = append(ss, svc("default", name, fmt.Sprintf("10.96.%d.%d", i/250, i%250+1), svcPort{"http", "TCP", 80, 0}))
		var ips []string
		for j := 0; j < 3; j++ {
			k := i*3 + j
			ips = append(ips, fmt.Sprintf("10.244.%d.%d", k/250, k%250+1))
		}
		es = append(es, eps("default", name, ips, svcPort{"http", "TCP", 8080, 0}))
	}
	return ss, es
}

// testLogger sends logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(b []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

// modes are the proxy modes every behaviour test runs in.
var modes = []string{ModeIPTables, ModeNFTables}

// forEachMode runs fn as a subtest per proxy mode.
func forEachMode(t *testing.T, fn func(t *testing.T, mode string)) {
	for _, m := range modes {
		t.Run(m, func(t *testing.T) { fn(t, m) })
	}
}

// requireRoot fails tests that need root and iptables when they are missing:
// CI runs as root with `make deps`, so a skip there would check nothing.
func requireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root (run the suite as root, as make test in CI does)")
	}
	for _, c := range []string{"ip", "iptables", "iptables-save", "iptables-restore", "nft"} {
		if _, err := exec.LookPath(c); err != nil {
			t.Fatalf("needs %s (run make deps)", c)
		}
	}
}

// newNetNS creates a throwaway network namespace with lo up and returns its
// path; it is deleted when the test ends, pass or fail.
func newNetNS(t testing.TB) string {
	t.Helper()
	requireRoot(t)
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "orchpx-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	path := "/run/netns/" + name
	nsRun(t, path, "ip", "link", "set", "lo", "up")
	return path
}

// nsRun runs a command inside the namespace and returns its stdout.
func nsRun(t testing.TB, path string, name string, args ...string) string {
	t.Helper()
	out, err := nsExecutor{netns: path}.run(context.Background(), name, args, nil)
	if err != nil {
		t.Fatalf("in %s: %v", path, err)
	}
	return string(out)
}

// kernelState reads our chains and jump rules inside the namespace.
func kernelState(t *testing.T, path string) (*Ruleset, []jumpRule) {
	t.Helper()
	be := &backend{x: nsExecutor{netns: path}, save: "iptables-save"}
	rs, jumps, err := be.readState(context.Background(), "iptables-save")
	if err != nil {
		t.Fatal(err)
	}
	return rs, jumps
}

// requireSameRules fails unless got and want have the same chains with the same rules.
func requireSameRules(t *testing.T, got, want *Ruleset) {
	t.Helper()
	for _, tb := range []string{TableNAT, TableFilter} {
		g, w := slices.Sorted(slices.Values(got.Chains(tb))), slices.Sorted(slices.Values(want.Chains(tb)))
		if !slices.Equal(g, w) {
			t.Fatalf("%s chains differ:\n got %v\nwant %v", tb, g, w)
		}
		for _, c := range w {
			if gr, wr := got.Rules(tb, c), want.Rules(tb, c); !slices.Equal(gr, wr) {
				t.Fatalf("%s %s rules differ:\n got %q\nwant %q", tb, c, gr, wr)
			}
		}
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond) // polling cadence, not synchronisation
	}
}
