package hollow

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"sort"
	"sync"

	"orch.io/orch/net/podnet"
	"orch.io/orch/node"
)

// Network is a node.Network without namespaces: each pod gets the lowest
// free address of the node's pod CIDR after the gateway (its first host
// address), as net/podnet's host-local IPAM, and no interface or route is
// made. Routes to the other nodes' pod CIDRs are recorded, not applied.
// It is safe for concurrent use.
type Network struct {
	cidr    *net.IPNet
	gateway net.IP
	first   uint32 // first pod address
	last    uint32 // last pod address (the broadcast address excluded)

	mu        sync.Mutex
	sandboxes map[string]*podnet.Sandbox
	used      map[uint32]string // address → pod UID
	routes    []podnet.Route
}

var (
	_ node.Network     = (*Network)(nil)
	_ node.RouteSetter = (*Network)(nil)
)

// NewNetwork returns the network of a node with the given IPv4 pod CIDR
// (at most a /30: a gateway and one pod).
func NewNetwork(podCIDR *net.IPNet) (*Network, error) {
	if podCIDR == nil {
		return nil, errors.New("hollow network: no pod CIDR")
	}
	ip4 := podCIDR.IP.To4()
	ones, bits := podCIDR.Mask.Size()
	if ip4 == nil || bits != 32 {
		return nil, fmt.Errorf("hollow network: pod CIDR %s is not IPv4", podCIDR)
	}
	if ones > 30 {
		return nil, fmt.Errorf("hollow network: pod CIDR %s holds no pod address", podCIDR)
	}
	base := binary.BigEndian.Uint32(ip4) & binary.BigEndian.Uint32(net.IP(podCIDR.Mask).To4())
	size := uint32(1) << (32 - ones)
	return &Network{
		cidr:    &net.IPNet{IP: u32IP(base), Mask: podCIDR.Mask},
		gateway: u32IP(base + 1), first: base + 2, last: base + size - 2,
		sandboxes: map[string]*podnet.Sandbox{}, used: map[uint32]string{},
	}, nil
}

// Factory is a node.NetworkFactory of hollow networks; made, if set, gets
// each network built.
func Factory(made func(*Network)) node.NetworkFactory {
	return func(_ context.Context, podCIDR *net.IPNet) (node.Network, error) {
		n, err := NewNetwork(podCIDR)
		if err != nil {
			return nil, err
		}
		if made != nil {
			made(n)
		}
		return n, nil
	}
}

// CreateSandbox gives the pod the lowest free address. A pod that has a
// sandbox gets an error wrapping fs.ErrExist, as net/podnet's.
func (n *Network) CreateSandbox(ctx context.Context, podUID, hostname string) (*podnet.Sandbox, error) {
	if podUID == "" || hostname == "" {
		return nil, errors.New("create sandbox: a pod UID and a hostname are required")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("create sandbox %s: %w", podUID, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.sandboxes[podUID]; ok {
		return nil, fmt.Errorf("create sandbox %s: %w", podUID, fs.ErrExist)
	}
	for a := n.first; a <= n.last; a++ {
		if _, taken := n.used[a]; taken {
			continue
		}
		ones, _ := n.cidr.Mask.Size()
		sb := &podnet.Sandbox{PodUID: podUID, IP: u32IP(a), Gateway: n.gateway, PrefixLen: ones}
		n.used[a] = podUID
		n.sandboxes[podUID] = sb
		return copySandbox(sb), nil
	}
	return nil, fmt.Errorf("create sandbox %s: no IP addresses available in range set %s", podUID, n.cidr)
}

// HostNetworkSandbox makes or finds the sandbox of a hostNetwork pod, with
// ip (the node's) as its address.
func (n *Network) HostNetworkSandbox(_ context.Context, podUID string, ip net.IP) (*podnet.Sandbox, error) {
	if ip == nil {
		return nil, fmt.Errorf("host network sandbox %s: no node address", podUID)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	sb, ok := n.sandboxes[podUID]
	if !ok {
		sb = &podnet.Sandbox{PodUID: podUID, IP: ip}
		n.sandboxes[podUID] = sb
	}
	return copySandbox(sb), nil
}

// Sandbox returns the pod's sandbox, if it has one.
func (n *Network) Sandbox(podUID string) (*podnet.Sandbox, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	sb, ok := n.sandboxes[podUID]
	if !ok {
		return nil, false
	}
	return copySandbox(sb), true
}

// Sandboxes lists the UIDs of the pods with a sandbox, sorted.
func (n *Network) Sandboxes() ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make([]string, 0, len(n.sandboxes))
	for uid := range n.sandboxes {
		out = append(out, uid)
	}
	sort.Strings(out)
	return out, nil
}

// DeleteSandbox frees the pod's address. Idempotent.
func (n *Network) DeleteSandbox(_ context.Context, podUID string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	sb, ok := n.sandboxes[podUID]
	if !ok {
		return nil
	}
	delete(n.sandboxes, podUID)
	if ip4 := sb.IP.To4(); ip4 != nil && n.cidr.Contains(ip4) {
		if a := binary.BigEndian.Uint32(ip4); n.used[a] == podUID {
			delete(n.used, a)
		}
	}
	return nil
}

// Gateway is the pod CIDR's first host address.
func (n *Network) Gateway() net.IP { return append(net.IP(nil), n.gateway...) }

// CIDR is the node's pod CIDR.
func (n *Network) CIDR() *net.IPNet {
	return &net.IPNet{IP: append(net.IP(nil), n.cidr.IP...), Mask: append(net.IPMask(nil), n.cidr.Mask...)}
}

// SetRoutes records the routes to the other nodes' pod CIDRs.
func (n *Network) SetRoutes(_ context.Context, routes []podnet.Route) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.routes = append([]podnet.Route(nil), routes...)
	return nil
}

// Routes returns the routes last set.
func (n *Network) Routes() []podnet.Route {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]podnet.Route(nil), n.routes...)
}

func copySandbox(sb *podnet.Sandbox) *podnet.Sandbox {
	c := *sb
	c.IP = append(net.IP(nil), sb.IP...)
	c.Gateway = append(net.IP(nil), sb.Gateway...)
	return &c
}

func u32IP(a uint32) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, a)
	return ip
}
