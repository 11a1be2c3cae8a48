package podnet

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestNew(t *testing.T) {
	pod := &net.IPNet{IP: net.IPv4(10, 244, 1, 0).To4(), Mask: net.CIDRMask(24, 32)}
	v6 := &net.IPNet{IP: net.ParseIP("fd00::"), Mask: net.CIDRMask(64, 128)}
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"minimal", Config{StateDir: "x", PodCIDR: pod}, ""},
		{"no state dir", Config{PodCIDR: pod}, "StateDir"},
		{"no pod CIDR", Config{StateDir: "x"}, "PodCIDR"},
		{"IPv6 pod CIDR", Config{StateDir: "x", PodCIDR: v6}, "IPv4"},
		{"/31", Config{StateDir: "x", PodCIDR: &net.IPNet{IP: pod.IP, Mask: net.CIDRMask(31, 32)}}, "/30"},
		{"IPv6 cluster CIDR", Config{StateDir: "x", PodCIDR: pod, ClusterCIDR: v6}, "ClusterCIDR"},
		{"bridge name too long", Config{StateDir: "x", PodCIDR: pod, Bridge: "a-very-long-bridge"}, "interface name"},
		{"MTU too small", Config{StateDir: "x", PodCIDR: pod, MTU: 10}, "MTU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := New(tc.cfg)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("New = %v, %v; want an error mentioning %q", n, err, tc.wantErr)
			}
		})
	}

	t.Run("defaults and no side effects", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "state")
		n, err := New(Config{StateDir: dir, PodCIDR: &net.IPNet{IP: net.IPv4(10, 1, 2, 3), Mask: net.CIDRMask(24, 32)}})
		if err != nil {
			t.Fatal(err)
		}
		if n.cfg.Bridge != DefaultBridge || n.cfg.MTU != DefaultMTU {
			t.Errorf("defaults: bridge %q MTU %d", n.cfg.Bridge, n.cfg.MTU)
		}
		if want := fmt.Sprintf("/proc/%d/ns/net", os.Getpid()); n.cfg.HostNetNS != want {
			t.Errorf("HostNetNS %q, want %q", n.cfg.HostNetNS, want)
		}
		if n.Gateway().String() != "10.1.2.1" || n.podNet.String() != "10.1.2.0/24" {
			t.Errorf("gateway %s pod net %s", n.gateway, n.podNet)
		}
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("New created %s", dir)
		}
	})
}

