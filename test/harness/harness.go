// Package harness starts real orch binaries for end-to-end tests and
// benchmarks: a PKI, masters as separate processes on loopback with
// ports reserved per test, and clients for them. Everything it starts is stopped by
// PID and every directory it makes is removed, even when a test fails.
package harness

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
)

// T is the part of testing.TB the harness needs; benchmarks outside
// `go test` provide their own.
type T interface {
	Helper()
	Logf(format string, args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
	Failed() bool
}

// Binaries are the paths of the built commands.
type Binaries struct {
	Orchd   string
	Orchctl string
	// Kubectl is kubectl built from k8s.io/kubectl at the version go.mod
	// pins (test/tools/kubectl), so tests never depend on an installed one.
	Kubectl string
}

// Build compiles orchd (with orch-container-log beside it), orchctl and
// the test kubectl into dir.
func Build(dir string) (Binaries, error) {
	b := Binaries{Orchd: filepath.Join(dir, "orchd"), Orchctl: filepath.Join(dir, "orchctl"), Kubectl: filepath.Join(dir, "kubectl")}
	root, err := moduleRoot()
	if err != nil {
		return b, err
	}
	kubectlFlags, err := KubectlLDFlags(root)
	if err != nil {
		return b, err
	}
	for _, p := range []struct{ pkg, out, ldflags string }{
		{"./cmd/orchd", b.Orchd, ""},
		{"./cmd/orchctl", b.Orchctl, kubectlFlags}, // kubectl's tree: stamped as kubectl
		// The containers' logging binary, found by orchd beside itself.
		{"./cmd/orch-container-log", filepath.Join(dir, "orch-container-log"), ""},
		{"./test/tools/kubectl", b.Kubectl, kubectlFlags},
	} {
		cmd := exec.Command("go", "build", "-ldflags", p.ldflags, "-o", p.out, p.pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return b, fmt.Errorf("go build %s: %v\n%s", p.pkg, err, msg)
		}
	}
	return b, nil
}

// KubectlLDFlags returns the -ldflags that stamp the test kubectl with the
// Kubernetes release of the k8s.io/kubectl module go.mod pins (v0.X.Y is
// Kubernetes v1.X.Y), as Kubernetes' own build stamps it; without them it
// reports v0.0.0-master.
func KubectlLDFlags(root string) (string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Version}}", "k8s.io/kubectl")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m k8s.io/kubectl: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	var minor, patch int
	if _, err := fmt.Sscanf(mod, "v0.%d.%d", &minor, &patch); err != nil {
		return "", fmt.Errorf("k8s.io/kubectl version %q is not v0.<minor>.<patch>: %w", mod, err)
	}
	release := fmt.Sprintf("v1.%d.%d", minor, patch)
	var flags []string
	for _, pkg := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		flags = append(flags, "-X", pkg+".gitVersion="+release, "-X", pkg+".gitMajor=1",
			"-X", fmt.Sprintf("%s.gitMinor=%d", pkg, minor), "-X", pkg+".gitTreeState=clean")
	}
	return strings.Join(flags, " "), nil
}

func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("find module root: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the orch module")
	}
	return filepath.Dir(mod), nil
}

// Options configure a cluster.
type Options struct {
	// Masters is the number of masters (default 3).
	Masters int
	// MasterArgs are extra flags for every `orchd master`, after the
	// harness's own (so they override them).
	MasterArgs []string
	// MasterEnv are extra environment variables (KEY=VALUE) for every master.
	MasterEnv []string
	// Host is the IP the masters listen on (default 127.0.0.1); a test with
	// nodes in network namespaces uses its Net's HostIP.
	Host string
	// Gossip gives every master a gossip address, so nodes can join by gossip.
	Gossip bool
	// Net, if set, puts every master in a network namespace of its own on
	// that test network (Host is then ignored): a multi-host cluster.
	Net *Net
	// Spare masters get addresses (in the certificate) but are not started:
	// AddMaster starts one with --join.
	Spare int
	// DataDirSize, when positive, gives every master a data dir of its own
	// on a tmpfs of this many bytes (FillDisk fills it); 0 is a plain dir.
	DataDirSize int64
	// AuditLog gives every master an audit log (--audit-log-path
	// Master.AuditLogPath); AuditPolicy, if set, is its policy file.
	AuditLog    bool
	AuditPolicy string
	// RegistryMirror starts a Mirror on the network of the first node
	// started (Net.StartMirror) and every node with
	// --registry-config-dir naming its hosts configuration: pulls from
	// docker.io and registry.k8s.io of the images MirrorImages lists work
	// as in a site with such a mirror (Cluster.Mirror).
	RegistryMirror bool
	// EncryptionConfig, if set, replaces the EncryptionConfiguration file
	// 'orchd pki init' wrote (a restored cluster needs the backup's keys).
	EncryptionConfig string
}

