package node

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/net/podnet"
)

// Network gives pods their sandbox: pinned namespaces and an address on the
// node's bridge. net/podnet implements it.
type Network interface {
	CreateSandbox(ctx context.Context, podUID, hostname string) (*podnet.Sandbox, error)
	// HostNetworkSandbox makes or finds the sandbox of a hostNetwork pod:
	// the node's network, ip as its address, an IPC namespace of its own.
	HostNetworkSandbox(ctx context.Context, podUID string, ip net.IP) (*podnet.Sandbox, error)
	Sandbox(podUID string) (*podnet.Sandbox, bool)
	Sandboxes() ([]string, error)
	DeleteSandbox(ctx context.Context, podUID string) error
	// Gateway is the bridge's address (the pod CIDR's first host address).
	Gateway() net.IP
}

// NetworkFactory builds the node's pod network once the node knows its pod
// CIDR (the FSM allocates it when the node registers).
type NetworkFactory func(ctx context.Context, podCIDR *net.IPNet) (Network, error)

// Config configures a node agent.
type Config struct {
	// Name is the node's name (its Node object).
	Name string
	// StateDir holds the agent's files: pods/<uid>/ (hosts, resolv.conf,
	// volumes, logs) and node.json (the last registration).
	StateDir string
	// Client talks to the masters with the node's own certificate.
	Client *client.Client
	// Runtime runs containers.
	Runtime Runtime
	// Network builds the pod network for the node's pod CIDR.
	Network NetworkFactory
	// NodeIP is the node's InternalIP: pods' hostIP, and where masters reach
	// the agent's endpoint.
	NodeIP string
	// AgentPort and AgentCertSHA256 publish the agent's HTTPS endpoint (logs)
	// in the Node object; masters pin the certificate.
	AgentPort       int32
	AgentCertSHA256 string
	// Labels are added to the Node's labels at registration.
	Labels map[string]string
	// Taints are the taints the Node is created with (the kubelet's
	// --register-with-taints); a Node that exists keeps its own.
	Taints []v1.Taint
	// Capacity overrides what the agent reads from the host (cpu, memory, pods).
	Capacity v1.ResourceList
	// RuntimeVersion is reported in the Node's nodeInfo.
	RuntimeVersion string
	// AgentVersion is the agent's semantic version (a gitVersion such as
	// v0.7.0-3+e4d4994), reported as nodeInfo.kubeletVersion, the VERSION
	// column of kubectl get nodes; "" reports v0.0.0-master+unknown.
	AgentVersion string
	// HeartbeatInterval is how often the node renews its Lease and checks
	// whether its status changed (10 s, the kubelet's renew interval and
	// nodeStatusUpdateFrequency).
	HeartbeatInterval time.Duration
	// LeaseDurationSeconds is the node lease's leaseDurationSeconds (40,
	// the kubelet's nodeLeaseDurationSeconds).
	LeaseDurationSeconds int32
	// NodeStatusReportFrequency is how often the node writes its status
	// when nothing changed (5 min, the kubelet's nodeStatusReportFrequency).
	NodeStatusReportFrequency time.Duration
	// BackoffInitial and BackoffMax bound the delay before restarting a
	// container that exited (10 s doubling up to 5 min, as Kubernetes).
	BackoffInitial, BackoffMax time.Duration
	// ResyncInterval is how often every pod worker re-checks its pod without
	// an event (10 s), and how often a broken pod watch is retried.
	ResyncInterval time.Duration
	// EmptyDirCheckInterval is how often a pod's emptyDir volumes with a
	// sizeLimit are measured (10 s, the kubelet's eviction interval).
	EmptyDirCheckInterval time.Duration
	// ClusterDNS, if set, is the nameserver in pods' resolv.conf; otherwise
	// pods get the node's /etc/resolv.conf.
	ClusterDNS    string
	ClusterDomain string
	// NodeLocalDNS makes the node's bridge address (the pod CIDR's gateway,
	// where the node serves DNS) the pods' nameserver; it overrides ClusterDNS.
	NodeLocalDNS bool
	// Proxy and DNS, if set, get every service (and endpoints) of the
	// cluster as they change.
	Proxy ServiceProxy
	DNS   ServiceDNS
	// SeccompProfileRoot holds the node's Localhost seccomp profiles
	// (StateDir/seccomp).
	SeccompProfileRoot string
	// HostPorts, if set, gets the host-port mappings of the node's pods
	// (all of them) whenever they change.
	HostPorts HostPorts
	// KubernetesServiceHost and KubernetesServicePort, if set, stand for
	// the kubernetes Service of default in containers' service
	// environment (KUBERNETES_SERVICE_HOST, _PORT, KUBERNETES_PORT...)
	// until the node has read that Service: its ClusterIP and port.
	KubernetesServiceHost string
	KubernetesServicePort string
	// LogMaxBytes rotates a container's log file above this size (10 MiB).
	LogMaxBytes int64
	// Logger receives the agent's logs.
	Logger *slog.Logger
	// Now is the agent's clock (time.Now).
	Now func() time.Time
	// MountTmpfs mounts a tmpfs on dir (the pod's /dev/shm, Memory emptyDirs,
	// configMap and projected volumes) with mount(2)'s flags and data; nil
	// is mount(2). Hollow nodes (test/hollow), which have no kernel of their
	// own, give one that leaves dir a plain directory.
	MountTmpfs func(source, dir string, flags uintptr, data string) error
	// Recorder records the kubelet's events about the node's pods
	// (Pulled, Created, Started, Killing, BackOff, Unhealthy, Failed,
	// FailedMount); nil records none.
	Recorder *events.Recorder
}

func (c *Config) setDefaults() error {
	switch {
	case c.Name == "":
		return errors.New("node config: name is required")
	case c.StateDir == "":
		return errors.New("node config: state dir is required")
	case c.Client == nil || c.Runtime == nil || c.Network == nil:
		return errors.New("node config: client, runtime and network are required")
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = 10 * time.Second
	}
	if c.LeaseDurationSeconds < 0 || c.NodeStatusReportFrequency < 0 {
		return errors.New("node config: the lease duration and the status report frequency must not be negative")
	}
	if c.LeaseDurationSeconds == 0 {
		c.LeaseDurationSeconds = v1.NodeLeaseDurationSeconds
	}
	if c.NodeStatusReportFrequency == 0 {
		c.NodeStatusReportFrequency = 5 * time.Minute
	}
	if c.BackoffInitial == 0 {
		c.BackoffInitial = 10 * time.Second
	}
	if c.BackoffMax == 0 {
		c.BackoffMax = 5 * time.Minute
	}
	if c.EmptyDirCheckInterval == 0 {
		c.EmptyDirCheckInterval = 10 * time.Second
	}
	if c.ResyncInterval == 0 {
		c.ResyncInterval = 10 * time.Second
	}
	if c.ClusterDomain == "" {
		c.ClusterDomain = "cluster.local"
	}
	if c.SeccompProfileRoot == "" {
		c.SeccompProfileRoot = filepath.Join(c.StateDir, "seccomp")
	}
	if c.LogMaxBytes == 0 {
		c.LogMaxBytes = 10 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return nil
}
