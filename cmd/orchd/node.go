package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/gossip"
	"orch.io/orch/net/dns"
	"orch.io/orch/net/hostport"
	"orch.io/orch/net/podnet"
	"orch.io/orch/net/proxy"
	"orch.io/orch/node"
	"orch.io/orch/node/agentserver"
	ctrd "orch.io/orch/node/containerd"
	"orch.io/orch/node/crilog"
	"orch.io/orch/pki"
	orchversion "orch.io/orch/version"
)

type nodeFlags struct {
	name, stateDir, pkiDir                 string
	clientCert, clientKey                  string
	apiServers, gossipAddr, gossipJoin     string
	nodeIP, agentAddr                      string
	agentMaxConns                          int
	containerdAddr, cgroupRoot             string
	clusterCIDR, serviceCIDR, clusterDNS   string
	heartbeat, backoff, backoffMax, resync time.Duration
	statusReport                           time.Duration
	leaseDuration                          int
	containerLogBinary                     string
	gossipProbe, gossipProbeTimeout        time.Duration
	proxySync                              time.Duration
	proxyMode                              string
	logLevel                               string
	bridge, labels, taints, extended       string
	stopPodsOnExit, signals                bool
	seccompProfileRoot                     string
	bootstrapToken, bootstrapTokenFile     string
	eventQPS                               float32
	eventBurst                             int
	registryConfigDir                      string
}

