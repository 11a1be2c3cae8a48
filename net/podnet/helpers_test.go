package podnet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// requireRoot fails tests that need CAP_NET_ADMIN and CAP_SYS_ADMIN when run
// without them: CI runs as root, so a skip there would check nothing.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("needs root for netlink, namespaces and mounts (run the suite as root, as make test in CI does)")
	}
}

// testLogger routes logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// newNodeNS creates a fresh network namespace standing in for the node's,
// so that no test touches the machine's own. It is held by an open file
// descriptor only (no /run/netns entry, no mount): the returned
// /proc/<pid>/fd/<n> path opens it, and closing the descriptor in cleanup
// frees it together with every link in it.
func newNodeNS(t *testing.T) string {
	t.Helper()
	var fd int
	err := onThrowawayThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return err
		}
		var err error
		fd, err = unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		return loUp()
	})
	if err != nil {
		t.Fatalf("node netns: %v", err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), fd)
}

// newStateDir returns a temporary state dir whose mounts are detached
// before t.TempDir removes it.
func newStateDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(func() { unmountUnder(t, dir) })
	return dir
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(t *testing.T, dir string) {
	t.Helper()
	for _, mp := range mountsUnder(t, dir) {
		if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", mp, err)
		}
	}
}

// mountsUnder lists the mount points at or below dir, deepest first.
func mountsUnder(t *testing.T, dir string) []string {
	t.Helper()
	real, err := filepath.EvalSymlinks(dir)
	if err != nil {
		t.Fatalf("resolve %s: %v", dir, err)
	}
	all, err := mountPoints()
	if err != nil {
		t.Fatalf("mountinfo: %v", err)
	}
	var out []string
	for _, mp := range all {
		if mp == real || strings.HasPrefix(mp, real+"/") {
			out = append(out, mp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return len(out[i]) > len(out[j]) })
	return out
}

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, c, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testNetwork is a Network in its own node netns and state dir.
type testNetwork struct {
	*Network
	cfg    Config
	nodeNS string
}

// newTestNetwork builds and sets up a Network on a fresh node netns. mod,
// if not nil, adjusts the config first.
func newTestNetwork(t *testing.T, mod func(*Config)) *testNetwork {
	t.Helper()
	requireRoot(t)
	cfg := Config{
		StateDir:  newStateDir(t),
		Bridge:    "orchtest0",
		PodCIDR:   mustCIDR(t, "10.244.1.0/24"),
		HostNetNS: newNodeNS(t),
		Logger:    testLogger(t),
	}
	if mod != nil {
		mod(&cfg)
	}
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := n.Setup(context.Background()); err != nil {
		t.Fatalf("Setup: %v", err)
	}
	return &testNetwork{Network: n, cfg: cfg, nodeNS: cfg.HostNetNS}
}

// reopen builds a second Network on the same config, as an agent restart
// does.
func (tn *testNetwork) reopen(t *testing.T) *Network {
	t.Helper()
	n, err := New(tn.cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

// nodeHandle is a netlink handle in the node netns, closed in cleanup.
func (tn *testNetwork) nodeHandle(t *testing.T) *netlink.Handle {
	t.Helper()
	h, err := handleAt(tn.nodeNS)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.Close)
	return h
}

// assertNoSandboxState checks that nothing of uid's sandbox is left: no
// directory, no mounts, no address, no veth owned by it.
func (tn *testNetwork) assertNoSandboxState(t *testing.T, uid string) {
	t.Helper()
	dir := filepath.Join(tn.cfg.StateDir, "sandboxes", uid)
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("sandbox dir %s: want gone, got err=%v", dir, err)
	}
	if mps := mountsUnder(t, filepath.Join(tn.cfg.StateDir, "sandboxes")); len(mps) != 1 {
		t.Errorf("mounts under sandboxes: want only the dir itself, got %v", mps)
	}
	if ip, ok, err := tn.ipam.lookup(uid); err != nil || ok {
		t.Errorf("ipam lookup %s: want none, got %v %v %v", uid, ip, ok, err)
	}
	// Fixtures that take the name carry another non-empty alias.
	h := tn.nodeHandle(t)
	if l, err := h.LinkByName(vethName(uid)); err == nil && (l.Attrs().Alias == vethAlias(uid) || l.Attrs().Alias == "") {
		t.Errorf("veth %s of %s still exists", vethName(uid), uid)
	} else if err != nil && !isLinkNotFound(err) {
		t.Errorf("look up veth: %v", err)
	}
}

// hostnameOf reads the host name of the UTS namespace at path.
func hostnameOf(t *testing.T, path string) string {
	t.Helper()
	var name string
	err := onThrowawayThread(func() error {
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWUTS); err != nil {
			return err
		}
		var u unix.Utsname
		if err := unix.Uname(&u); err != nil {
			return err
		}
		name = unix.ByteSliceToString(u.Nodename[:])
		return nil
	})
	if err != nil {
		t.Fatalf("hostname of %s: %v", path, err)
	}
	return name
}

// listenIn opens a TCP listener on addr inside the netns at nsPath; it
// answers every connection with "hello from <addr>" and is closed in
// cleanup.
func listenIn(t *testing.T, nsPath, ip string) net.Listener {
	t.Helper()
	var ln net.Listener
	err := inNetNS(nsPath, func() error {
		var err error
		ln, err = net.Listen("tcp", net.JoinHostPort(ip, "0"))
		return err
	})
	if err != nil {
		t.Fatalf("listen in %s: %v", nsPath, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "hello from %s\n", ln.Addr())
			c.Close()
		}
	}()
	return ln
}

// dialFrom connects to addr from inside the netns at nsPath, retrying until
// a deadline (the bridge port may need a moment), and returns the greeting.
func dialFrom(t *testing.T, nsPath, addr string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var lastErr error
	for time.Now().Before(deadline) {
		var got string
		lastErr = inNetNS(nsPath, func() error {
			d := net.Dialer{Timeout: time.Second}
			c, err := d.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
				return err
			}
			b, err := io.ReadAll(c)
			got = string(b)
			return err
		})
		if lastErr == nil {
			return strings.TrimSpace(got)
		}
		<-time.After(50 * time.Millisecond) // poll interval
	}
	t.Fatalf("dial %s from %s: %v", addr, nsPath, lastErr)
	return ""
}

// addVethFixture creates a veth pair in the netns of h, both ends up, the
// first named name and carrying alias. (This kernel has no dummy driver.)
func addVethFixture(t *testing.T, h *netlink.Handle, name, alias string) netlink.Link {
	t.Helper()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: attrs, PeerName: name + "p"}); err != nil {
		t.Fatalf("add veth %s: %v", name, err)
	}
	l, err := h.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	if alias != "" {
		if err := h.LinkSetAlias(l, alias); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{name, name + "p"} {
		link, err := h.LinkByName(n)
		if err != nil {
			t.Fatal(err)
		}
		if err := h.LinkSetUp(link); err != nil {
			t.Fatal(err)
		}
	}
	return l
}