// Master is one master process.
type Master struct {
	Name       string
	APIAddr    string
	RaftAddr   string
	GossipAddr string
	// NetNS is the master's network namespace ("" for the host's).
	NetNS string
	// Join starts the master with --join instead of --initial-cluster.
	Join    bool
	DataDir string
	LogPath string
	// AuditLogPath is the master's audit log ("" without Options.AuditLog).
	AuditLogPath string

	process
}

// URL returns the master's API base URL.
func (m *Master) URL() string { return "https://" + m.APIAddr }

// Cluster is a set of masters started from the real orchd binary.
type Cluster struct {
	t       T
	bins    Binaries
	Dir     string
	PKIDir  string
	Masters []*Master
	opts    Options
	initial string
	spare   []*Master

	mirrorOnce sync.Once
	mirror     *Mirror
}

// StartCluster creates a PKI and starts the masters; it returns once a
// leader has been elected and accepts writes.
func StartCluster(t T, bins Binaries, opts Options) *Cluster {
	t.Helper()
	if opts.Masters == 0 {
		opts.Masters = 3
	}
	if opts.Host == "" {
		opts.Host = "127.0.0.1"
	}
	dir := t.TempDir()
	c := &Cluster{t: t, bins: bins, Dir: dir, PKIDir: filepath.Join(dir, "pki"), opts: opts}
	var peers, servers, names []string
	hosts := []string{opts.Host}
	for i := 0; i < opts.Masters+opts.Spare; i++ {
		m := &Master{Name: fmt.Sprintf("m%d", i+1),
			DataDir: filepath.Join(dir, fmt.Sprintf("m%d", i+1)), LogPath: filepath.Join(dir, fmt.Sprintf("m%d.log", i+1))}
		if opts.AuditLog {
			m.AuditLogPath = filepath.Join(dir, fmt.Sprintf("m%d-audit.log", i+1))
		}
		if opts.Net != nil {
			// A host of its own: the well-known ports are free there.
			netns, ip := opts.Net.addHost(m.Name)
			m.NetNS, m.APIAddr, m.RaftAddr = netns, ip+":6443", ip+":7001"
			if opts.Gossip {
				m.GossipAddr = ip + ":7946"
			}
			hosts = append(hosts, ip)
		} else {
			m.APIAddr, m.RaftAddr = freeAddr(t, opts.Host), freeAddr(t, opts.Host)
			if opts.Gossip {
				m.GossipAddr = freeAddr(t, opts.Host)
			}
		}
		names = append(names, m.Name)
		if i >= opts.Masters {
			m.Join = true
			c.spare = append(c.spare, m)
			continue
		}
		c.Masters = append(c.Masters, m)
		peers = append(peers, m.Name+"="+m.RaftAddr)
		servers = append(servers, m.URL())
	}
	c.initial = strings.Join(peers, ",")
	if opts.DataDirSize > 0 {
		// Registered before c.cleanup, so unmounted after the masters are killed.
		c.mountDataDirs(append(append([]*Master(nil), c.Masters...), c.spare...))
	}
	out, err := exec.Command(bins.Orchd, "pki", "init", "--dir", c.PKIDir, "--hosts", strings.Join(hosts, ",")+",127.0.0.1,localhost",
		"--servers", strings.Join(servers, ","), "--masters", strings.Join(names, ",")).CombinedOutput()
	if err != nil {
		t.Fatalf("orchd pki init: %v\n%s", err, out)
	}
	if opts.EncryptionConfig != "" {
		b, err := os.ReadFile(opts.EncryptionConfig)
		if err == nil {
			err = os.WriteFile(filepath.Join(c.PKIDir, "encryption-config.yaml"), b, 0o600)
		}
		if err != nil {
			t.Fatalf("encryption config: %v", err)
		}
	}
	t.Cleanup(c.cleanup)
	for i := range c.Masters {
		c.Start(i)
	}
	c.WaitLeader(30 * time.Second)
	return c
}

// SpareMasters are the masters not started yet (AddMaster starts them in
// order): their addresses and network namespaces exist already.
func (c *Cluster) SpareMasters() []*Master { return append([]*Master(nil), c.spare...) }

// AddMaster starts the next spare master with --join (it waits to be added
// with `orchctl cluster add-master`) and returns its index in Masters.
func (c *Cluster) AddMaster() int {
	c.t.Helper()
	if len(c.spare) == 0 {
		c.t.Fatalf("no spare master left: raise Options.Spare")
	}
	m := c.spare[0]
	c.spare = c.spare[1:]
	c.Masters = append(c.Masters, m)
	c.Start(len(c.Masters) - 1)
	return len(c.Masters) - 1
}

