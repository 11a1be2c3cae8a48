package podnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// RouteProtocol is the netlink route protocol number marking the routes
// podnet owns (host-gw routes from SetRoutes and the unreachable fallback
// routes from Setup): `ip route show proto 113` lists them. It is outside
// the numbers assigned in /etc/iproute2/rt_protos.
const RouteProtocol = 113

// fallbackPriority is the metric of the unreachable fallback routes: the
// largest, so any other route for the same prefix wins (and, as always,
// any longer prefix wins whatever its metric).
const fallbackPriority = 1<<31 - 1

// Defaults for Config fields left zero.
const (
	DefaultBridge = "orch0"
	DefaultMTU    = 1500
)

// Config configures a node's pod network.
type Config struct {
	// StateDir holds the IPAM files and the pinned namespaces; it is created
	// if missing. See the package documentation for its layout.
	StateDir string
	// Bridge is the name of the node bridge; DefaultBridge if empty.
	Bridge string
	// PodCIDR is the node's pod range (IPv4, /30 or shorter). Its first host
	// address is the gateway, assigned to the bridge.
	PodCIDR *net.IPNet
	// ClusterCIDR, if set, gets an unreachable fallback route of the lowest
	// priority, so traffic to pods of nodes without a route fails fast
	// instead of leaving through the default route.
	ClusterCIDR *net.IPNet
	// ServiceCIDR, if set, gets an unreachable fallback route like
	// ClusterCIDR.
	ServiceCIDR *net.IPNet
	// MTU of the bridge and of both veth ends; DefaultMTU if zero.
	MTU int
	// HostNetNS is the path of the node's network namespace, where the
	// bridge, host veths and routes live and where ip_forward is set. Empty
	// means the network namespace of the process (/proc/<pid>/ns/net, the
	// main thread's). Tests point it at a throwaway namespace.
	HostNetNS string
	// Logger receives diagnostics; discarded if nil.
	Logger *slog.Logger
}

// Network manages the pod network of one node: the bridge, the sandboxes
// and the host-gw routes. Its methods are safe for concurrent use.
type Network struct {
	cfg       Config // defaults applied
	podNet    *net.IPNet
	gateway   net.IP
	prefixLen int
	ipam      *ipam
	log       *slog.Logger

	// mu serialises changes to sandboxes, the bridge and routes.
	mu sync.Mutex
	// sandboxesShared records that the sandboxes directory has been made a
	// shared mount point.
	sandboxesShared bool

	// afterVeth, if set, runs in CreateSandbox after the veth exists; tests
	// use it to force a failure late in the setup.
	afterVeth func() error
}

// New validates cfg and returns a Network. It has no side effects: call
// Setup before creating sandboxes.
func New(cfg Config) (*Network, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("podnet: StateDir is required")
	}
	if cfg.Bridge == "" {
		cfg.Bridge = DefaultBridge
	}
	if err := validLinkName(cfg.Bridge); err != nil {
		return nil, fmt.Errorf("podnet: bridge: %w", err)
	}
	if cfg.MTU == 0 {
		cfg.MTU = DefaultMTU
	}
	if cfg.MTU < 68 || cfg.MTU > 65535 {
		return nil, fmt.Errorf("podnet: MTU %d out of range 68-65535", cfg.MTU)
	}
	if cfg.PodCIDR == nil {
		return nil, errors.New("podnet: PodCIDR is required")
	}
	for name, c := range map[string]*net.IPNet{"ClusterCIDR": cfg.ClusterCIDR, "ServiceCIDR": cfg.ServiceCIDR} {
		if c != nil && (c.IP.To4() == nil || len(c.Mask) != net.IPv4len) {
			return nil, fmt.Errorf("podnet: %s %s: only IPv4 is supported", name, c)
		}
	}
	if cfg.HostNetNS == "" {
		cfg.HostNetNS = fmt.Sprintf("/proc/%d/ns/net", os.Getpid())
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("subsystem", "podnet")

	podNet := &net.IPNet{IP: cfg.PodCIDR.IP.Mask(cfg.PodCIDR.Mask).To4(), Mask: cfg.PodCIDR.Mask}
	am, err := newIPAM(filepath.Join(cfg.StateDir, "ipam"), podNet, log)
	if err != nil {
		return nil, fmt.Errorf("podnet: %w", err)
	}
	return &Network{
		cfg:       cfg,
		podNet:    podNet,
		gateway:   am.gateway,
		prefixLen: am.prefixLen,
		ipam:      am,
		log:       log,
	}, nil
}