func newNodeCommand() *cobra.Command {
	host, _ := os.Hostname()
	f := &nodeFlags{}
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Run a node agent: register the node, run the pods bound to it with containerd",
		Long: `Run the orch node agent on a worker machine.

The agent finds the masters by gossip (--gossip-join, any master or node) or
from --api-servers, registers a Node object (the masters give it a pod CIDR),
watches the pods bound to it and runs each in its own network, UTS and IPC
namespaces with an address on the bridge orch0. It talks to containerd at
--containerd-address, or starts its own containerd under --state-dir when
none is given.

OCI image tarballs in <state-dir>/images/ are imported at start (no registry
is needed for them); other images are pulled as imagePullPolicy says, from
their registries or, with --registry-config-dir, through the mirrors a
containerd hosts configuration names (/etc/containerd/certs.d layout).

Stopping the agent (SIGTERM, or even SIGKILL) leaves the pods running; a
restarted agent adopts them. --pki-dir needs ca.crt, gossip.key and the
node's own node.crt and node.key (CN=system:node:NAME, O=system:nodes),
as 'orchd pki issue node NAME' writes them.`,
		Example: `  orchd node --name n1 --state-dir /var/lib/orch/node --pki-dir /etc/orch/pki \
    --gossip-addr 10.0.0.11:7946 --gossip-join 10.0.0.1:7946 --node-ip 10.0.0.11`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if f.signals {
				var stop context.CancelFunc
				ctx, stop = signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
				defer stop()
			}
			return runNode(ctx, f, nil)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", host, "the node's name (its Node object)")
	fl.StringVar(&f.stateDir, "state-dir", "", "directory for pods, logs, IP allocations and the managed containerd (required)")
	fl.StringVar(&f.pkiDir, "pki-dir", "", "directory holding ca.crt, gossip.key and the node's node.crt and node.key (required)")
	fl.StringVar(&f.clientCert, "client-certificate", "", "the node's client certificate (default: --pki-dir/node.crt); re-read on every connection")
	fl.StringVar(&f.clientKey, "client-key", "", "the key of --client-certificate (default: --pki-dir/node.key)")
	fl.StringVar(&f.apiServers, "api-servers", "", "comma-separated master API URLs (https://host:port); learned from gossip when empty")
	fl.StringVar(&f.gossipAddr, "gossip-addr", "", "IP:port the agent gossips on (default: --node-ip:7946)")
	fl.StringVar(&f.gossipJoin, "gossip-join", "", "comma-separated host:port of gossip members to join (any master or node)")
	fl.StringVar(&f.nodeIP, "node-ip", "", "the node's IP: pods' hostIP and where masters reach the agent (default: the first non-loopback IPv4 address)")
	fl.StringVar(&f.agentAddr, "agent-addr", "", "host:port of the agent's HTTPS endpoint for logs (default: --node-ip:10250)")
	fl.IntVar(&f.agentMaxConns, "agent-max-connections", agentserver.DefaultMaxConnections, "the most connections the agent's HTTPS endpoint holds open; more wait to be accepted (negative: no limit)")
	fl.StringVar(&f.containerdAddr, "containerd-address", "", "containerd socket; empty starts a containerd of the agent's own under --state-dir")
	fl.StringVar(&f.cgroupRoot, "cgroup-root", ctrd.DefaultCgroupRoot, "parent cgroup of all pods")
	fl.StringVar(&f.clusterCIDR, "cluster-cidr", "10.244.0.0/16", "the pod network of the cluster (a fallback route keeps its packets on the node)")
	fl.StringVar(&f.serviceCIDR, "service-cidr", "10.96.0.0/16", "the service network of the cluster")
	fl.StringVar(&f.clusterDNS, "cluster-dns", "", "nameserver for pods' resolv.conf (default: the node's resolv.conf)")
	fl.StringVar(&f.bridge, "bridge", podnet.DefaultBridge, "name of the pod bridge")
	fl.StringVar(&f.labels, "node-labels", "", "labels to add to the Node, KEY=VALUE,... (for nodeSelector)")
	fl.StringVar(&f.taints, "register-with-taints", "", "taints the Node is created with, KEY=VALUE:EFFECT or KEY:EFFECT,... (as the kubelet's; a Node that exists keeps its own)")
	fl.StringVar(&f.extended, "extended-resources", "", "extended resources the node offers, NAME=COUNT,... (e.g. example.com/gpu=2); the scheduler counts pods' requests against them")
	fl.StringVar(&f.proxyMode, "proxy-mode", proxy.ModeIPTables, "how the service proxy programs services: iptables (chains in the nat and filter tables) or nftables (one table with verdict maps; needs the nft command)")
	fl.DurationVar(&f.proxySync, "proxy-min-sync-interval", time.Second, "service rules are rewritten at most this often; changes in between are coalesced")
	fl.DurationVar(&f.heartbeat, "heartbeat-interval", 10*time.Second, "how often the node renews its Lease (kube-node-lease/<node>) and checks whether its status changed")
	fl.StringVar(&f.containerLogBinary, "container-log-binary", "", "the logging binary containerd's shim runs for each container (default: "+crilog.BinaryName+" beside orchd, else orchd itself)")
	fl.IntVar(&f.leaseDuration, "node-lease-duration-seconds", 40, "leaseDurationSeconds of the node's Lease")
	fl.DurationVar(&f.statusReport, "node-status-report-frequency", 5*time.Minute, "how often the node writes its status when it has not changed")
	fl.DurationVar(&f.backoff, "restart-backoff", 10*time.Second, "first delay before restarting a container that keeps exiting (doubles each time)")
	fl.DurationVar(&f.backoffMax, "restart-backoff-max", 5*time.Minute, "longest delay before restarting a container")
	fl.DurationVar(&f.resync, "resync-interval", 10*time.Second, "how often each pod is re-checked without an event")
	fl.DurationVar(&f.gossipProbe, "gossip-probe-interval", 0, "gossip failure-detection probe interval (0: 1 s)")
	fl.DurationVar(&f.gossipProbeTimeout, "gossip-probe-timeout", 0, "gossip probe timeout (0: 500 ms)")
	fl.BoolVar(&f.stopPodsOnExit, "stop-pods-on-exit", false, "stop and remove every pod (and the managed containerd) when the agent exits")
	fl.StringVar(&f.seccompProfileRoot, "seccomp-profile-root", "", "directory of the Localhost seccomp profiles pods name in seccompProfile.localhostProfile (default: <state-dir>/seccomp)")
	fl.StringVar(&f.bootstrapToken, "bootstrap-token", "", "a bootstrap token (from 'orchctl token create') to get the node's client certificate with on its first start; kept in <state-dir>/pki and renewed before it expires")
	fl.StringVar(&f.bootstrapTokenFile, "bootstrap-token-file", "", "a file holding the bootstrap token (instead of --bootstrap-token)")
	fl.Float32Var(&f.eventQPS, "event-qps", events.DefaultQPS, "the most event writes (API requests, each one raft entry) a second of this node, after a burst of --event-burst (the kubelet's --event-qps); repeats of an event waiting for a write are counted into one")
	fl.IntVar(&f.eventBurst, "event-burst", events.DefaultBurst, "the burst of this node's event writes (the kubelet's --event-burst)")
	fl.StringVar(&f.registryConfigDir, "registry-config-dir", "", "containerd's hosts configuration directory (its config_path, e.g. /etc/containerd/certs.d): image pulls reach a registry through the hosts DIR/<registry>/hosts.toml names, mirrors first (a port as _<port>_, DIR/_default for any other registry); empty: every registry directly")
	fl.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fl.BoolVar(&f.signals, "handle-signals", true, "stop on SIGTERM and SIGINT (orchd dev stops its node itself)")
	fl.MarkHidden("handle-signals")
	for _, req := range []string{"state-dir", "pki-dir"} {
		cmd.MarkFlagRequired(req)
	}
	cmd.AddCommand(newNodeResetCommand())
	return cmd
}

