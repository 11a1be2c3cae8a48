package podnet

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/vishvananda/netlink"
)

func TestSandboxConnectivity(t *testing.T) {
	t.Parallel()
	tn := newTestNetwork(t, nil)
	ctx := context.Background()

	pods := []struct{ uid, hostname string }{
		{"pod-a-0000-1111", "web-a"},
		{"pod-b-2222-3333", "web-b"},
	}
	var sbs []*Sandbox
	for _, p := range pods {
		sb, err := tn.CreateSandbox(ctx, p.uid, p.hostname)
		if err != nil {
			t.Fatalf("CreateSandbox(%s): %v", p.uid, err)
		}
		sbs = append(sbs, sb)
	}
	a, b := sbs[0], sbs[1]
	if a.IP.Equal(b.IP) {
		t.Fatalf("both sandboxes got %s", a.IP)
	}

	h := tn.nodeHandle(t)
	br, err := h.LinkByName(tn.cfg.Bridge)
	if err != nil {
		t.Fatal(err)
	}
	for i, sb := range sbs {
		t.Run(pods[i].uid, func(t *testing.T) {
			if !tn.podNet.Contains(sb.IP) || sb.IP.Equal(sb.Gateway) {
				t.Errorf("IP %s outside %s or the gateway", sb.IP, tn.podNet)
			}
			if got := sb.Gateway.String(); got != "10.244.1.1" || sb.PrefixLen != 24 {
				t.Errorf("gateway %s/%d, want 10.244.1.1/24", got, sb.PrefixLen)
			}
			if got := hostnameOf(t, sb.UTSNS); got != pods[i].hostname {
				t.Errorf("hostname = %q, want %q", got, pods[i].hostname)
			}
			for _, p := range []string{sb.NetNS, sb.UTSNS, sb.IPCNS} {
				if !isNSFile(p) {
					t.Errorf("%s is not a pinned namespace", p)
				}
			}
			veth, err := h.LinkByName(sb.HostVeth)
			if err != nil {
				t.Fatalf("host veth %s: %v", sb.HostVeth, err)
			}
			if veth.Attrs().MasterIndex != br.Attrs().Index {
				t.Errorf("veth master %d, want bridge %d", veth.Attrs().MasterIndex, br.Attrs().Index)
			}
			if veth.Attrs().OperState == netlink.OperDown || veth.Attrs().Flags&net.FlagUp == 0 {
				t.Errorf("veth %s not up: %v", sb.HostVeth, veth.Attrs().Flags)
			}
			pinfo, err := h.LinkGetProtinfo(veth)
			if err != nil || !pinfo.Hairpin {
				t.Errorf("hairpin on %s: %v %v", sb.HostVeth, pinfo.Hairpin, err)
			}
			checkPodInterface(t, sb)
		})
	}

	t.Run("pod to pod", func(t *testing.T) {
		ln := listenIn(t, a.NetNS, a.IP.String())
		if got := dialFrom(t, b.NetNS, ln.Addr().String()); !strings.HasPrefix(got, "hello") {
			t.Errorf("greeting %q", got)
		}
	})
	t.Run("pod to gateway", func(t *testing.T) {
		ln := listenIn(t, tn.nodeNS, a.Gateway.String())
		if got := dialFrom(t, a.NetNS, ln.Addr().String()); !strings.HasPrefix(got, "hello") {
			t.Errorf("greeting %q", got)
		}
	})
	t.Run("pod to itself through lo", func(t *testing.T) {
		ln := listenIn(t, b.NetNS, "127.0.0.1")
		if got := dialFrom(t, b.NetNS, ln.Addr().String()); !strings.HasPrefix(got, "hello") {
			t.Errorf("greeting %q", got)
		}
	})

	for _, sb := range sbs {
		if err := tn.DeleteSandbox(ctx, sb.PodUID); err != nil {
			t.Errorf("DeleteSandbox: %v", err)
		}
	}
}

