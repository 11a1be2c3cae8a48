package harness

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Net is a test network standing in for a LAN: a bridge the test creates in
// the host's network namespace, with HostIP on it for the masters, and one
// network namespace per node attached to it by a veth pair. Nothing of it
// reaches beyond the machine: the subnet is private to the bridge.
type Net struct {
	t      T
	Bridge string
	// Subnet is the bridge's /24, e.g. 10.123.45.0/24.
	Subnet string
	// HostIP is the host's address on the bridge (.1): masters listen on it.
	HostIP string
	id     string
	prefix string

	mu   sync.Mutex
	next int
}

// NewNet creates the bridge; t.Cleanup deletes it.
func NewNet(t T) *Net {
	t.Helper()
	id := randomHex(t, 3)
	n := &Net{t: t, id: id, Bridge: "otb" + id, next: 2}
	// A /24 under 10.123.0.0/16 that no route on the machine uses yet.
	for try := 0; ; try++ {
		k, _ := rand.Int(rand.Reader, big.NewInt(250))
		n.prefix = fmt.Sprintf("10.123.%d", k.Int64()+2)
		if out, _ := exec.Command("ip", "route", "show", "to", "match", n.prefix+".1").Output(); !strings.Contains(string(out), n.prefix) {
			break
		}
		if try > 20 {
			t.Fatalf("no free /24 under 10.123.0.0/16")
		}
	}
	n.Subnet, n.HostIP = n.prefix+".0/24", n.prefix+".1"
	t.Cleanup(func() { run(t, "ip", "link", "del", n.Bridge) })
	mustRun(t, "ip", "link", "add", n.Bridge, "type", "bridge")
	mustRun(t, "ip", "addr", "add", n.HostIP+"/24", "dev", n.Bridge)
	mustRun(t, "ip", "link", "set", n.Bridge, "up")
	return n
}

// addHost creates a network namespace attached to the bridge and returns
// its name and address. t.Cleanup deletes it (with its veth pair).
func (n *Net) addHost(name string) (netns, ip string) {
	n.t.Helper()
	n.mu.Lock()
	idx := n.next
	n.next++
	n.mu.Unlock()
	netns = fmt.Sprintf("orche2e-%s-%s", n.id, name)
	ip = fmt.Sprintf("%s.%d", n.prefix, idx)
	hostVeth := fmt.Sprintf("otv%s%d", n.id, idx)
	n.t.Cleanup(func() { run(n.t, "ip", "netns", "del", netns) })
	mustRun(n.t, "ip", "netns", "add", netns)
	mustRun(n.t, "ip", "link", "add", hostVeth, "type", "veth", "peer", "name", "eth0", "netns", netns)
	mustRun(n.t, "ip", "link", "set", hostVeth, "master", n.Bridge, "up")
	in := func(args ...string) { mustRun(n.t, append([]string{"ip", "netns", "exec", netns}, args...)...) }
	in("ip", "link", "set", "lo", "up")
	in("ip", "addr", "add", ip+"/24", "dev", "eth0")
	in("ip", "link", "set", "eth0", "up")
	return netns, ip
}

// Node is one `orchd node` running in its own network namespace with its
// own managed containerd.
type Node struct {
	Name       string
	NetNS      string
	IP         string
	StateDir   string
	CgroupRoot string
	LogPath    string
	// PKIDir holds the node's own credentials (node.crt, node.key:
	// system:node:<name>), ca.crt and gossip.key.
	PKIDir string
	args   []string

	c *Cluster
	process
}

// StartNode starts a node agent named name in a new network namespace on
// net. It joins the cluster by gossip when the masters gossip, else it is
// given the masters' API addresses. args are extra `orchd node` flags.
func (c *Cluster) StartNode(n *Net, name string, args ...string) *Node {
	c.t.Helper()
	netns, ip := n.addHost(name)
	// Short paths: containerd's socket lives under the state dir.
	dir, err := os.MkdirTemp("", "orchn")
	if err != nil {
		c.t.Fatalf("node dir: %v", err)
	}
	nd := &Node{Name: name, NetNS: netns, IP: ip, StateDir: dir, c: c,
		CgroupRoot: "/orch-e2e-" + n.id + "-" + name, LogPath: filepath.Join(c.Dir, "node-"+name+".log"),
		PKIDir: filepath.Join(c.Dir, "pki-node-"+name)}
	// Every node has its own certificate, as `orchd pki issue node` makes it.
	if out, err := exec.Command(c.bins.Orchd, "pki", "issue", "node", name, "--dir", c.PKIDir, "--out", nd.PKIDir).CombinedOutput(); err != nil {
		c.t.Fatalf("orchd pki issue node %s: %v\n%s", name, err, out)
	}
	nd.args = []string{"node", "--name", name, "--state-dir", dir, "--pki-dir", nd.PKIDir, "--node-ip", ip,
		"--cgroup-root", nd.CgroupRoot}
	if c.Masters[0].GossipAddr != "" {
		nd.args = append(nd.args, "--gossip-addr", ip+":7946", "--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms")
		var seeds []string
		for _, m := range c.Masters {
			seeds = append(seeds, m.GossipAddr)
		}
		nd.args = append(nd.args, "--gossip-join", strings.Join(seeds, ","))
	} else {
		var servers []string
		for _, m := range c.Masters {
			servers = append(servers, m.URL())
		}
		nd.args = append(nd.args, "--api-servers", strings.Join(servers, ","))
	}
	if c.opts.RegistryMirror {
		c.mirrorOnce.Do(func() { c.mirror = n.StartMirror() })
		nd.args = append(nd.args, "--registry-config-dir", c.mirror.HostsDir)
	}
	nd.args = append(nd.args, args...)
	c.t.Cleanup(nd.cleanup)
	// No registry here: the busybox image is imported from the state dir.
	if err := os.MkdirAll(filepath.Join(dir, "images"), 0o755); err != nil {
		c.t.Fatalf("node images dir: %v", err)
	}
	if out, err := exec.Command(c.bins.Orchd, "image", "busybox", "-o", filepath.Join(dir, "images", "busybox.tar")).CombinedOutput(); err != nil {
		c.t.Fatalf("build the busybox image: %v\n%s", err, out)
	}
	nd.Start()
	return nd
}