// nodeCredential returns the files of the node's API credential, its
// client certificate and key (--client-certificate/--client-key, default
// node.crt/node.key in --pki-dir). The API client re-reads them on every
// connection, so a renewed certificate written over them is used at once.
func nodeCredential(f *nodeFlags) (certFile, keyFile string, err error) {
	certFile, keyFile = f.clientCert, f.clientKey
	if certFile == "" {
		certFile = filepath.Join(f.pkiDir, pki.NodeCert)
	}
	if keyFile == "" {
		keyFile = filepath.Join(f.pkiDir, pki.NodeKey)
	}
	if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
		return "", "", fmt.Errorf("the node's client certificate: %w (issue one with `orchd pki issue node %s`)", err, f.name)
	}
	return certFile, keyFile, nil
}

// registryConfigDir checks --registry-config-dir: "" or an existing
// directory, returned absolute. A missing one is an error rather than a
// configuration that mirrors nothing (containerd would read it as empty).
func registryConfigDir(dir string) (string, error) {
	if dir == "" {
		return "", nil
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("--registry-config-dir: %w", err)
	}
	st, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("--registry-config-dir: %w", err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("--registry-config-dir: %s is not a directory", abs)
	}
	return abs, nil
}

// runNode runs a node agent until ctx ends. bundle, if not nil, is used
// instead of reading --pki-dir (orchd dev).
func runNode(ctx context.Context, f *nodeFlags, nb *pki.NodeBundle) error {
	log, err := newLogger(f.logLevel)
	if err != nil {
		return err
	}
	log = log.With("node", f.name)
	if nb == nil {
		if nb, err = pki.LoadNode(f.pkiDir); err != nil {
			return err
		}
	}
	if f.nodeIP == "" {
		if f.nodeIP, err = firstIPv4(); err != nil {
			return err
		}
	}
	if net.ParseIP(f.nodeIP) == nil {
		return fmt.Errorf("--node-ip %q is not an IP address", f.nodeIP)
	}
	if f.agentAddr == "" {
		f.agentAddr = net.JoinHostPort(f.nodeIP, "10250")
	}
	_, clusterCIDR, err := net.ParseCIDR(f.clusterCIDR)
	if err != nil {
		return fmt.Errorf("--cluster-cidr: %w", err)
	}
	_, serviceCIDR, err := net.ParseCIDR(f.serviceCIDR)
	if err != nil {
		return fmt.Errorf("--service-cidr: %w", err)
	}
	if f.registryConfigDir, err = registryConfigDir(f.registryConfigDir); err != nil {
		return err
	}
	// The agent's alone (pods' specs, logs, volumes): node.Agent tightens
	// a directory that exists when it starts.
	if err := os.MkdirAll(f.stateDir, 0o700); err != nil {
		return fmt.Errorf("--state-dir: %w", err)
	}

	// Gossip: join the pool and learn the masters from it.
	var pool *gossip.Pool
	if f.gossipJoin != "" || f.gossipAddr != "" {
		if f.gossipAddr == "" {
			f.gossipAddr = net.JoinHostPort(f.nodeIP, "7946")
		}
		pool, err = gossip.NewPool(gossip.Config{
			Name: f.name, BindAddr: f.gossipAddr, Key: nb.GossipKey, Role: gossip.RoleNode, Logger: log,
			KeyringFile: filepath.Join(f.stateDir, gossip.KeyringFileName), Roots: nb.CAPool,
			ProbeInterval: f.gossipProbe, ProbeTimeout: f.gossipProbeTimeout,
		})
		if err != nil {
			return err
		}
		if err := pool.Start(ctx); err != nil {
			return err
		}
		defer pool.Shutdown()
		if f.gossipJoin != "" {
			jctx, cancel := context.WithTimeout(ctx, time.Minute)
			n, err := pool.Join(jctx, splitList(f.gossipJoin))
			cancel()
			if err != nil {
				return fmt.Errorf("join the gossip pool: %w", err)
			}
			log.Info("joined the gossip pool", "contacted", n)
		}
	}
	servers := splitList(f.apiServers)
	var discovery *gossip.MasterDiscovery
	if pool != nil {
		discovery = gossip.NewMasterDiscovery(pool, membershipReader(nb, f.name, discoveryCredential(f)), log)
	}
	if len(servers) == 0 {
		if pool == nil {
			return errors.New("give --api-servers or --gossip-join: the agent has no way to find the masters")
		}
		if servers, err = waitForMasters(ctx, discovery); err != nil {
			return err
		}
	}
	ccfg := &client.Config{Servers: servers, CertificateAuthorityData: nb.CACertPEM, UserAgent: "orch-node/" + f.name}
	// The node's credential: the certificate it bootstrapped and renews
	// (in --state-dir), else one issued offline (`orchd pki issue node`).
	certs, err := nodeCertificate(ctx, f, ccfg, log)
	if err == nil && certs == nil {
		var certFile, keyFile string
		if certFile, keyFile, err = nodeCredential(f); err != nil {
			err = fmt.Errorf("%w, or give --bootstrap-token", err)
		}
		ccfg.ClientCertificate, ccfg.ClientKey = certFile, keyFile
	}
	if err != nil {
		return err
	}
	cl, err := client.New(ccfg)
	if err != nil {
		return err
	}
	if certs != nil {
		certs.OnRotate(cl.CloseAllConnections)
	}

	// containerd: the configured one, or one of our own.
	addr := f.containerdAddr
	var managed *ctrd.Managed
	if addr == "" {
		if managed, err = ctrd.StartManaged(ctx, ctrd.ManagedConfig{Dir: filepath.Join(f.stateDir, "containerd"), Logger: log}); err != nil {
			return err
		}
		addr = managed.Address()
		log.Info("containerd running", "pid", managed.PID(), "address", addr)
	}
	logBinary := f.containerLogBinary
	if logBinary == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("find orchd's own path (beside it, the containers' logging binary): %w", err)
		}
		dedicated := false
		if logBinary, dedicated = crilog.FindBinary(self); !dedicated {
			log.Warn("no "+crilog.BinaryName+" beside orchd: orchd itself writes the containers' logs, which slows every container start", "dir", filepath.Dir(self))
		}
	}
	rt, err := ctrd.New(ctx, ctrd.Config{Address: addr, CgroupRoot: f.cgroupRoot,
		StateDir: filepath.Join(f.stateDir, "runtime"), Logger: log, LogBinary: logBinary,
		RegistryConfigDir: f.registryConfigDir})
	if err != nil {
		return err
	}
	defer rt.Close()
	rtVersion, _ := rt.Version(ctx)
	if err := importImageDir(ctx, rt, filepath.Join(f.stateDir, "images"), log); err != nil {
		return err
	}

	var agent *node.Agent
	srv, err := agentserver.New(agentserver.Config{
		Addr: f.agentAddr, ClientCAs: nb.CAPool, PodsDir: filepath.Join(f.stateDir, "pods"),
		Lookup:  func(ns, name string) (string, bool) { return agent.LookupPod(ns, name) },
		Running: func(uid, c string, attempt int) bool { return agent.ContainerRunning(uid, c, attempt) },
		Import:  rt.ImportImages, Logger: log, MaxConnections: f.agentMaxConns,
		Exec: func(ctx context.Context, uid, c string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan node.TerminalSize) (int, error) {
			return agent.ExecStreams(ctx, uid, c, cmd, in, out, errw, tty, resize)
		},
		Attach: func(ctx context.Context, uid, c string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan node.TerminalSize) error {
			return agent.AttachStreams(ctx, uid, c, in, out, errw, tty, resize)
		},
		PortForward: func(ctx context.Context, uid string, port int32, stream io.ReadWriteCloser) error {
			return agent.PortForward(ctx, uid, port, stream)
		},
	})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	_, portStr, _ := net.SplitHostPort(srv.Addr())
	port, _ := strconv.Atoi(portStr)

	labels := map[string]string{}
	for _, kv := range splitList(f.labels) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("--node-labels %q: want KEY=VALUE", kv)
		}
		labels[k] = v
	}
	taints, err := v1.ParseTaints(f.taints)
	if err != nil {
		return fmt.Errorf("--register-with-taints: %w", err)
	}
	capacity, err := parseExtendedResources(f.extended)
	if err != nil {
		return err
	}
	// The service proxy: iptables or nftables rules for every service on
	// this node (--proxy-mode); what the other mode left is removed first.
	var nodeIPs []net.IP
	if ip := net.ParseIP(f.nodeIP); ip != nil && !ip.IsLoopback() {
		nodeIPs = append(nodeIPs, ip)
	}
	proxyCfg := proxy.Config{Mode: f.proxyMode, ClusterCIDR: clusterCIDR, NodeIPs: nodeIPs, MinSyncInterval: f.proxySync, Logger: log}
	proxier, err := proxy.New(proxyCfg)
	if err != nil {
		return err
	}
	if err := proxy.CleanupLeftovers(ctx, proxyCfg); err != nil {
		return err
	}
	if err := proxier.Setup(ctx); err != nil {
		return err
	}
	// Host ports: DNAT from the node's ports to pods, as CNI portmap does.
	hostPorts := hostport.New(hostport.Config{PodCIDR: clusterCIDR, Logger: log})
	// The node's DNS server answers on the bridge address once it exists.
	dnsServer := &lateDNS{}
	var network *podnet.Network
	var services sync.WaitGroup
	servicesCtx, stopServices := context.WithCancel(context.Background())
	defer func() { stopServices(); services.Wait() }()
	svcHost, svcPort, err := kubernetesService(f.serviceCIDR)
	if err != nil {
		return err
	}
	recorder := node.NewRecorder(f.name, cl, f.eventQPS, f.eventBurst, log)
	go recorder.Run(ctx)
	agent, err = node.New(node.Config{
		Recorder: recorder,
		Labels:   labels, Taints: taints, Capacity: capacity, Proxy: proxier, DNS: dnsServer, NodeLocalDNS: f.clusterDNS == "", HostPorts: hostPorts,
		Name: f.name, StateDir: f.stateDir, Client: cl, Runtime: rt,
		Network: func(ctx context.Context, podCIDR *net.IPNet) (node.Network, error) {
			n, err := podnet.New(podnet.Config{StateDir: filepath.Join(f.stateDir, "net"), Bridge: f.bridge,
				PodCIDR: podCIDR, ClusterCIDR: clusterCIDR, ServiceCIDR: serviceCIDR, Logger: log})
			if err != nil {
				return nil, err
			}
			if err := n.Setup(ctx); err != nil {
				return nil, err
			}
			network = n
			if f.clusterDNS == "" {
				addr := net.JoinHostPort(n.Gateway().String(), "53")
				srv, err := dns.New(dns.Config{Addr: addr, Logger: log})
				if err != nil {
					return nil, err
				}
				if err := srv.Listen(); err != nil {
					return nil, fmt.Errorf("cluster DNS on %s: %w", addr, err)
				}
				dnsServer.set(srv)
				services.Add(1)
				go func() { defer services.Done(); _ = srv.Run(servicesCtx) }()
			}
			return n, nil
		},
		NodeIP: f.nodeIP, AgentPort: int32(port), AgentCertSHA256: srv.CertSHA256(),
		RuntimeVersion: "containerd://" + rtVersion, AgentVersion: orchversion.Parse(version).GitVersion, HeartbeatInterval: f.heartbeat,
		LeaseDurationSeconds: int32(f.leaseDuration), NodeStatusReportFrequency: f.statusReport,
		BackoffInitial: f.backoff, BackoffMax: f.backoffMax, ResyncInterval: f.resync,
		ClusterDNS: f.clusterDNS, Logger: log, SeccompProfileRoot: f.seccompProfileRoot,
		KubernetesServiceHost: svcHost, KubernetesServicePort: svcPort,
	})
	if err != nil {
		return err
	}

	runCtx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(4)
	go func() { defer wg.Done(); proxier.Run(runCtx) }()
	go func() { defer wg.Done(); hostPorts.Run(runCtx) }()
	go func() { defer wg.Done(); errs <- srv.Run(runCtx) }()
	go func() { defer wg.Done(); errs <- agent.Run(runCtx) }()
	if pool != nil {
		wg.Add(1)
		go func() { defer wg.Done(); followMasters(runCtx, discovery, cl, log) }()
	}
	if certs != nil {
		wg.Add(1)
		go func() { defer wg.Done(); certs.Run(runCtx, cl) }()
	}
	log.Info("node agent started", "agent", srv.Addr(), "node_ip", f.nodeIP)
	select {
	case <-ctx.Done():
		log.Info("stopping")
	case err = <-errs:
		if err != nil {
			log.Error("node agent failed", "err", err)
		}
	}
	cancel()
	wg.Wait()
	if pool != nil {
		_ = pool.Leave(2 * time.Second)
	}
	if f.stopPodsOnExit {
		sctx, scancel := context.WithTimeout(context.Background(), time.Minute)
		defer scancel()
		resetNode(sctx, f.stateDir, f.cgroupRoot, rt, managed, network, proxier, hostPorts, log)
	}
	log.Info("stopped")
	return err
}

