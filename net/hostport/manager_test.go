package hostport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// newNetNS creates a throwaway network namespace and returns its path; it
// is deleted when the test ends, pass or fail.
func newNetNS(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root (run the suite as root, as make test in CI does)")
	}
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	name := "orchhp-" + hex.EncodeToString(b)
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	return "/run/netns/" + name
}

// natRules is `iptables-save -t nat` inside the namespace, rule lines only.
func natRules(t *testing.T, path string) []string {
	t.Helper()
	out, err := exec.Command("nsenter", "--net="+path, "--", "iptables-save", "-t", "nat").CombinedOutput()
	if err != nil {
		t.Fatalf("iptables-save: %v: %s", err, out)
	}
	var rules []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "-A ") || strings.HasPrefix(l, ":ORCH") {
			rules = append(rules, l)
		}
	}
	return rules
}

func count(lines []string, sub string) int {
	n := 0
	for _, l := range lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// TestSyncAndCleanup programs real rules in a throwaway namespace: each
// sync leaves exactly the desired DNATs and one jump per built-in chain;
// Cleanup leaves nothing of ours.
func TestSyncAndCleanup(t *testing.T) {
	ns := newNetNS(t)
	ctx := context.Background()
	m := New(Config{PodCIDR: mustCIDR("10.244.1.0/24"), NetNS: ns, Logger: slog.New(slog.DiscardHandler)})
	a := Mapping{Pod: "default/a", HostPort: 8080, Protocol: "TCP", PodIP: "10.244.1.5", ContainerPort: 80}
	b := Mapping{Pod: "default/b", HostIP: "10.0.0.1", HostPort: 5353, Protocol: "UDP", PodIP: "10.244.1.6", ContainerPort: 53}
	steps := []struct {
		name     string
		mappings []Mapping
		dnats    []string
	}{
		{"two pods", []Mapping{a, b}, []string{"--to-destination 10.244.1.5:80", "--to-destination 10.244.1.6:53"}},
		{"again, unchanged", []Mapping{a, b}, []string{"--to-destination 10.244.1.5:80", "--to-destination 10.244.1.6:53"}},
		{"one pod gone", []Mapping{b}, []string{"--to-destination 10.244.1.6:53"}},
		{"none", nil, nil},
	}
	for _, st := range steps {
		if err := m.Sync(ctx, st.mappings); err != nil {
			t.Fatalf("%s: Sync: %v", st.name, err)
		}
		rules := natRules(t, ns)
		if got := count(rules, "-j DNAT"); got != len(st.dnats) {
			t.Errorf("%s: %d DNAT rules, want %d:\n%s", st.name, got, len(st.dnats), strings.Join(rules, "\n"))
		}
		for _, d := range st.dnats {
			if count(rules, d) != 1 {
				t.Errorf("%s: no rule with %q:\n%s", st.name, d, strings.Join(rules, "\n"))
			}
		}
		for _, chain := range []string{"PREROUTING", "OUTPUT"} {
			if got := count(rules, "-A "+chain+" ") - count(rules, "-A "+chain+" -j ORCH-HOSTPORTS-MASQ"); got != 1 || count(rules, "-A "+chain+" ! -d 127.0.0.0/8") != 1 {
				t.Errorf("%s: want one jump in %s:\n%s", st.name, chain, strings.Join(rules, "\n"))
			}
		}
		if count(rules, "-A POSTROUTING ") != 1 || count(rules, "-j ORCH-HOSTPORTS-MASQ") != 1 {
			t.Errorf("%s: want one jump in POSTROUTING:\n%s", st.name, strings.Join(rules, "\n"))
		}
	}
	// A restarted agent's manager knows nothing applied: it rewrites.
	m2 := New(Config{PodCIDR: mustCIDR("10.244.1.0/24"), NetNS: ns, Logger: slog.New(slog.DiscardHandler)})
	if err := m2.Sync(ctx, []Mapping{a}); err != nil {
		t.Fatal(err)
	}
	if rules := natRules(t, ns); count(rules, "-j DNAT") != 1 || count(rules, "-A PREROUTING ") != 1 {
		t.Errorf("after a restart:\n%s", strings.Join(rules, "\n"))
	}
	for i := range 2 { // idempotent
		if err := m2.Cleanup(ctx); err != nil {
			t.Fatalf("Cleanup %d: %v", i, err)
		}
		if rules := natRules(t, ns); count(rules, "ORCH-HOSTPORTS") != 0 {
			t.Errorf("Cleanup %d left:\n%s", i, strings.Join(rules, "\n"))
		}
	}
}