// Mirror is the cluster's registry mirror (Options.RegistryMirror), once
// a node has started; nil without one.
func (c *Cluster) Mirror() *Mirror { return c.mirror }

// Start starts (or restarts) the agent process.
func (nd *Node) Start() {
	t := nd.c.t
	t.Helper()
	if nd.Running() {
		t.Fatalf("node %s is already running", nd.Name)
	}
	// nsenter joins only the network namespace: the agent shares the
	// machine's mount namespace (and so /sys/fs/cgroup) with its containerd.
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + nd.NetNS, "--", nd.c.bins.Orchd}, nd.args...)...)
	if err := nd.start(cmd, nd.LogPath); err != nil {
		t.Fatalf("start node %s: %v", nd.Name, err)
	}
}

// Kill sends SIGKILL to the agent (its containerd and pods live on) and
// waits for it to exit.
func (nd *Node) Kill() { nd.signal(syscall.SIGKILL, time.Minute) }

// Exec runs a command in the node's network namespace and returns its
// combined output.
func (nd *Node) Exec(timeout time.Duration, args ...string) (string, error) {
	return ExecIn(nd.NetNS, timeout, args...)
}

// AddHost adds a bare host (a network namespace with an address, no
// process) to the network, e.g. an outside client; t.Cleanup removes it.
func (n *Net) AddHost(name string) (netns, ip string) { return n.addHost(name) }

// ExecIn runs a command in a network namespace of the test and returns its
// combined output; it is killed after timeout.
func ExecIn(netns string, timeout time.Duration, args ...string) (string, error) {
	cmd := exec.Command("nsenter", append([]string{"--net=/run/netns/" + netns, "--"}, args...)...)
	timer := time.AfterFunc(timeout, func() {
		if cmd.Process != nil {
			cmd.Process.Kill()
		}
	})
	defer timer.Stop()
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Log returns the last n lines of the agent's log.
func (nd *Node) Log(n int) string { return tail(nd.LogPath, n) }

// cleanup kills the agent and removes everything it made: containers,
// containerd, sandboxes, bridge, cgroups and its state directory.
func (nd *Node) cleanup() {
	t := nd.c.t
	nd.Kill()
	if t.Failed() {
		t.Logf("--- log of node %s:\n%s", nd.Name, tail(nd.LogPath, 60))
	}
	out, err := exec.Command("nsenter", "--net=/run/netns/"+nd.NetNS, "--", nd.c.bins.Orchd, "node", "reset",
		"--state-dir", nd.StateDir, "--cgroup-root", nd.CgroupRoot, "--remove-state").CombinedOutput()
	if err != nil {
		t.Logf("orchd node reset for %s: %v\n%s", nd.Name, err, out)
	}
}

func randomHex(t T, n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

func mustRun(t T, args ...string) {
	t.Helper()
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func run(t T, args ...string) {
	if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Logf("cleanup %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// ContainerdSocket is the socket of the node's managed containerd.
func (nd *Node) ContainerdSocket() string {
	return filepath.Join(nd.StateDir, "containerd", "c.sock")
}

// Tasks returns the node's running containerd tasks: container ID → PID.
func (nd *Node) Tasks() (map[string]int, error) {
	out, err := exec.Command("ctr", "-a", nd.ContainerdSocket(), "-n", "orch", "tasks", "ls").CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ctr tasks ls: %v: %s", err, out)
	}
	tasks := map[string]int{}
	for _, line := range strings.Split(string(out), "\n")[1:] {
		f := strings.Fields(line)
		if len(f) >= 3 && f[2] == "RUNNING" {
			var pid int
			fmt.Sscan(f[1], &pid)
			tasks[f[0]] = pid
		}
	}
	return tasks, nil
}

// Snapshots returns the keys of the node's containerd snapshots.
func (nd *Node) Snapshots() (string, error) {
	out, err := exec.Command("ctr", "-a", nd.ContainerdSocket(), "-n", "orch", "snapshots", "ls").CombinedOutput()
	return string(out), err
}