// lateDNS hands services and endpoints to the node's DNS server once the
// pod network, and so the address it listens on, exists.
type lateDNS struct {
	mu        sync.Mutex
	srv       *dns.Server
	services  []*v1.Service
	endpoints []*v1.Endpoints
}

func (l *lateDNS) set(srv *dns.Server) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.srv = srv
	srv.Update(l.services, l.endpoints)
}

// Update implements node.ServiceDNS.
func (l *lateDNS) Update(services []*v1.Service, endpoints []*v1.Endpoints) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.services, l.endpoints = services, endpoints
	if l.srv != nil {
		l.srv.Update(services, endpoints)
	}
}

// resetNode stops and removes every pod of the node, the managed
// containerd (if any), the pod network and the pods' cgroups.
func resetNode(ctx context.Context, stateDir, cgroupRoot string, rt *ctrd.Runtime, managed *ctrd.Managed, network *podnet.Network, px *proxy.Proxier, hp *hostport.Manager, log *slog.Logger) {
	if px != nil {
		if err := px.Cleanup(ctx); err != nil {
			log.Warn("remove the service rules", "err", err)
		}
		if err := proxy.CleanupLeftovers(ctx, proxy.Config{Logger: log}); err != nil {
			log.Warn("remove the nftables service rules", "err", err)
		}
	}
	if hp != nil {
		if err := hp.Cleanup(ctx); err != nil {
			log.Warn("remove the host port rules", "err", err)
		}
	}
	cs, err := rt.ListContainers(ctx)
	if err != nil {
		log.Warn("list containers", "err", err)
	}
	pods := map[string]bool{}
	for _, c := range cs {
		_ = rt.StopContainer(ctx, c.ID, 2*time.Second)
		if err := rt.RemoveContainer(ctx, c.ID); err != nil {
			log.Warn("remove container", "id", c.ID, "err", err)
		}
		pods[c.Labels[node.LabelPodUID]] = true
	}
	for uid := range pods {
		_ = rt.RemovePod(ctx, uid)
	}
	if err := node.UnmountPodVolumes(stateDir); err != nil {
		log.Warn("unmount the pods' memory volumes", "err", err)
	}
	if managed != nil {
		if err := managed.Stop(ctx, true); err != nil {
			log.Warn("stop containerd", "err", err)
		}
	}
	if network != nil {
		uids, _ := network.Sandboxes()
		for _, uid := range uids {
			if err := network.DeleteSandbox(ctx, uid); err != nil {
				log.Warn("delete sandbox", "pod_uid", uid, "err", err)
			}
		}
		if err := network.Teardown(ctx); err != nil {
			log.Warn("remove the pod network", "err", err)
		}
	}
	sbDir := filepath.Join(stateDir, "net", "sandboxes")
	if err := unix.Unmount(sbDir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		log.Warn("unmount the sandboxes directory", "dir", sbDir, "err", err)
	}
	if dirs, err := ctrd.CgroupDirs(cgroupRoot); err == nil {
		for _, d := range dirs {
			_ = os.Remove(d) // empty once every pod is gone
		}
	}
}

