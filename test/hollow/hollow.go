package hollow

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/node"
	"orch.io/orch/node/agentserver"
	"orch.io/orch/pki"
)

// Config configures hollow nodes.
type Config struct {
	// Servers are the masters' API URLs.
	Servers []string
	// CA is the cluster CA: every node gets a client certificate of its own
	// from it (system:node:<name> in system:nodes, as `orchd pki issue
	// node`), and trusts the masters' certificates through it.
	CA *pki.CA
	// StateDir holds each node's state directory (StateDir/<name>).
	StateDir string
	// ClusterCIDR is the pod network, for the proxy's masquerade rules.
	ClusterCIDR *net.IPNet
	// Capacity is what each node reports (default cpu 8, memory 32Gi, pods
	// 110, the kubelet's maxPods).
	Capacity v1.ResourceList
	// HeartbeatInterval is the agents' Lease renew interval (default 10 s).
	HeartbeatInterval time.Duration
	// ProxySyncInterval is the proxies' minimum sync interval (default 1 s).
	ProxySyncInterval time.Duration
	// EventQPS and EventBurst bound each node's event writes (the kubelet's
	// defaults when 0).
	EventQPS   float32
	EventBurst int
	// Labels and Taints are what every node registers with.
	Labels map[string]string
	Taints []v1.Taint
	// Logger receives the agents' logs (default: none).
	Logger *slog.Logger
	// StartSpread spreads the nodes' starts over this window, each at a
	// random moment of it (0: all at once), as kubemark's hollow nodes
	// start one pod at a time: a thousand agents registering in the same
	// second is a storm no real cluster sees.
	StartSpread time.Duration

	// FirstIndex numbers the pool's nodes from it: the i-th name gets
	// NodeIP(FirstIndex+i), so pools in several processes never share an
	// address.
	FirstIndex int
	// NoRoutes leaves out the agents' routes to the other nodes' pod CIDRs
	// (a watch of every node), as kubemark's hollow nodes run no network
	// plugin: every node following every other costs N² in one process,
	// which a real node, holding only its own N routes, never pays.
	NoRoutes bool

	// rootCAs is CA's certificate as a pool, made once by Start for every
	// node of the pool.
	rootCAs *x509.CertPool
}

// Node is one hollow node: a real node agent with a hollow runtime,
// network and proxy.
type Node struct {
	// Name is the node's name; IP its InternalIP (a loopback address).
	Name, IP string
	// Runtime, Proxy and Client are the node's own.
	Runtime *Runtime
	Proxy   *Proxy
	Client  *client.Client

	agent    *node.Agent
	server   *agentserver.Server
	recorder *events.Recorder
	network  atomic.Pointer[Network]
}

// NodeIP is the InternalIP of the i-th hollow node (from 0): an address of
// 127.77.0.0/16, so anything that dials it stays on the machine.
func NodeIP(i int) string {
	a := i + 1
	return fmt.Sprintf("127.77.%d.%d", (a>>8)&0xff, a&0xff)
}

