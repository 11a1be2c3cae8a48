package podnet

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestHostNetworkSandbox: a hostNetwork pod's sandbox pins only an IPC
// namespace and no address, is found again after a restart (also when its
// file is a dead placeholder, as after a reboot, it is remade), and
// DeleteSandbox removes it.
func TestHostNetworkSandbox(t *testing.T) {
	t.Parallel()
	tn := newTestNetwork(t, func(c *Config) { c.PodCIDR = mustCIDR(t, "10.244.9.0/28") })
	ctx := context.Background()
	nodeIP := net.ParseIP("192.0.2.10")

	sb, err := tn.HostNetworkSandbox(ctx, "pod-host", nodeIP)
	if err != nil {
		t.Fatal(err)
	}
	if sb.NetNS != "" || sb.UTSNS != "" || !sb.IP.Equal(nodeIP) || !isNSFile(sb.IPCNS) {
		t.Fatalf("sandbox %+v: want only a pinned IPC namespace and the node's IP", sb)
	}
	if _, ok, err := tn.ipam.lookup("pod-host"); ok || err != nil {
		t.Errorf("a hostNetwork pod took an address: %v %v", ok, err)
	}
	// The namespace's identity: the inode the bind mount shows.
	ino := func(p string) uint64 {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st.Ino
	}
	first := ino(sb.IPCNS)

	n2 := tn.reopen(t)
	again, err := n2.HostNetworkSandbox(ctx, "pod-host", nodeIP)
	if err != nil {
		t.Fatal(err)
	}
	if again.IPCNS != sb.IPCNS || ino(again.IPCNS) != first {
		t.Errorf("after a restart the pod got another IPC namespace")
	}
	if uids, err := n2.Sandboxes(); err != nil || len(uids) != 1 || uids[0] != "pod-host" {
		t.Errorf("Sandboxes() = %v, %v", uids, err)
	}
	if err := n2.DeleteSandbox(ctx, "pod-host"); err != nil {
		t.Fatal(err)
	}
	tn.assertNoSandboxState(t, "pod-host")

	// A placeholder left without its namespace is remade.
	dir := filepath.Join(tn.cfg.StateDir, "sandboxes", "pod-stale")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ipc"), nil, 0o444); err != nil {
		t.Fatal(err)
	}
	stale, err := n2.HostNetworkSandbox(ctx, "pod-stale", nodeIP)
	if err != nil || !isNSFile(stale.IPCNS) {
		t.Fatalf("stale placeholder: %+v %v", stale, err)
	}
	if err := n2.DeleteSandbox(ctx, "pod-stale"); err != nil {
		t.Fatal(err)
	}
	tn.assertNoSandboxState(t, "pod-stale")
}