func newNodeResetCommand() *cobra.Command {
	var stateDir, cgroupRoot, containerdAddr, bridge string
	var removeState bool
	cmd := &cobra.Command{
		Use:   "reset",
		Short: "Stop and remove everything a node agent left on this machine",
		Long: `Stop and remove every pod container of the node, its managed containerd,
the pod sandboxes and the bridge, and the pods' cgroups. Run it after
stopping the agent to take a machine out of the cluster. Run it in the
node's network namespace.`,
		Example: `  orchd node reset --state-dir /var/lib/orch/node`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			log, _ := newLogger("info")
			ctx := cmd.Context()
			addr := containerdAddr
			var managed *ctrd.Managed
			if addr == "" {
				var err error
				if managed, err = ctrd.StartManaged(ctx, ctrd.ManagedConfig{Dir: filepath.Join(stateDir, "containerd"), Logger: log}); err != nil {
					return err
				}
				addr = managed.Address()
			}
			rt, err := ctrd.New(ctx, ctrd.Config{Address: addr, CgroupRoot: cgroupRoot, StateDir: filepath.Join(stateDir, "runtime"), Logger: log})
			if err != nil {
				return err
			}
			defer rt.Close()
			var network *podnet.Network
			if b, err := os.ReadFile(filepath.Join(stateDir, "node.json")); err == nil {
				var reg struct {
					PodCIDR string `json:"podCIDR"`
				}
				if json.Unmarshal(b, &reg) == nil {
					if _, cidr, err := net.ParseCIDR(reg.PodCIDR); err == nil {
						network, _ = podnet.New(podnet.Config{StateDir: filepath.Join(stateDir, "net"), Bridge: bridge, PodCIDR: cidr, Logger: log})
					}
				}
			}
			px, err := proxy.New(proxy.Config{Logger: log})
			if err != nil {
				return err
			}
			resetNode(ctx, stateDir, cgroupRoot, rt, managed, network, px, hostport.New(hostport.Config{Logger: log}), log)
			if removeState {
				// Never remove through a mount left behind: a subPath of a
				// hostPath volume is the host's own data.
				if err := node.UnmountPodVolumes(stateDir); err != nil {
					return fmt.Errorf("keeping --state-dir: %w", err)
				}
				return node.RemoveStateDir(stateDir)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&stateDir, "state-dir", "", "the agent's --state-dir (required)")
	fl.StringVar(&cgroupRoot, "cgroup-root", ctrd.DefaultCgroupRoot, "the agent's --cgroup-root")
	fl.StringVar(&containerdAddr, "containerd-address", "", "the agent's --containerd-address (empty: its managed containerd)")
	fl.StringVar(&bridge, "bridge", podnet.DefaultBridge, "the agent's --bridge")
	fl.BoolVar(&removeState, "remove-state", false, "also delete --state-dir")
	cmd.MarkFlagRequired("state-dir")
	return cmd
}

// importImageDir imports every *.tar in dir (OCI image tarballs).
func importImageDir(ctx context.Context, rt *ctrd.Runtime, dir string, log *slog.Logger) error {
	files, _ := filepath.Glob(filepath.Join(dir, "*.tar"))
	for _, file := range files {
		fh, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("import %s: %w", file, err)
		}
		names, err := rt.ImportImages(ctx, fh)
		fh.Close()
		if err != nil {
			return fmt.Errorf("import %s: %w", file, err)
		}
		log.Info("imported images", "file", file, "images", names)
	}
	return nil
}

// firstIPv4 returns the first non-loopback IPv4 address of the machine.
func firstIPv4() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", fmt.Errorf("find the node IP: %w", err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.To4() != nil && !ipn.IP.IsLoopback() {
			return ipn.IP.String(), nil
		}
	}
	return "", errors.New("find the node IP: no non-loopback IPv4 address; give --node-ip")
}