// Setup makes the node ready for sandboxes. It is idempotent: it creates
// StateDir, makes the sandboxes directory a shared mount point, makes sure
// the bridge exists with the gateway address and is up, sets
// net.ipv4.ip_forward=1 in the node netns and installs the unreachable
// fallback routes (removing fallback routes for CIDRs no longer
// configured). A bridge it created is removed again if a later step fails.
func (n *Network) Setup(ctx context.Context) (err error) {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("podnet setup: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()

	for _, d := range []string{n.cfg.StateDir, n.ipam.dir, n.sandboxesDir()} {
		// The node agent's alone (0700), tightened if an older agent made it open.
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("podnet setup: state dir: %w", err)
		}
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("podnet setup: state dir: %w", err)
		}
	}
	if err := n.ensureSandboxesMountLocked(); err != nil {
		return fmt.Errorf("podnet setup: %w", err)
	}

	h, err := handleAt(n.cfg.HostNetNS)
	if err != nil {
		return fmt.Errorf("podnet setup: %w", err)
	}
	defer h.Close()

	created, err := n.ensureBridge(h)
	if err != nil {
		return fmt.Errorf("podnet setup: bridge %s: %w", n.cfg.Bridge, err)
	}
	if created {
		defer func() {
			if err == nil {
				return
			}
			if br, lerr := h.LinkByName(n.cfg.Bridge); lerr == nil {
				if derr := h.LinkDel(br); derr != nil {
					n.log.Warn("rollback: delete bridge", "bridge", n.cfg.Bridge, "err", derr)
				}
			}
		}()
	}
	if err := n.enableForwarding(); err != nil {
		return fmt.Errorf("podnet setup: %w", err)
	}
	if err := n.syncFallbackRoutes(h); err != nil {
		return fmt.Errorf("podnet setup: fallback routes: %w", err)
	}
	if err := n.ensureServiceRoute(h); err != nil {
		return fmt.Errorf("podnet setup: service route: %w", err)
	}
	n.log.Info("pod network ready", "bridge", n.cfg.Bridge, "gateway", n.gateway, "podCIDR", n.podNet)
	return nil
}

// Gateway is the bridge's address, the first host address of the pod CIDR:
// pods' default gateway, and where the node serves DNS.
func (n *Network) Gateway() net.IP { return append(net.IP(nil), n.gateway...) }

