package podnet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// podIfName is the name of the pod end of the veth.
const podIfName = "eth0"

// Sandbox is the network, UTS and IPC context of one pod. Containers of the
// pod join the namespaces by path.
type Sandbox struct {
	// PodUID is the pod the sandbox belongs to.
	PodUID string
	// NetNS, UTSNS and IPCNS are the paths of the bind-mounted namespace
	// files, usable with setns(2) or as OCI namespace paths.
	NetNS, UTSNS, IPCNS string
	// IP is the pod's address on eth0.
	IP net.IP
	// Gateway is the bridge address, the pod's default route.
	Gateway net.IP
	// PrefixLen is the prefix length of the pod CIDR.
	PrefixLen int
	// HostVeth is the name of the host end of the pod's veth.
	HostVeth string
}

// CreateSandbox pins new net, uts and ipc namespaces for the pod (with
// hostname as its host name), connects the net namespace to the bridge
// with a veth and gives eth0 an address from the node's IPAM and a default
// route via the gateway. Setup must have succeeded first.
//
// On failure everything done so far is undone: no namespace files, veth or
// address remain. A pod that already has a sandbox directory (also one
// left half-made by a crash) gets an error wrapping fs.ErrExist: call
// DeleteSandbox first.
func (n *Network) CreateSandbox(ctx context.Context, podUID, hostname string) (sb *Sandbox, err error) {
	if err := validUID(podUID); err != nil {
		return nil, fmt.Errorf("create sandbox: %w", err)
	}
	fail := func(step string, err error) error {
		return fmt.Errorf("create sandbox %s: %s: %w", podUID, step, err)
	}
	if hostname == "" {
		return nil, fail("hostname", errors.New("empty"))
	}
	if err := ctx.Err(); err != nil {
		return nil, fail("context", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()

	dir := filepath.Join(n.sandboxesDir(), podUID)
	if _, err := os.Lstat(dir); err == nil {
		return nil, fail("state", fmt.Errorf("%s: %w", dir, fs.ErrExist))
	} else if !isNotExist(err) {
		return nil, fail("state", err)
	}
	if err := n.ensureSandboxesMountLocked(); err != nil {
		return nil, fail("state", err)
	}

	// Undo steps run in reverse order unless the whole setup succeeds.
	var undo []func() error
	success := false
	defer func() {
		if success {
			return
		}
		for i := len(undo) - 1; i >= 0; i-- {
			if uerr := undo[i](); uerr != nil {
				n.log.Warn("sandbox rollback step failed", "pod", podUID, "err", uerr)
			}
		}
	}()

	ip, err := n.ipam.allocate(podUID)
	if err != nil {
		return nil, fail("ipam", err)
	}
	undo = append(undo, func() error { return n.ipam.release(podUID) })

	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fail("state", err)
	}
	undo = append(undo, func() error { return unpinNamespaces(dir) })
	if err := pinNamespaces(dir, hostname); err != nil {
		return nil, fail("namespaces", err)
	}
	if err := ctx.Err(); err != nil {
		return nil, fail("context", err)
	}

	sb = &Sandbox{
		PodUID:    podUID,
		NetNS:     filepath.Join(dir, "net"),
		UTSNS:     filepath.Join(dir, "uts"),
		IPCNS:     filepath.Join(dir, "ipc"),
		IP:        ip,
		Gateway:   n.gateway,
		PrefixLen: n.prefixLen,
		HostVeth:  vethName(podUID),
	}
	delVeth, err := n.createVeth(sb)
	if err != nil {
		return nil, fail("veth", err)
	}
	undo = append(undo, delVeth)
	if n.afterVeth != nil {
		if err := n.afterVeth(); err != nil {
			return nil, fail("hook", err)
		}
	}
	if err := n.configurePod(sb); err != nil {
		return nil, fail("pod interface", err)
	}
	success = true
	n.log.Debug("sandbox created", "pod", podUID, "ip", ip, "veth", sb.HostVeth)
	return sb, nil
}

// createVeth creates the veth pair with the peer directly in the pod netns,
// attached to the bridge, up and in hairpin mode. It returns the undo step
// deleting the pair.
func (n *Network) createVeth(sb *Sandbox) (undo func() error, err error) {
	h, err := handleAt(n.cfg.HostNetNS)
	if err != nil {
		return nil, err
	}
	defer h.Close()
	br, err := h.LinkByName(n.cfg.Bridge)
	if err != nil {
		return nil, fmt.Errorf("bridge %s (was Setup called?): %w", n.cfg.Bridge, err)
	}
	podNS, err := netns.GetFromPath(sb.NetNS)
	if err != nil {
		return nil, fmt.Errorf("open pod netns: %w", err)
	}
	defer podNS.Close()

	attrs := netlink.NewLinkAttrs()
	attrs.Name = sb.HostVeth
	attrs.MTU = n.cfg.MTU
	attrs.MasterIndex = br.Attrs().Index
	veth := &netlink.Veth{
		LinkAttrs:     attrs,
		PeerName:      podIfName,
		PeerNamespace: netlink.NsFd(int(podNS)),
	}
	if err := h.LinkAdd(veth); err != nil {
		return nil, fmt.Errorf("add %s: %w", sb.HostVeth, err)
	}
	link, err := h.LinkByName(sb.HostVeth)
	if err != nil {
		return nil, fmt.Errorf("look up %s after creating it: %w", sb.HostVeth, err)
	}
	index := link.Attrs().Index
	undo = func() error {
		h, err := handleAt(n.cfg.HostNetNS)
		if err != nil {
			return err
		}
		defer h.Close()
		link, err := h.LinkByIndex(index)
		if isLinkNotFound(err) {
			return nil
		}
		if err != nil {
			return err
		}
		return h.LinkDel(link)
	}
	// The kernel ignores IFLA_IFALIAS when creating a link: set it now.
	if err := h.LinkSetAlias(link, vethAlias(sb.PodUID)); err != nil {
		return nil, fmt.Errorf("alias on %s: %w", sb.HostVeth, errors.Join(err, undo()))
	}
	if err := h.LinkSetHairpin(link, true); err != nil {
		return nil, fmt.Errorf("hairpin on %s: %w", sb.HostVeth, errors.Join(err, undo()))
	}
	if err := h.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("set %s up: %w", sb.HostVeth, errors.Join(err, undo()))
	}
	return undo, nil
}

