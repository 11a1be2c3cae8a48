package podnet

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
)

func newTestIPAM(t *testing.T, dir, cidr string) *ipam {
	t.Helper()
	a, err := newIPAM(dir, mustCIDR(t, cidr), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("newIPAM(%s): %v", cidr, err)
	}
	return a
}

func mustAllocate(t *testing.T, a *ipam, uid string) string {
	t.Helper()
	ip, err := a.allocate(uid)
	if err != nil {
		t.Fatalf("allocate %s: %v", uid, err)
	}
	return ip.String()
}

func TestIPAMPersistsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	a := newTestIPAM(t, dir, "10.244.1.0/24")
	seen := map[string]string{}
	for i := range 3 {
		uid := fmt.Sprintf("pod-%d", i)
		seen[mustAllocate(t, a, uid)] = uid
	}
	if got := mustAllocate(t, a, "pod-1"); seen[got] != "pod-1" {
		t.Errorf("re-allocating for pod-1: got %s, want its existing address", got)
	}

	b := newTestIPAM(t, dir, "10.244.1.0/24") // an agent restart
	for i := 3; i < 6; i++ {
		uid := fmt.Sprintf("pod-%d", i)
		ip := mustAllocate(t, b, uid)
		if owner, dup := seen[ip]; dup {
			t.Fatalf("after restart %s got %s, already held by %s", uid, ip, owner)
		}
		seen[ip] = uid
	}
	for ip, uid := range seen {
		got, ok, err := b.lookup(uid)
		if err != nil || !ok || got.String() != ip {
			t.Errorf("lookup %s = %v %v %v, want %s", uid, got, ok, err, ip)
		}
	}
}

func TestIPAMRoundRobin(t *testing.T) {
	a := newTestIPAM(t, t.TempDir(), "10.244.1.0/24")
	want := []string{"10.244.1.2", "10.244.1.3", "10.244.1.4"}
	for i, w := range want {
		if got := mustAllocate(t, a, fmt.Sprintf("pod-%d", i)); got != w {
			t.Fatalf("allocation %d = %s, want %s", i, got, w)
		}
	}
	if err := a.release("pod-1"); err != nil {
		t.Fatal(err)
	}
	if err := a.release("pod-1"); err != nil {
		t.Fatalf("second release: %v", err)
	}
	// The freed .3 is not reused at once: allocation continues after .4.
	if got := mustAllocate(t, a, "pod-new"); got != "10.244.1.5" {
		t.Errorf("after release got %s, want 10.244.1.5", got)
	}
	if _, ok, _ := a.lookup("pod-1"); ok {
		t.Error("pod-1 still holds an address after release")
	}
}

func TestIPAMExhaustion(t *testing.T) {
	for _, tc := range []struct {
		cidr   string
		usable []string // in allocation order
	}{
		// network .0, gateway .1, broadcast .7 are never handed out.
		{"192.168.5.0/29", []string{"192.168.5.2", "192.168.5.3", "192.168.5.4", "192.168.5.5", "192.168.5.6"}},
		{"192.168.5.8/30", []string{"192.168.5.10"}},
		{"192.168.5.19/30", []string{"192.168.5.18"}}, // host bits in the CIDR are ignored
	} {
		t.Run(tc.cidr, func(t *testing.T) {
			dir := t.TempDir()
			a := newTestIPAM(t, dir, tc.cidr)
			for i, w := range tc.usable {
				if got := mustAllocate(t, a, fmt.Sprintf("pod-%d", i)); got != w {
					t.Fatalf("allocation %d = %s, want %s", i, got, w)
				}
			}
			_, err := a.allocate("one-too-many")
			if !errors.Is(err, ErrAddressesExhausted) {
				t.Fatalf("allocate in a full %s: got %v, want ErrAddressesExhausted", tc.cidr, err)
			}
			// A restarted allocator agrees that the range is full.
			if _, err := newTestIPAM(t, dir, tc.cidr).allocate("other"); !errors.Is(err, ErrAddressesExhausted) {
				t.Fatalf("after restart: got %v, want ErrAddressesExhausted", err)
			}
			if err := a.release("pod-0"); err != nil {
				t.Fatal(err)
			}
			if got := mustAllocate(t, a, "one-too-many"); got != tc.usable[0] {
				t.Errorf("after release got %s, want the freed %s", got, tc.usable[0])
			}
		})
	}
}

func TestIPAMConcurrent(t *testing.T) {
	dir := t.TempDir()
	// Two allocators on one directory: distinct mutexes, so uniqueness
	// rests on the atomic claim on disk.
	allocs := []*ipam{newTestIPAM(t, dir, "10.9.0.0/24"), newTestIPAM(t, dir, "10.9.0.0/24")}
	const n = 100
	ips := make([]net.IP, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ips[i], errs[i] = allocs[i%2].allocate(fmt.Sprintf("pod-%d", i))
		})
	}
	wg.Wait()
	seen := map[string]int{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("allocate %d: %v", i, errs[i])
		}
		if j, dup := seen[ips[i].String()]; dup {
			t.Fatalf("pods %d and %d both got %s", j, i, ips[i])
		}
		seen[ips[i].String()] = i
	}
}

func TestIPAMRejects(t *testing.T) {
	for _, cidr := range []string{"10.0.0.0/31", "10.0.0.1/32", "fd00::/64"} {
		if _, err := newIPAM(t.TempDir(), mustCIDR(t, cidr), slog.New(slog.DiscardHandler)); err == nil {
			t.Errorf("newIPAM(%s): want an error", cidr)
		}
	}
}