// Teardown removes the bridge, the routes podnet owns and the fallback
// routes from the node netns. Sandboxes are left alone (their host veths
// lose their master). Missing pieces are not an error.
func (n *Network) Teardown(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("podnet teardown: %w", err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()

	h, err := handleAt(n.cfg.HostNetNS)
	if err != nil {
		return fmt.Errorf("podnet teardown: %w", err)
	}
	defer h.Close()

	var errs []error
	owned, err := ownedRoutes(h, -1)
	if err != nil {
		errs = append(errs, err)
	}
	for i := range owned {
		if err := h.RouteDel(&owned[i]); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete route %s: %w", owned[i].Dst, err))
		}
	}
	br, err := h.LinkByName(n.cfg.Bridge)
	switch {
	case isLinkNotFound(err):
	case err != nil:
		errs = append(errs, fmt.Errorf("bridge %s: %w", n.cfg.Bridge, err))
	case br.Type() != "bridge":
		errs = append(errs, fmt.Errorf("link %s is a %s, not a bridge: left alone", n.cfg.Bridge, br.Type()))
	default:
		if err := h.LinkDel(br); err != nil && !isLinkNotFound(err) {
			errs = append(errs, fmt.Errorf("delete bridge %s: %w", n.cfg.Bridge, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("podnet teardown: %w", err)
	}
	return nil
}

// ensureBridge makes sure the bridge exists with the MTU and the gateway
// address and is up. It reports whether it created the bridge.
func (n *Network) ensureBridge(h *netlink.Handle) (created bool, err error) {
	br, err := h.LinkByName(n.cfg.Bridge)
	if isLinkNotFound(err) {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = n.cfg.Bridge
		attrs.MTU = n.cfg.MTU
		if err := h.LinkAdd(&netlink.Bridge{LinkAttrs: attrs}); err != nil {
			return false, fmt.Errorf("create: %w", err)
		}
		created = true
		br, err = h.LinkByName(n.cfg.Bridge)
	}
	if err != nil {
		return created, err
	}
	if br.Type() != "bridge" {
		return created, fmt.Errorf("link exists and is a %s, not a bridge", br.Type())
	}
	if br.Attrs().MTU != n.cfg.MTU {
		if err := h.LinkSetMTU(br, n.cfg.MTU); err != nil {
			return created, fmt.Errorf("set MTU %d: %w", n.cfg.MTU, err)
		}
	}
	want := &net.IPNet{IP: n.gateway, Mask: net.CIDRMask(n.prefixLen, 32)}
	addrs, err := listRetry(func() ([]netlink.Addr, error) { return h.AddrList(br, netlink.FAMILY_V4) })
	if err != nil {
		return created, fmt.Errorf("list addresses: %w", err)
	}
	have := false
	for _, a := range addrs {
		if a.IPNet.String() == want.String() {
			have = true
		} else {
			n.log.Warn("unexpected address on bridge", "bridge", n.cfg.Bridge, "addr", a.IPNet)
		}
	}
	if !have {
		if err := h.AddrAdd(br, &netlink.Addr{IPNet: want}); err != nil && !errors.Is(err, unix.EEXIST) {
			return created, fmt.Errorf("add address %s: %w", want, err)
		}
	}
	if err := h.LinkSetUp(br); err != nil {
		return created, fmt.Errorf("set up: %w", err)
	}
	return created, nil
}

// enableForwarding sets net.ipv4.ip_forward=1 in the node netns. The
// sysctl files under /proc/sys/net belong to the netns of the thread that
// opens them, so this runs on a throwaway thread inside HostNetNS.
func (n *Network) enableForwarding() error {
	const path = "/proc/sys/net/ipv4/ip_forward"
	err := inNetNS(n.cfg.HostNetNS, func() error {
		b, err := os.ReadFile(path)
		if err == nil && strings.TrimSpace(string(b)) == "1" {
			return nil
		}
		return os.WriteFile(path, []byte("1\n"), 0o644)
	})
	if err != nil {
		return fmt.Errorf("ip_forward: %w", err)
	}
	return nil
}

// syncFallbackRoutes makes the owned unreachable routes exactly the
// configured ClusterCIDR and ServiceCIDR.
func (n *Network) syncFallbackRoutes(h *netlink.Handle) error {
	want := map[string]*net.IPNet{}
	for _, c := range []*net.IPNet{n.cfg.ClusterCIDR, n.cfg.ServiceCIDR} {
		if c != nil {
			c = &net.IPNet{IP: c.IP.Mask(c.Mask).To4(), Mask: c.Mask}
			want[c.String()] = c
		}
	}
	have, err := ownedRoutes(h, unix.RTN_UNREACHABLE)
	if err != nil {
		return err
	}
	var errs []error
	for i := range have {
		r := &have[i]
		if r.Dst != nil && want[r.Dst.String()] != nil && r.Priority == fallbackPriority {
			delete(want, r.Dst.String())
			continue
		}
		if err := h.RouteDel(r); err != nil && !errors.Is(err, unix.ESRCH) {
			errs = append(errs, fmt.Errorf("delete stale %s: %w", r.Dst, err))
		}
	}
	for _, c := range want {
		err := h.RouteReplace(&netlink.Route{
			Dst:      c,
			Type:     unix.RTN_UNREACHABLE,
			Protocol: RouteProtocol,
			Priority: fallbackPriority,
			Table:    unix.RT_TABLE_MAIN,
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("add unreachable %s: %w", c, err))
		}
	}
	return errors.Join(errs...)
}

// ServiceRouteProtocol marks the route of the service CIDR to the bridge.
const ServiceRouteProtocol = 114

// ensureServiceRoute routes the service CIDR to the bridge. Service
// addresses live only in iptables rules, and the kernel looks up a route
// before those rules see a packet (routing precedes FORWARD, and a local
// connect needs a route before OUTPUT's DNAT). With this route a packet to a
// ClusterIP reaches the proxy's rules (DNAT, or REJECT when the service has
// no endpoints); one that no rule takes dies on the bridge, so it never
// leaves the node either way. The unreachable fallback stays underneath.
func (n *Network) ensureServiceRoute(h *netlink.Handle) error {
	if n.cfg.ServiceCIDR == nil {
		return nil
	}
	br, err := h.LinkByName(n.cfg.Bridge)
	if err != nil {
		return err
	}
	dst := &net.IPNet{IP: n.cfg.ServiceCIDR.IP.Mask(n.cfg.ServiceCIDR.Mask).To4(), Mask: n.cfg.ServiceCIDR.Mask}
	return h.RouteReplace(&netlink.Route{Dst: dst, LinkIndex: br.Attrs().Index, Scope: netlink.SCOPE_LINK,
		Src: n.gateway, Protocol: ServiceRouteProtocol, Table: unix.RT_TABLE_MAIN})
}

// ownedRoutes lists the IPv4 main-table routes marked with RouteProtocol,
// of type typ (any type if typ is negative).
func ownedRoutes(h *netlink.Handle, typ int) ([]netlink.Route, error) {
	filter := &netlink.Route{Protocol: RouteProtocol, Table: unix.RT_TABLE_MAIN}
	mask := netlink.RT_FILTER_PROTOCOL | netlink.RT_FILTER_TABLE
	if typ >= 0 {
		filter.Type = typ
		mask |= netlink.RT_FILTER_TYPE
	}
	routes, err := listRetry(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_V4, filter, mask)
	})
	if err != nil {
		return nil, fmt.Errorf("list routes: %w", err)
	}
	return routes, nil
}

// listRetry repeats a netlink dump interrupted by a concurrent change.
func listRetry[T any](list func() ([]T, error)) ([]T, error) {
	var err error
	for range 5 {
		var out []T
		out, err = list()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return nil, err
}

// sandboxesDir is the directory holding one directory per sandbox.
func (n *Network) sandboxesDir() string { return filepath.Join(n.cfg.StateDir, "sandboxes") }

// ensureSandboxesMountLocked makes the sandboxes directory a shared mount
// point once per Network (and, through the mountinfo check, once per
// machine boot). n.mu must be held.
func (n *Network) ensureSandboxesMountLocked() error {
	if n.sandboxesShared {
		return nil
	}
	dir, err := cleanDir(n.sandboxesDir())
	if err != nil {
		return fmt.Errorf("sandboxes dir: %w", err)
	}
	if err := makeSharedMountDir(dir); err != nil {
		return err
	}
	n.sandboxesShared = true
	return nil
}

func isLinkNotFound(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf)
}

// validLinkName checks an interface name as the kernel would.
func validLinkName(name string) error {
	if name == "" || len(name) >= unix.IFNAMSIZ || name == "." || name == ".." ||
		strings.ContainsAny(name, "/: \t\n") {
		return fmt.Errorf("invalid interface name %q", name)
	}
	return nil
}