// NewNode builds a hollow node with its own certificate and connections;
// Run starts it.
func NewNode(cfg Config, name, ip string) (*Node, error) {
	if cfg.CA == nil || len(cfg.Servers) == 0 || cfg.StateDir == "" {
		return nil, errors.New("hollow node: a CA, servers and a state dir are required")
	}
	certPEM, keyPEM, err := cfg.CA.NewClientKeyPair(pki.ClientCertificate{CommonName: v1.NodeUserPrefix + name,
		Organizations: []string{v1.NodesGroup}, Validity: 24 * time.Hour}, time.Now())
	if err != nil {
		return nil, fmt.Errorf("hollow node %s: %w", name, err)
	}
	cas := cfg.rootCAs
	if cas == nil {
		cas = x509.NewCertPool()
		cas.AddCert(cfg.CA.Cert)
	}
	// One HTTP/2 connection per master carries the node's requests and
	// watches, as a kubelet's client-go.
	cl, err := client.New(&client.Config{Servers: cfg.Servers, RootCAs: cas, HTTP2: true,
		ClientCertificateData: certPEM, ClientKeyData: keyPEM, UserAgent: "orch-hollow-node"})
	if err != nil {
		return nil, fmt.Errorf("hollow node %s: client: %w", name, err)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	capacity := v1.ResourceList{v1.ResourceCPU: resource.MustParse("8"), v1.ResourceMemory: resource.MustParse("32Gi"),
		v1.ResourcePods: resource.MustParse("110")}
	for k, v := range cfg.Capacity {
		capacity[k] = v
	}
	qps, burst := cfg.EventQPS, cfg.EventBurst
	if qps == 0 {
		qps = events.DefaultQPS
	}
	if burst == 0 {
		burst = events.DefaultBurst
	}
	n := &Node{Name: name, IP: ip, Runtime: NewRuntime(nil), Client: cl,
		Proxy: NewProxy(cfg.ClusterCIDR, []net.IP{net.ParseIP(ip)}, cfg.ProxySyncInterval)}
	n.recorder = node.NewRecorder(name, cl, qps, burst, log)
	stateDir := filepath.Join(cfg.StateDir, name)
	// The agent's endpoint, as on a real node: masters reach it for logs
	// (the hollow runtime's line), exec and attach (a clear error).
	n.server, err = agentserver.New(agentserver.Config{
		Addr: net.JoinHostPort(ip, "0"), ClientCAs: cas, PodsDir: filepath.Join(stateDir, "pods"),
		Lookup:  func(ns, pod string) (string, bool) { return n.agent.LookupPod(ns, pod) },
		Running: func(uid, c string, attempt int) bool { return n.agent.ContainerRunning(uid, c, attempt) },
		Import:  n.Runtime.ImportImages, Logger: log,
		Exec: func(ctx context.Context, uid, c string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan node.TerminalSize) (int, error) {
			return n.agent.ExecStreams(ctx, uid, c, cmd, in, out, errw, tty, resize)
		},
		Attach: func(ctx context.Context, uid, c string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan node.TerminalSize) error {
			return n.agent.AttachStreams(ctx, uid, c, in, out, errw, tty, resize)
		},
	})
	if err != nil {
		cl.CloseIdleConnections()
		return nil, fmt.Errorf("hollow node %s: %w", name, err)
	}
	if err := n.server.Listen(); err != nil {
		cl.CloseIdleConnections()
		return nil, fmt.Errorf("hollow node %s: %w", name, err)
	}
	_, portStr, _ := net.SplitHostPort(n.server.Addr())
	port, _ := strconv.Atoi(portStr)
	n.agent, err = node.New(node.Config{
		Name: name, StateDir: stateDir, Client: cl, Runtime: n.Runtime,
		Network:   n.networkFactory(cfg.NoRoutes),
		AgentPort: int32(port), AgentCertSHA256: n.server.CertSHA256(),
		NodeIP: ip, Labels: cfg.Labels, Taints: cfg.Taints, Capacity: capacity, RuntimeVersion: "hollow://0.0.0",
		HeartbeatInterval: cfg.HeartbeatInterval, Proxy: n.Proxy, Recorder: n.recorder, Logger: log,
		// No kernel of its own: volumes are plain directories.
		MountTmpfs: func(string, string, uintptr, string) error { return nil },
	})
	if err != nil {
		n.close()
		return nil, fmt.Errorf("hollow node %s: %w", name, err)
	}
	return n, nil
}

// networkFactory builds the node's hollow network; without routes it is
// wrapped so the agent does not see a node.RouteSetter.
func (n *Node) networkFactory(noRoutes bool) node.NetworkFactory {
	made := Factory(func(nw *Network) { n.network.Store(nw) })
	if !noRoutes {
		return made
	}
	return func(ctx context.Context, podCIDR *net.IPNet) (node.Network, error) {
		nw, err := made(ctx, podCIDR)
		if err != nil {
			return nil, err
		}
		return withoutRoutes{nw}, nil
	}
}

// withoutRoutes is a pod network that keeps no routes to other nodes.
type withoutRoutes struct{ node.Network }

// close releases what NewNode took (for a node that never runs).
func (n *Node) close() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = n.server.Run(ctx) // closes its listener at once
	n.Client.CloseIdleConnections()
}