// configurePod addresses eth0 in the pod netns, brings it up and adds the
// default route, through a netlink handle opened in that netns.
func (n *Network) configurePod(sb *Sandbox) error {
	h, err := handleAt(sb.NetNS)
	if err != nil {
		return err
	}
	defer h.Close()
	eth0, err := h.LinkByName(podIfName)
	if err != nil {
		return err
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: sb.IP, Mask: net.CIDRMask(sb.PrefixLen, 32)}}
	if err := h.AddrAdd(eth0, addr); err != nil {
		return fmt.Errorf("add address %s: %w", addr.IPNet, err)
	}
	if err := h.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("set up: %w", err)
	}
	def := &netlink.Route{
		LinkIndex: eth0.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        sb.Gateway,
	}
	if err := h.RouteAdd(def); err != nil {
		return fmt.Errorf("default route via %s: %w", sb.Gateway, err)
	}
	return nil
}

// Sandbox returns the sandbox of podUID as found on disk: its three
// namespace files must be mounted namespaces (after a reboot they are empty
// placeholders) and it must hold an address. Used by an agent after a
// restart to adopt running pods.
func (n *Network) Sandbox(podUID string) (*Sandbox, bool) {
	if validUID(podUID) != nil {
		return nil, false
	}
	dir := filepath.Join(n.sandboxesDir(), podUID)
	sb := &Sandbox{
		PodUID:    podUID,
		NetNS:     filepath.Join(dir, "net"),
		UTSNS:     filepath.Join(dir, "uts"),
		IPCNS:     filepath.Join(dir, "ipc"),
		Gateway:   n.gateway,
		PrefixLen: n.prefixLen,
		HostVeth:  vethName(podUID),
	}
	for _, p := range []string{sb.NetNS, sb.UTSNS, sb.IPCNS} {
		if !isNSFile(p) {
			return nil, false
		}
	}
	ip, ok, err := n.ipam.lookup(podUID)
	if err != nil {
		n.log.Warn("sandbox lookup", "pod", podUID, "err", err)
		return nil, false
	}
	if !ok {
		return nil, false
	}
	sb.IP = ip
	return sb, true
}

