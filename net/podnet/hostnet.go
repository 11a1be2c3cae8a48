package podnet

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// HostNetworkSandbox returns the sandbox of a pod that uses the node's
// network (Kubernetes' hostNetwork): no network or UTS namespace of its own
// (its containers share the node's), ip (the node's address) as its IP, and
// an IPC namespace pinned for its containers to share, as the CRI gives a
// hostNetwork pod's sandbox. The namespace is made on the first call and
// found again by later ones (an agent restart); DeleteSandbox removes it.
func (n *Network) HostNetworkSandbox(ctx context.Context, podUID string, ip net.IP) (*Sandbox, error) {
	if err := validUID(podUID); err != nil {
		return nil, fmt.Errorf("host network sandbox: %w", err)
	}
	fail := func(step string, err error) (*Sandbox, error) {
		return nil, fmt.Errorf("host network sandbox %s: %s: %w", podUID, step, err)
	}
	if err := ctx.Err(); err != nil {
		return fail("context", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	dir := filepath.Join(n.sandboxesDir(), podUID)
	sb := &Sandbox{PodUID: podUID, IPCNS: filepath.Join(dir, "ipc"), IP: ip}
	if isNSFile(sb.IPCNS) {
		return sb, nil
	}
	// A directory without a live namespace (half-made, or from before a
	// reboot) is cleared first.
	if err := unpinNamespaces(dir); err != nil {
		return fail("state", err)
	}
	if err := n.ensureSandboxesMountLocked(); err != nil {
		return fail("state", err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fail("state", err)
	}
	if err := pinIPC(sb.IPCNS); err != nil {
		if uerr := unpinNamespaces(dir); uerr != nil {
			n.log.Warn("sandbox rollback step failed", "pod", podUID, "err", uerr)
		}
		return fail("namespaces", err)
	}
	n.log.Debug("host network sandbox created", "pod", podUID)
	return sb, nil
}

// pinIPC creates a new IPC namespace on a throwaway thread and bind-mounts
// it onto target, which must not exist.
func pinIPC(target string) error {
	return onThrowawayThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWIPC); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		f, err := os.OpenFile(target, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
		if err != nil {
			return fmt.Errorf("pin ipc namespace: %w", err)
		}
		if err := f.Close(); err != nil {
			return fmt.Errorf("pin ipc namespace: %w", err)
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/ipc", unix.Gettid())
		if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("pin ipc namespace: bind mount %s: %w", src, err)
		}
		return nil
	})
}