// Network is the node's pod network once it registered (nil before).
func (n *Node) Network() *Network { return n.network.Load() }

// Run runs the node until ctx ends: its agent, its endpoint, its event
// recorder and its proxy. It returns the agent's or the endpoint's error.
func (n *Node) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	var srvErr error
	wg.Add(3)
	go func() { defer wg.Done(); n.recorder.Run(ctx) }()
	go func() { defer wg.Done(); n.Proxy.Run(ctx) }()
	go func() {
		defer wg.Done()
		if srvErr = n.server.Run(ctx); srvErr != nil {
			cancel()
		}
	}()
	err := n.agent.Run(ctx)
	cancel()
	wg.Wait()
	n.Client.CloseIdleConnections()
	return errors.Join(err, srvErr)
}

// Pool is a set of hollow nodes running in this process.
type Pool struct {
	// Nodes are the pool's nodes, in the order named.
	Nodes []*Node

	cancel context.CancelFunc
	wg     sync.WaitGroup
	mu     sync.Mutex
	errs   []error
}

// Start builds and starts one hollow node per name (the i-th with
// NodeIP(FirstIndex+i), talking first to the ((FirstIndex+i) mod
// len(Servers))-th master), spread over cfg.StartSpread. They run until Stop; ctx bounds
// only the building.
func Start(ctx context.Context, cfg Config, names []string) (*Pool, error) {
	p := &Pool{}
	if cfg.CA != nil && cfg.CA.Cert != nil {
		cfg.rootCAs = x509.NewCertPool()
		cfg.rootCAs.AddCert(cfg.CA.Cert)
	}
	for i, name := range names {
		if err := ctx.Err(); err != nil {
			for _, made := range p.Nodes {
				made.close()
			}
			return nil, fmt.Errorf("start hollow nodes: %w", err)
		}
		ncfg := cfg
		ncfg.Servers = rotate(cfg.Servers, cfg.FirstIndex+i)
		n, err := NewNode(ncfg, name, NodeIP(cfg.FirstIndex+i))
		if err != nil {
			for _, made := range p.Nodes {
				made.close()
			}
			return nil, err
		}
		p.Nodes = append(p.Nodes, n)
	}
	rctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	for _, n := range p.Nodes {
		p.wg.Add(1)
		delay := time.Duration(0)
		if cfg.StartSpread > 0 {
			delay = rand.N(cfg.StartSpread)
		}
		go func() {
			defer p.wg.Done()
			if delay > 0 {
				t := time.NewTimer(delay)
				select {
				case <-rctx.Done():
					t.Stop()
					n.close()
					return
				case <-t.C:
				}
			}
			if err := n.Run(rctx); err != nil {
				p.mu.Lock()
				p.errs = append(p.errs, fmt.Errorf("hollow node %s: %w", n.Name, err))
				p.mu.Unlock()
				cancel()
			}
		}()
	}
	return p, nil
}

// rotate returns servers starting at the i-th (modulo their number): the
// nodes of a pool spread over the masters, as kubelets behind a load
// balancer, instead of all talking to the first.
func rotate(servers []string, i int) []string {
	if len(servers) == 0 {
		return nil
	}
	k := i % len(servers)
	return append(append([]string(nil), servers[k:]...), servers[:k]...)
}

// Err returns what the nodes that stopped by themselves failed with.
func (p *Pool) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return errors.Join(p.errs...)
}

// Stop ends every node and waits for them; it returns Err.
func (p *Pool) Stop() error {
	p.cancel()
	p.wg.Wait()
	return p.Err()
}

// Node returns the node of that name, or nil.
func (p *Pool) Node(name string) *Node {
	for _, n := range p.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}