// Sandboxes returns the UIDs of the pods that have sandbox state on disk,
// sorted, including half-made or stale ones (which Sandbox does not
// return): an agent deletes those it does not want.
func (n *Network) Sandboxes() ([]string, error) {
	entries, err := os.ReadDir(n.sandboxesDir())
	if isNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list sandboxes: %w", err)
	}
	var uids []string
	for _, e := range entries {
		if e.IsDir() && validUID(e.Name()) == nil {
			uids = append(uids, e.Name())
		}
	}
	return uids, nil
}

// DeleteSandbox removes the pod's host veth, unmounts and removes its
// namespace files and directory and releases its address. It is
// idempotent: deleting a sandbox that does not exist, or one left half-made,
// succeeds.
func (n *Network) DeleteSandbox(ctx context.Context, podUID string) error {
	if err := validUID(podUID); err != nil {
		return fmt.Errorf("delete sandbox: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delete sandbox %s: %w", podUID, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()

	var errs []error
	if err := n.deleteHostVeth(podUID); err != nil {
		errs = append(errs, fmt.Errorf("veth: %w", err))
	}
	if err := unpinNamespaces(filepath.Join(n.sandboxesDir(), podUID)); err != nil {
		errs = append(errs, fmt.Errorf("namespaces: %w", err))
	}
	// Release even if the above failed: the address is only reused after
	// the rest of the range, and the pod is gone either way.
	if err := n.ipam.release(podUID); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("delete sandbox %s: %w", podUID, err)
	}
	n.log.Debug("sandbox deleted", "pod", podUID)
	return nil
}

// deleteHostVeth deletes the pod's host veth if it exists and carries the
// pod's alias (or none); a link of the same name owned by another pod (a
// hash collision) or by someone else is left alone.
func (n *Network) deleteHostVeth(podUID string) error {
	h, err := handleAt(n.cfg.HostNetNS)
	if err != nil {
		return err
	}
	defer h.Close()
	name := vethName(podUID)
	link, err := h.LinkByName(name)
	if isLinkNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	// An empty alias is a veth whose creation was interrupted before the
	// alias was set.
	if alias := link.Attrs().Alias; alias != vethAlias(podUID) && (alias != "" || link.Type() != "veth") {
		n.log.Warn("host veth not owned by pod: left alone", "pod", podUID, "veth", name, "alias", alias)
		return nil
	}
	if err := h.LinkDel(link); err != nil && !isLinkNotFound(err) && !errors.Is(err, unix.ENODEV) {
		return err
	}
	return nil
}

// vethName derives the host veth name from the pod UID: "veth" and 8 hex
// digits of its SHA-256, 12 characters, within IFNAMSIZ.
func vethName(podUID string) string {
	sum := sha256.Sum256([]byte(podUID))
	return "veth" + hex.EncodeToString(sum[:4])
}

// vethAlias is the interface alias marking a host veth as the pod's.
func vethAlias(podUID string) string { return "orch-pod:" + podUID }

// validUID accepts UIDs safe to use as a single path element.
func validUID(uid string) error {
	if uid == "" || len(uid) > 128 || uid == "." || uid == ".." {
		return fmt.Errorf("invalid pod UID %q", uid)
	}
	for _, c := range uid {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("invalid pod UID %q", uid)
		}
	}
	return nil
}