// checkPodInterface verifies eth0 inside the pod: address, up, default
// route via the gateway, lo up.
func checkPodInterface(t *testing.T, sb *Sandbox) {
	t.Helper()
	h, err := handleAt(sb.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	eth0, err := h.LinkByName("eth0")
	if err != nil {
		t.Fatalf("eth0 in pod: %v", err)
	}
	if eth0.Attrs().Flags&net.FlagUp == 0 {
		t.Error("eth0 is down")
	}
	addrs, err := h.AddrList(eth0, netlink.FAMILY_V4)
	if err != nil || len(addrs) != 1 || !addrs[0].IP.Equal(sb.IP) {
		t.Errorf("eth0 addresses %v (%v), want %s", addrs, err, sb.IP)
	}
	routes, err := h.RouteList(eth0, netlink.FAMILY_V4)
	if err != nil {
		t.Fatal(err)
	}
	var def bool
	for _, r := range routes {
		if (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") && r.Gw.Equal(sb.Gateway) {
			def = true
		}
	}
	if !def {
		t.Errorf("no default route via %s in %v", sb.Gateway, routes)
	}
	lo, err := h.LinkByName("lo")
	if err != nil || lo.Attrs().Flags&net.FlagUp == 0 {
		t.Errorf("lo not up: %v", err)
	}
}

func TestCreateSandboxRollback(t *testing.T) {
	t.Parallel()
	tn := newTestNetwork(t, nil)
	ctx := context.Background()

	for _, tc := range []struct {
		name     string
		uid      string
		hostname string
		prepare  func(t *testing.T, uid string) // sets up the failure
		wantErr  string
	}{
		{
			name:     "hostname too long for sethostname",
			uid:      "pod-badhost",
			hostname: strings.Repeat("h", 65),
			wantErr:  "namespaces: sethostname",
		},
		{
			name:     "host veth name taken",
			uid:      "pod-vethtaken",
			hostname: "h",
			prepare: func(t *testing.T, uid string) {
				addVethFixture(t, tn.nodeHandle(t), vethName(uid), "fixture")
			},
			wantErr: "veth: add",
		},
		{
			name:     "failure after the veth exists",
			uid:      "pod-hook",
			hostname: "h",
			prepare: func(t *testing.T, uid string) {
				tn.afterVeth = func() error { return errors.New("injected") }
				t.Cleanup(func() { tn.afterVeth = nil })
			},
			wantErr: "hook: injected",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, err := tn.ipam.scan()
			if err != nil {
				t.Fatal(err)
			}
			if tc.prepare != nil {
				tc.prepare(t, tc.uid)
			}
			_, err = tn.CreateSandbox(ctx, tc.uid, tc.hostname)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), tc.uid) {
				t.Fatalf("CreateSandbox: got %v, want an error containing %q and the uid", err, tc.wantErr)
			}
			tn.assertNoSandboxState(t, tc.uid)
			after, err := tn.ipam.scan()
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(before, after) {
				t.Errorf("IPAM changed by a failed create: %v -> %v", before, after)
			}
			// A pre-existing link of the same name is not ours to delete.
			l, err := tn.nodeHandle(t).LinkByName(vethName(tc.uid))
			switch {
			case tc.name == "host veth name taken" && (err != nil || l.Attrs().Alias != "fixture"):
				t.Errorf("the pre-existing link was removed or changed: %v", err)
			case tc.name != "host veth name taken" && !isLinkNotFound(err):
				t.Errorf("link %s: want none, got err=%v", vethName(tc.uid), err)
			}
		})
	}
	t.Run("retry after an injected failure succeeds", func(t *testing.T) {
		sb, err := tn.CreateSandbox(ctx, "pod-hook", "h")
		if err != nil {
			t.Fatal(err)
		}
		if err := tn.DeleteSandbox(ctx, sb.PodUID); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("invalid input", func(t *testing.T) {
		for _, uid := range []string{"", "..", "a/b", "pod uid"} {
			if _, err := tn.CreateSandbox(ctx, uid, "h"); err == nil {
				t.Errorf("CreateSandbox(%q): want an error", uid)
			}
		}
		if _, err := tn.CreateSandbox(ctx, "pod-nohost", ""); err == nil {
			t.Error("empty hostname: want an error")
		}
		tn.assertNoSandboxState(t, "pod-nohost")
	})
}

func TestDeleteSandbox(t *testing.T) {
	t.Parallel()
	tn := newTestNetwork(t, nil)
	ctx := context.Background()

	sb, err := tn.CreateSandbox(ctx, "pod-del", "del")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := tn.DeleteSandbox(ctx, sb.PodUID); err != nil {
			t.Fatalf("DeleteSandbox #%d: %v", i+1, err)
		}
		tn.assertNoSandboxState(t, sb.PodUID)
	}
	if _, ok := tn.Sandbox(sb.PodUID); ok {
		t.Error("Sandbox finds a deleted sandbox")
	}
	if err := tn.DeleteSandbox(ctx, "never-existed"); err != nil {
		t.Errorf("deleting an unknown sandbox: %v", err)
	}

	t.Run("address is free again", func(t *testing.T) {
		held, err := tn.ipam.scan()
		if err != nil {
			t.Fatal(err)
		}
		if owner, ok := held[ipToU32(sb.IP)]; ok {
			t.Errorf("%s still held by %s", sb.IP, owner)
		}
	})

	t.Run("half-made sandbox", func(t *testing.T) {
		// What a crash leaves after a reboot: placeholders, an address.
		uid := "pod-half"
		dir := filepath.Join(tn.cfg.StateDir, "sandboxes", uid)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, k := range nsKinds {
			if err := os.WriteFile(filepath.Join(dir, k), nil, 0o444); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tn.ipam.allocate(uid); err != nil {
			t.Fatal(err)
		}
		if _, ok := tn.Sandbox(uid); ok {
			t.Error("Sandbox returns one whose namespaces are placeholders")
		}
		if _, err := tn.CreateSandbox(ctx, uid, "h"); !errors.Is(err, fs.ErrExist) {
			t.Errorf("CreateSandbox over leftovers: got %v, want fs.ErrExist", err)
		}
		if uids, err := tn.Sandboxes(); err != nil || !reflect.DeepEqual(uids, []string{uid}) {
			t.Errorf("Sandboxes() = %v, %v; want [%s]", uids, err, uid)
		}
		if err := tn.DeleteSandbox(ctx, uid); err != nil {
			t.Fatal(err)
		}
		tn.assertNoSandboxState(t, uid)
	})

	t.Run("veth of another pod is left alone", func(t *testing.T) {
		// A veth with the pod's name but not its alias (a hash collision).
		uid := "pod-collide"
		h := tn.nodeHandle(t)
		addVethFixture(t, h, vethName(uid), vethAlias("someone-else"))
		if err := tn.DeleteSandbox(ctx, uid); err != nil {
			t.Fatal(err)
		}
		if _, err := h.LinkByName(vethName(uid)); err != nil {
			t.Errorf("foreign link deleted: %v", err)
		}
	})
}

func TestSandboxAfterRestart(t *testing.T) {
	t.Parallel()
	tn := newTestNetwork(t, func(c *Config) { c.PodCIDR = mustCIDR(t, "10.244.7.0/28") })
	ctx := context.Background()

	orig, err := tn.CreateSandbox(ctx, "pod-survivor", "survivor")
	if err != nil {
		t.Fatal(err)
	}

	n2 := tn.reopen(t)
	if err := n2.Setup(ctx); err != nil {
		t.Fatalf("Setup after restart: %v", err)
	}
	if mps := mountsUnder(t, filepath.Join(tn.cfg.StateDir, "sandboxes")); len(mps) != 1+len(nsKinds) {
		t.Errorf("mounts after a second Setup: %v (the dir must not be mounted twice)", mps)
	}
	got, ok := n2.Sandbox(orig.PodUID)
	if !ok {
		t.Fatal("Sandbox after restart: not found")
	}
	if !reflect.DeepEqual(got, orig) {
		t.Errorf("Sandbox after restart = %+v, want %+v", got, orig)
	}
	if uids, err := n2.Sandboxes(); err != nil || !reflect.DeepEqual(uids, []string{orig.PodUID}) {
		t.Errorf("Sandboxes() = %v, %v", uids, err)
	}
	if _, ok := n2.Sandbox("pod-unknown"); ok {
		t.Error("Sandbox finds an unknown pod")
	}
	if hn := hostnameOf(t, got.UTSNS); hn != "survivor" {
		t.Errorf("hostname %q", hn)
	}

	other, err := n2.CreateSandbox(ctx, "pod-newcomer", "newcomer")
	if err != nil {
		t.Fatal(err)
	}
	if other.IP.Equal(orig.IP) {
		t.Fatalf("restarted network handed out %s twice", orig.IP)
	}
	ln := listenIn(t, got.NetNS, got.IP.String())
	if g := dialFrom(t, other.NetNS, ln.Addr().String()); !strings.HasPrefix(g, "hello") {
		t.Errorf("greeting %q", g)
	}
	for _, uid := range []string{orig.PodUID, other.PodUID} {
		if err := n2.DeleteSandbox(ctx, uid); err != nil {
			t.Error(err)
		}
	}
	if uids, err := n2.Sandboxes(); err != nil || len(uids) != 0 {
		t.Errorf("Sandboxes() after deleting all = %v, %v", uids, err)
	}
}

func TestIsNSFile(t *testing.T) {
	requireRoot(t)
	if !isNSFile("/proc/self/ns/net") {
		t.Error("/proc/self/ns/net is not seen as a namespace")
	}
	f := filepath.Join(t.TempDir(), "plain")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if isNSFile(f) {
		t.Error("a plain file is seen as a namespace")
	}
}

func TestConcurrentSandboxes(t *testing.T) {
	t.Parallel()
	tn := newTestNetwork(t, nil)
	ctx := context.Background()
	const n = 8
	sbs := make([]*Sandbox, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			sbs[i], errs[i] = tn.CreateSandbox(ctx, fmt.Sprintf("pod-conc-%d", i), fmt.Sprintf("conc-%d", i))
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("CreateSandbox %d: %v", i, errs[i])
		}
		if seen[sbs[i].IP.String()] {
			t.Fatalf("%s handed out twice", sbs[i].IP)
		}
		seen[sbs[i].IP.String()] = true
		if got := hostnameOf(t, sbs[i].UTSNS); got != fmt.Sprintf("conc-%d", i) {
			t.Errorf("sandbox %d hostname %q", i, got)
		}
	}
	if uids, err := tn.Sandboxes(); err != nil || len(uids) != n {
		t.Fatalf("Sandboxes() = %v, %v", uids, err)
	}
	for i := range n {
		wg.Go(func() { errs[i] = tn.DeleteSandbox(ctx, sbs[i].PodUID) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Errorf("DeleteSandbox %d: %v", i, errs[i])
		}
		tn.assertNoSandboxState(t, sbs[i].PodUID)
	}
}