// readIPForward reads net.ipv4.ip_forward in the netns at path ("" for the
// test's own).
func readIPForward(t *testing.T, path string) string {
	t.Helper()
	var v string
	read := func() error {
		b, err := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
		v = strings.TrimSpace(string(b))
		return err
	}
	var err error
	if path == "" {
		err = onThrowawayThread(read)
	} else {
		err = inNetNS(path, read)
	}
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// routeSet lists the owned routes of type typ in the node netns as
// "dst via gw" (or "dst metric m" for gateway-less routes).
func routeSet(t *testing.T, h *netlink.Handle, typ int) []string {
	t.Helper()
	rs, err := ownedRoutes(h, typ)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rs {
		if r.Gw != nil {
			out = append(out, fmt.Sprintf("%s via %s", r.Dst, r.Gw))
		} else {
			out = append(out, fmt.Sprintf("%s metric %d", r.Dst, r.Priority))
		}
	}
	return sortStrings(out)
}

func sortStrings(s []string) []string {
	slices.Sort(s)
	return s
}

func TestSetup(t *testing.T) {
	t.Parallel()
	hostForward := readIPForward(t, "")
	tn := newTestNetwork(t, func(c *Config) {
		c.ClusterCIDR = mustCIDR(t, "10.244.0.0/16")
		c.ServiceCIDR = mustCIDR(t, "10.96.0.0/12")
		c.MTU = 1400
	})
	ctx := context.Background()
	h := tn.nodeHandle(t)

	check := func(t *testing.T, wantFallback []string) {
		t.Helper()
		br, err := h.LinkByName(tn.cfg.Bridge)
		if err != nil {
			t.Fatalf("bridge: %v", err)
		}
		if br.Type() != "bridge" || br.Attrs().Flags&net.FlagUp == 0 || br.Attrs().MTU != 1400 {
			t.Errorf("bridge %s type %s flags %v MTU %d", br.Attrs().Name, br.Type(), br.Attrs().Flags, br.Attrs().MTU)
		}
		addrs, err := h.AddrList(br, netlink.FAMILY_V4)
		if err != nil || len(addrs) != 1 || addrs[0].IPNet.String() != "10.244.1.1/24" {
			t.Errorf("bridge addresses %v (%v), want only 10.244.1.1/24", addrs, err)
		}
		if got := readIPForward(t, tn.nodeNS); got != "1" {
			t.Errorf("node ip_forward = %s", got)
		}
		if got := routeSet(t, h, unix.RTN_UNREACHABLE); !reflect.DeepEqual(got, wantFallback) {
			t.Errorf("fallback routes %v, want %v", got, wantFallback)
		}
	}
	if !sharedMount(t, filepath.Join(tn.cfg.StateDir, "sandboxes")) {
		t.Error("the sandboxes dir is not a shared mount point")
	}
	fallback := []string{"10.244.0.0/16 metric 2147483647", "10.96.0.0/12 metric 2147483647"}
	check(t, fallback)
	if err := tn.Setup(ctx); err != nil {
		t.Fatalf("second Setup: %v", err)
	}
	check(t, fallback)

	// A restart with the service CIDR dropped removes its fallback route.
	cfg := tn.cfg
	cfg.ServiceCIDR = nil
	n2, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	check(t, fallback[:1])

	sb, err := n2.CreateSandbox(ctx, "pod-mtu", "mtu")
	if err != nil {
		t.Fatal(err)
	}
	veth, err := h.LinkByName(sb.HostVeth)
	if err != nil || veth.Attrs().MTU != 1400 {
		t.Errorf("host veth MTU: %v %v", veth, err)
	}
	ph, err := handleAt(sb.NetNS)
	if err != nil {
		t.Fatal(err)
	}
	defer ph.Close()
	if eth0, err := ph.LinkByName("eth0"); err != nil || eth0.Attrs().MTU != 1400 {
		t.Errorf("pod eth0 MTU: %v %v", eth0, err)
	}
	if err := n2.DeleteSandbox(ctx, sb.PodUID); err != nil {
		t.Fatal(err)
	}

	if got := readIPForward(t, ""); got != hostForward {
		t.Errorf("the machine's ip_forward changed: %s -> %s", hostForward, got)
	}
}

func TestSetupRejectsNonBridge(t *testing.T) {
	t.Parallel()
	requireRoot(t)
	nodeNS := newNodeNS(t)
	h, err := handleAt(nodeNS)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	addVethFixture(t, h, "orchtest0", "fixture")
	n, err := New(Config{StateDir: newStateDir(t), Bridge: "orchtest0", PodCIDR: mustCIDR(t, "10.244.1.0/24"), HostNetNS: nodeNS})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Setup(context.Background()); err == nil || !strings.Contains(err.Error(), "not a bridge") {
		t.Fatalf("Setup over a veth named like the bridge: got %v", err)
	}
	if l, err := h.LinkByName("orchtest0"); err != nil || l.Type() != "veth" {
		t.Errorf("the veth was touched: %v %v", l, err)
	}
	if err := n.Teardown(context.Background()); err == nil {
		t.Error("Teardown deleted or ignored a non-bridge link of the bridge's name")
	}
}

// addUplink gives the node netns a directly connected network to route
// through, and a route that podnet does not own.
func addUplink(t *testing.T, h *netlink.Handle) {
	t.Helper()
	up := addVethFixture(t, h, "uplink0", "fixture")
	if err := h.AddrAdd(up, &netlink.Addr{IPNet: mustCIDR(t, "192.168.77.1/24")}); err != nil {
		t.Fatal(err)
	}
	foreign := &netlink.Route{Dst: mustCIDR(t, "10.50.0.0/16"), Gw: net.ParseIP("192.168.77.254"), Protocol: unix.RTPROT_STATIC}
	if err := h.RouteAdd(foreign); err != nil {
		t.Fatal(err)
	}
}

func foreignRoutePresent(t *testing.T, h *netlink.Handle) bool {
	t.Helper()
	rs, err := h.RouteListFiltered(netlink.FAMILY_V4, &netlink.Route{Protocol: unix.RTPROT_STATIC}, netlink.RT_FILTER_PROTOCOL)
	if err != nil {
		t.Fatal(err)
	}
	return len(rs) == 1 && rs[0].Dst.String() == "10.50.0.0/16" && rs[0].Gw.String() == "192.168.77.254"
}

func TestSetRoutes(t *testing.T) {
	t.Parallel()
	tn := newTestNetwork(t, func(c *Config) { c.ClusterCIDR = mustCIDR(t, "10.244.0.0/16") })
	ctx := context.Background()
	h := tn.nodeHandle(t)
	addUplink(t, h)

	route := func(cidr, via string) Route { return Route{CIDR: mustCIDR(t, cidr), Via: net.ParseIP(via)} }
	for _, step := range []struct {
		name    string
		before  func()
		routes  []Route
		want    []string
		wantErr string
	}{
		{
			name:   "add",
			routes: []Route{route("10.244.2.0/24", "192.168.77.2"), route("10.244.3.0/24", "192.168.77.3")},
			want:   []string{"10.244.2.0/24 via 192.168.77.2", "10.244.3.0/24 via 192.168.77.3"},
		},
		{
			name:   "same set is a no-op",
			routes: []Route{route("10.244.3.0/24", "192.168.77.3"), route("10.244.2.0/24", "192.168.77.2")},
			want:   []string{"10.244.2.0/24 via 192.168.77.2", "10.244.3.0/24 via 192.168.77.3"},
		},
		{
			name:   "replace, add and delete",
			routes: []Route{route("10.244.2.0/24", "192.168.77.4"), route("10.244.4.7/24", "192.168.77.5")},
			want:   []string{"10.244.2.0/24 via 192.168.77.4", "10.244.4.0/24 via 192.168.77.5"},
		},
		{
			name:    "an unreachable gateway fails, the rest applies",
			routes:  []Route{route("10.244.7.0/24", "203.0.113.9"), route("10.244.5.0/24", "192.168.77.6")},
			want:    []string{"10.244.5.0/24 via 192.168.77.6"},
			wantErr: "add 10.244.7.0/24",
		},
		{
			name: "outside the cluster CIDR: left out (and removed if an older agent installed it), the rest applies",
			before: func() {
				old := &netlink.Route{Dst: mustCIDR(t, "10.96.0.0/16"), Gw: net.ParseIP("192.168.77.8"), Protocol: RouteProtocol}
				if err := h.RouteAdd(old); err != nil {
					t.Fatal(err)
				}
			},
			routes: []Route{route("10.50.0.0/16", "192.168.77.9"), route("10.96.0.0/16", "192.168.77.8"),
				route("0.0.0.0/0", "192.168.77.7"), route("10.0.0.0/8", "192.168.77.7"), route("127.0.0.0/8", "192.168.77.7"),
				route("10.244.5.0/24", "192.168.77.6")},
			want: []string{"10.244.5.0/24 via 192.168.77.6"},
		},
		{
			name:    "inside this node's pod CIDR changes nothing",
			routes:  []Route{route("10.244.1.128/25", "192.168.77.6")},
			want:    []string{"10.244.5.0/24 via 192.168.77.6"},
			wantErr: "overlaps this node's pod CIDR",
		},
		{
			name:    "holding this node's pod CIDR changes nothing",
			routes:  []Route{route("10.244.0.0/23", "192.168.77.6")},
			want:    []string{"10.244.5.0/24 via 192.168.77.6"},
			wantErr: "overlaps this node's pod CIDR",
		},
		{
			name:    "invalid input changes nothing",
			routes:  []Route{route("10.244.6.0/24", "192.168.77.6"), route("10.244.6.0/24", "192.168.77.7")},
			want:    []string{"10.244.5.0/24 via 192.168.77.6"},
			wantErr: "duplicate",
		},
		{
			name:    "own pod CIDR",
			routes:  []Route{route("10.244.1.0/24", "192.168.77.6")},
			want:    []string{"10.244.5.0/24 via 192.168.77.6"},
			wantErr: "pod CIDR",
		},
		{
			name:    "IPv6",
			routes:  []Route{route("fd00::/64", "192.168.77.6")},
			want:    []string{"10.244.5.0/24 via 192.168.77.6"},
			wantErr: "IPv4",
		},
		{
			name:   "empty set removes all",
			routes: nil,
			want:   nil,
		},
	} {
		t.Run(step.name, func(t *testing.T) {
			if step.before != nil {
				step.before()
			}
			err := tn.SetRoutes(ctx, step.routes)
			if step.wantErr == "" && err != nil {
				t.Fatalf("SetRoutes: %v", err)
			}
			if step.wantErr != "" && (err == nil || !strings.Contains(err.Error(), step.wantErr)) {
				t.Fatalf("SetRoutes: got %v, want an error containing %q", err, step.wantErr)
			}
			if got := routeSet(t, h, unix.RTN_UNICAST); !reflect.DeepEqual(got, step.want) {
				t.Errorf("owned routes %v, want %v", got, step.want)
			}
			if !foreignRoutePresent(t, h) {
				t.Error("the foreign route was touched")
			}
			if got := routeSet(t, h, unix.RTN_UNREACHABLE); len(got) != 1 {
				t.Errorf("fallback routes %v", got)
			}
		})
	}
}

func TestTeardown(t *testing.T) {
	t.Parallel()
	tn := newTestNetwork(t, func(c *Config) { c.ClusterCIDR = mustCIDR(t, "10.244.0.0/16") })
	ctx := context.Background()
	h := tn.nodeHandle(t)
	addUplink(t, h)

	if err := tn.SetRoutes(ctx, []Route{{CIDR: mustCIDR(t, "10.244.9.0/24"), Via: net.ParseIP("192.168.77.9")}}); err != nil {
		t.Fatal(err)
	}
	sb, err := tn.CreateSandbox(ctx, "pod-stays", "stays")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := tn.Teardown(ctx); err != nil {
			t.Fatalf("Teardown #%d: %v", i+1, err)
		}
	}
	if _, err := h.LinkByName(tn.cfg.Bridge); !isLinkNotFound(err) {
		t.Errorf("bridge after Teardown: %v", err)
	}
	if got := routeSet(t, h, -1); len(got) != 0 {
		t.Errorf("owned routes after Teardown: %v", got)
	}
	if !foreignRoutePresent(t, h) {
		t.Error("the foreign route was removed")
	}
	if _, err := h.LinkByName("uplink0"); err != nil {
		t.Errorf("uplink removed: %v", err)
	}
	if _, ok := tn.Sandbox(sb.PodUID); !ok {
		t.Error("Teardown removed the sandbox")
	}
	if err := tn.DeleteSandbox(ctx, sb.PodUID); err != nil {
		t.Fatal(err)
	}
	tn.assertNoSandboxState(t, sb.PodUID)
}

// sharedMount reports whether dir is a mount point with shared propagation.
func sharedMount(t *testing.T, dir string) bool {
	t.Helper()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 7 || unescapeMountinfo(f[4]) != real {
			continue
		}
		for _, opt := range f[6:] {
			if opt == "-" {
				break
			}
			if strings.HasPrefix(opt, "shared:") {
				return true
			}
		}
	}
	return false
}