// Start starts master i (again, after a stop: it rejoins from its data dir).
func (c *Cluster) Start(i int) {
	c.t.Helper()
	m := c.Masters[i]
	if m.Running() {
		c.t.Fatalf("master %s is already running", m.Name)
	}
	args := []string{"master", "--name", m.Name, "--data-dir", m.DataDir, "--pki-dir", c.PKIDir,
		"--api-addr", m.APIAddr, "--raft-addr", m.RaftAddr}
	if m.AuditLogPath != "" {
		args = append(args, "--audit-log-path", m.AuditLogPath)
		if c.opts.AuditPolicy != "" {
			args = append(args, "--audit-policy-file", c.opts.AuditPolicy)
		}
	}
	if m.Join {
		args = append(args, "--join")
	} else {
		args = append(args, "--initial-cluster", c.initial)
	}
	if m.GossipAddr != "" {
		args = append(args, "--gossip-addr", m.GossipAddr, "--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms")
		var seeds []string
		for j, o := range c.Masters {
			if j != i {
				seeds = append(seeds, o.GossipAddr)
			}
		}
		if len(seeds) > 0 {
			args = append(args, "--gossip-join", strings.Join(seeds, ","))
		}
	}
	// Last, so that a test's flags override the harness's (gossip timings).
	args = append(args, c.opts.MasterArgs...)
	cmd := exec.Command(c.bins.Orchd, args...)
	if m.NetNS != "" {
		cmd = exec.Command("nsenter", append([]string{"--net=/run/netns/" + m.NetNS, "--", c.bins.Orchd}, args...)...)
	}
	cmd.Env = append(os.Environ(), c.opts.MasterEnv...)
	if err := m.start(cmd, m.LogPath); err != nil {
		c.t.Fatalf("start %s: %v", m.Name, err)
	}
	done := m.exited()
	// Wait until its API listens, so callers can use it at once.
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := net.DialTimeout("tcp", m.APIAddr, 200*time.Millisecond)
		if err == nil {
			conn.Close()
			return
		}
		select {
		case <-done:
			c.t.Fatalf("master %s exited at start:\n%s", m.Name, tail(m.LogPath, 30))
		default:
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("master %s did not listen on %s within 15s:\n%s", m.Name, m.APIAddr, tail(m.LogPath, 30))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill sends SIGKILL to master i and waits for it to exit.
func (c *Cluster) Kill(i int) { c.signal(i, syscall.SIGKILL) }

// Stop sends SIGTERM to master i (a leader transfers leadership first) and waits.
func (c *Cluster) Stop(i int) { c.signal(i, syscall.SIGTERM) }

func (c *Cluster) signal(i int, sig syscall.Signal) {
	c.t.Helper()
	m := c.Masters[i]
	if !m.signal(sig, 20*time.Second) {
		c.t.Fatalf("master %s did not exit within 20s of %v", m.Name, sig)
	}
}

func (c *Cluster) cleanup() {
	for i, m := range c.Masters {
		m.signal(syscall.SIGKILL, 20*time.Second)
		if c.t.Failed() {
			c.t.Logf("--- log of master %d (%s):\n%s", i+1, m.Name, tail(m.LogPath, 40))
		}
	}
}

func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Config returns the admin config for the given masters (all when none given).
func (c *Cluster) Config(masters ...int) *client.Config {
	c.t.Helper()
	b, err := pki.Load(c.PKIDir)
	if err != nil {
		c.t.Fatalf("load pki: %v", err)
	}
	if len(masters) == 0 {
		for i := range c.Masters {
			masters = append(masters, i)
		}
	}
	cfg := &client.Config{CertificateAuthorityData: b.CAPEM, Token: b.AdminToken}
	for _, i := range masters {
		cfg.Servers = append(cfg.Servers, c.Masters[i].URL())
	}
	return cfg
}

// Client returns an admin client for the given masters (all when none given).
func (c *Cluster) Client(masters ...int) *client.Client {
	c.t.Helper()
	cl, err := client.New(c.Config(masters...))
	if err != nil {
		c.t.Fatalf("client: %v", err)
	}
	c.t.Cleanup(cl.CloseIdleConnections)
	return cl
}

// NodeClient returns a client of all masters that authenticates with the
// node's own certificate (system:node:<name>), as its agent does.
func (c *Cluster) NodeClient(nd *Node) *client.Client {
	c.t.Helper()
	cfg := c.Config()
	cfg.Token = ""
	cfg.ClientCertificate = filepath.Join(nd.PKIDir, pki.NodeCert)
	cfg.ClientKey = filepath.Join(nd.PKIDir, pki.NodeKey)
	cl, err := client.New(cfg)
	if err != nil {
		c.t.Fatalf("node client: %v", err)
	}
	c.t.Cleanup(cl.CloseIdleConnections)
	return cl
}

// ConfigPath returns the admin.conf path written by `orchd pki init`.
func (c *Cluster) ConfigPath() string { return filepath.Join(c.PKIDir, pki.AdminConf) }

// WaitLeader waits until a running master reports an elected leader that
// answers a linearizable read of the default namespace (created by the
// leader once elected), and returns the leader's index in Masters.
func (c *Cluster) WaitLeader(timeout time.Duration) int {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		for i, m := range c.Masters {
			if !m.Running() {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			mem, err := c.Client(i).Members(ctx)
			cancel()
			if err != nil {
				last = err
				continue
			}
			for j, mm := range c.Masters {
				if mem.Leader == mm.Name && mm.Running() {
					// Ready for clients once the leader has created the
					// default namespace (a fresh cluster's first writes
					// would otherwise race it).
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					var ns v1.Namespace
					err := c.Client(j).Get(ctx, "namespaces", "", v1.DefaultNamespace, &ns)
					cancel()
					if err == nil {
						return j
					}
					last = err
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("no leader within %v: %v", timeout, last)
	return -1
}

// Orchctl runs orchctl with the cluster's admin.conf and returns stdout,
// stderr and the error.
func (c *Cluster) Orchctl(stdin string, args ...string) (string, string, error) {
	cmd := exec.Command(c.bins.Orchctl, append([]string{"--config", c.ConfigPath()}, args...)...)
	// orchctl is kubectl's tree: a HOME of its own keeps its discovery
	// cache per cluster, and no $KUBECONFIG of the host takes over.
	cmd.Env = append(os.Environ(), "HOME="+c.t.TempDir(), "KUBECONFIG=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// Kubeconfig writes a kubeconfig for the admin of the cluster (the first
// master's address, the cluster CA, the admin token) and returns its path.
func (c *Cluster) Kubeconfig(masters ...int) string {
	c.t.Helper()
	cfg := c.Config(masters...)
	kc := clientcmdapi.NewConfig()
	kc.Clusters["orch"] = &clientcmdapi.Cluster{Server: cfg.Servers[0], CertificateAuthorityData: cfg.CertificateAuthorityData}
	kc.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: cfg.Token}
	kc.Contexts["orch"] = &clientcmdapi.Context{Cluster: "orch", AuthInfo: "admin", Namespace: "default"}
	kc.CurrentContext = "orch"
	path := filepath.Join(c.t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*kc, path); err != nil {
		c.t.Fatalf("write kubeconfig: %v", err)
	}
	return path
}

// Kubectl runs the test kubectl with an admin kubeconfig (Kubeconfig) and
// a HOME of its own, so no cache or config leaks in, and returns stdout,
// stderr and the error.
func (c *Cluster) Kubectl(args ...string) (string, string, error) {
	cmd := c.KubectlCommand(args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	return out.String(), errb.String(), err
}

// KubectlCommand returns the command Kubectl runs, for a caller that
// streams its output (get -w).
func (c *Cluster) KubectlCommand(args ...string) *exec.Cmd {
	kc := c.Kubeconfig()
	cmd := exec.Command(c.bins.Kubectl, append([]string{"--kubeconfig", kc}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+c.t.TempDir(), "KUBECONFIG="+kc)
	return cmd
}

// WaitCaughtUp waits until every running master has applied as far as the
// most advanced one did when the wait began (each reports its own applied
// index on /orch/v1/members).
func (c *Cluster) WaitCaughtUp(timeout time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	applied := func(i int) (uint64, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		mem, err := c.Client(i).Members(ctx)
		if err != nil {
			return 0, err
		}
		for _, m := range mem.Members {
			if m.Name == c.Masters[i].Name {
				return m.AppliedIndex, nil
			}
		}
		return 0, fmt.Errorf("%s not in its own member list", c.Masters[i].Name)
	}
	var target uint64
	for i, m := range c.Masters {
		if m.Running() {
			if a, err := applied(i); err == nil && a > target {
				target = a
			}
		}
	}
	for i, m := range c.Masters {
		if !m.Running() {
			continue
		}
		for {
			a, err := applied(i)
			if err == nil && a >= target {
				break
			}
			if time.Now().After(deadline) {
				c.t.Fatalf("master %s did not catch up to index %d within %v (at %d, %v)", m.Name, target, timeout, a, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// RunWithBinaries is a TestMain body for suites that run the real binaries:
// it builds orchd and orchctl into a temporary directory, stores their paths
// in bins, runs the tests and removes the directory. It returns the exit code
// for os.Exit.
func RunWithBinaries(m interface{ Run() int }, bins *Binaries) int {
	dir, err := os.MkdirTemp("", "orch-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	if *bins, err = Build(dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}
