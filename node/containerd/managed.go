package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"
)

// Files in ManagedConfig.Dir.
const (
	managedConfigFile = "config.toml"
	managedPIDFile    = "containerd.pid"
	managedLogFile    = "containerd.log"
	managedSocket     = "c.sock"
	managedTTRPC      = "t.sock"
	// maxSocketPath is the longest unix socket path (sun_path is 108 bytes
	// with the terminating NUL).
	maxSocketPath = 107
)

// Managed timings.
const (
	managedStartTimeout = 15 * time.Second
	managedStopGrace    = 10 * time.Second
	managedPollInterval = 25 * time.Millisecond
	managedProbeTimeout = 2 * time.Second
)

// ManagedConfig configures a containerd started by StartManaged.
type ManagedConfig struct {
	// Dir holds the config, root, state, sockets, log and pid file. Keep it
	// short: the socket Dir/c.sock must fit in 107 bytes. Required.
	Dir string
	// Binary is the containerd executable. Default "containerd" on PATH.
	Binary string
	// Logger receives lifecycle logs. Default: discarded.
	Logger *slog.Logger
}

// Managed is a containerd daemon private to one agent: its own config,
// root, state and socket under Dir, in its own process group so that it
// outlives an agent that is killed and is adopted by the next one.
type Managed struct {
	dir     string
	address string
	pid     int
	// exited is closed once the daemon has been reaped; nil when the daemon
	// was started by another process (reused), which we cannot wait for.
	exited chan struct{}
	log    *slog.Logger
}

// StartManaged starts containerd for cfg.Dir, or reuses the one already
// running for it: when Dir/containerd.pid names a live containerd started
// with Dir's config whose socket answers, that daemon is returned (this is
// how a restarted agent keeps its pods). Otherwise it writes Dir/config.toml
// (CRI, /opt and foreign snapshotters disabled; no TCP, metrics or debug
// listener), starts the binary in its own process group with output to
// Dir/containerd.log, records its PID in Dir/containerd.pid and waits until
// the socket answers a Version request.
func StartManaged(ctx context.Context, cfg ManagedConfig) (*Managed, error) {
	if cfg.Dir == "" {
		return nil, errors.New("start containerd: Dir is required")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	if cfg.Binary == "" {
		cfg.Binary = "containerd"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Managed{
		dir:     dir,
		address: filepath.Join(dir, managedSocket),
		log:     logger.With("subsystem", "containerd-managed", "dir", dir),
	}
	if len(m.address) > maxSocketPath || len(filepath.Join(dir, managedTTRPC)) > maxSocketPath {
		return nil, fmt.Errorf("start containerd: socket path %s is longer than %d bytes: use a shorter Dir", m.address, maxSocketPath)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}

	if pid, ok := m.running(ctx); ok {
		m.pid = pid
		m.log.Info("reusing running containerd", "pid", pid)
		return m, nil
	}

	if err := os.WriteFile(m.configPath(), []byte(managedConfig(dir)), 0o600); err != nil {
		return nil, fmt.Errorf("start containerd: write config: %w", err)
	}
	// Stale sockets of a dead daemon.
	for _, s := range []string{managedSocket, managedTTRPC} {
		if err := os.Remove(filepath.Join(dir, s)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("start containerd: remove stale socket: %w", err)
		}
	}
	binary, err := exec.LookPath(cfg.Binary)
	if err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	logFile, err := os.OpenFile(filepath.Join(dir, managedLogFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	defer logFile.Close()
	cmd := exec.Command(binary, "--config", m.configPath())
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	m.pid = cmd.Process.Pid
	m.exited = make(chan struct{})
	go func() {
		_ = cmd.Wait() // reap; the exit is observed through m.exited
		close(m.exited)
	}()
	if err := os.WriteFile(m.pidPath(), []byte(strconv.Itoa(m.pid)+"\n"), 0o600); err != nil {
		_ = m.Stop(context.WithoutCancel(ctx), false)
		return nil, fmt.Errorf("start containerd: write pid file: %w", err)
	}
	if err := m.waitReady(ctx); err != nil {
		_ = m.Stop(context.WithoutCancel(ctx), false)
		return nil, fmt.Errorf("start containerd: %w\n%s", err, m.logTail(20))
	}
	m.log.Info("started containerd", "pid", m.pid, "address", m.address, "took", time.Since(start))
	return m, nil
}

// Address returns the daemon's gRPC socket.
func (m *Managed) Address() string { return m.address }

// PID returns the daemon's process ID.
func (m *Managed) PID() int { return m.pid }

// Dir returns the directory the daemon keeps everything in.
func (m *Managed) Dir() string { return m.dir }

func (m *Managed) configPath() string { return filepath.Join(m.dir, managedConfigFile) }
func (m *Managed) pidPath() string    { return filepath.Join(m.dir, managedPIDFile) }

// managedConfig renders the daemon's config for dir.
func managedConfig(dir string) string {
	q := strconv.Quote
	return fmt.Sprintf(`# Written by orch: a containerd private to one agent.
version = 2
root = %s
state = %s
disabled_plugins = [
  "io.containerd.grpc.v1.cri",
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
]

[grpc]
  address = %s
  tcp_address = ""
  uid = 0
  gid = 0

[ttrpc]
  address = %s

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""
`, q(filepath.Join(dir, "root")), q(filepath.Join(dir, "state")),
		q(filepath.Join(dir, managedSocket)), q(filepath.Join(dir, managedTTRPC)))
}

// running reports the PID of a live daemon for this Dir that answers.
func (m *Managed) running(ctx context.Context) (int, bool) {
	b, err := os.ReadFile(m.pidPath())
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 || !m.isOurDaemon(pid) {
		return 0, false
	}
	pctx, cancel := context.WithTimeout(ctx, managedProbeTimeout)
	defer cancel()
	if err := probe(pctx, m.address); err != nil {
		m.log.Warn("containerd from pid file does not answer; starting a new one", "pid", pid, "err", err)
		return 0, false
	}
	return pid, true
}

// isOurDaemon reports whether pid is a live (not zombie) process started
// with this Dir's config, which guards against a recycled PID.
func (m *Managed) isOurDaemon(pid int) bool {
	if !processAlive(pid) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	if len(args) == 0 || !strings.Contains(filepath.Base(args[0]), "containerd") {
		return false
	}
	for _, a := range args[1:] {
		if a == m.configPath() {
			return true
		}
	}
	return false
}

// processAlive reports whether pid exists and is not a zombie.
func processAlive(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 || i+2 >= len(stat) {
		return false
	}
	return stat[i+2] != 'Z' && stat[i+2] != 'X'
}

// probe asks the daemon at address for its version.
func probe(ctx context.Context, address string) error {
	if err := dialCheck(ctx, address); err != nil {
		return err
	}
	c, err := client.New(address, client.WithTimeout(managedProbeTimeout))
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = c.Version(ctx)
	return err
}

// waitReady polls the socket until the daemon answers, it exits, or the
// start timeout passes.
func (m *Managed) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, managedStartTimeout)
	defer cancel()
	tick := time.NewTicker(managedPollInterval)
	defer tick.Stop()
	var lastErr error
	for {
		if _, err := os.Stat(m.address); err == nil {
			pctx, pcancel := context.WithTimeout(ctx, managedProbeTimeout)
			lastErr = probe(pctx, m.address)
			pcancel()
			if lastErr == nil {
				return nil
			}
		}
		select {
		case <-m.exited:
			return fmt.Errorf("containerd (pid %d) exited during start", m.pid)
		case <-ctx.Done():
			return fmt.Errorf("containerd (pid %d) did not answer on %s: %w (last error: %v)", m.pid, m.address, ctx.Err(), lastErr)
		case <-tick.C:
		}
	}
}

// logTail returns the last n lines of the daemon's log.
func (m *Managed) logTail(n int) string {
	b, err := os.ReadFile(filepath.Join(m.dir, managedLogFile))
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop stops the daemon. With killTasks it first kills and deletes every
// task in every namespace (their shims would outlive the daemon otherwise);
// without, containers keep running and a later StartManaged on the same Dir
// reconnects to their shims. It sends SIGTERM, waits up to 10 s, then
// SIGKILL, and removes the pid file. ctx bounds the whole stop. Stopping a
// daemon that is gone is a no-op, even when another daemon has been started
// on the same Dir since.
func (m *Managed) Stop(ctx context.Context, killTasks bool) error {
	if !m.alive() {
		// Gone already; a daemon started since on the same Dir is not ours.
		return nil
	}
	var errs []error
	if killTasks {
		if err := m.killAllTasks(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := m.stopDaemon(ctx); err != nil {
		errs = append(errs, err)
	}
	if killTasks {
		// A task containerd could not delete (one being created when its
		// agent died, say) leaves its shim waiting for a daemon that is
		// gone; the shims of this daemon are told apart by its socket.
		if n, err := killShims(m.address); err != nil {
			errs = append(errs, err)
		} else if n > 0 {
			m.log.Info("killed shims left behind", "count", n)
		}
	}
	if err := os.Remove(m.pidPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stop containerd %d: %w", m.pid, err)
	}
	return nil
}

// killAllTasks kills and deletes the task of every container in every
// namespace.
func (m *Managed) killAllTasks(ctx context.Context) error {
	if err := dialCheck(ctx, m.address); err != nil {
		return fmt.Errorf("kill tasks: containerd does not answer: %w", err)
	}
	c, err := client.New(m.address, client.WithTimeout(managedProbeTimeout))
	if err != nil {
		return fmt.Errorf("kill tasks: %w", err)
	}
	defer c.Close()
	nss, err := c.NamespaceService().List(ctx)
	if err != nil {
		return fmt.Errorf("kill tasks: list namespaces: %w", err)
	}
	var errs []error
	for _, ns := range nss {
		nctx := namespaces.WithNamespace(ctx, ns)
		cs, err := c.Containers(nctx)
		if err != nil {
			errs = append(errs, fmt.Errorf("list containers in %s: %w", ns, err))
			continue
		}
		for _, ctr := range cs {
			task, err := ctr.Task(nctx, nil)
			if errdefs.IsNotFound(err) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("task of %s/%s: %w", ns, ctr.ID(), err))
				continue
			}
			if _, err := task.Delete(nctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete task %s/%s: %w", ns, ctr.ID(), err))
				continue
			}
			m.log.Debug("killed task", "namespace", ns, "id", ctr.ID())
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kill tasks: %w", err)
	}
	return nil
}

// alive reports whether this Managed's daemon process still runs.
func (m *Managed) alive() bool {
	if m.exited != nil {
		select {
		case <-m.exited:
			return false
		default:
			return true
		}
	}
	return m.isOurDaemon(m.pid)
}

// stopDaemon sends SIGTERM, then SIGKILL after the grace, and waits for the
// daemon to be gone.
func (m *Managed) stopDaemon(ctx context.Context) error {
	if !m.alive() {
		return nil // never signal a PID that may have been reused
	}
	for _, step := range []struct {
		sig   syscall.Signal
		grace time.Duration
	}{{syscall.SIGTERM, managedStopGrace}, {syscall.SIGKILL, managedStopGrace}} {
		if err := syscall.Kill(m.pid, step.sig); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("signal %v: %w", step.sig, err)
		}
		if m.waitGone(ctx, step.grace) {
			m.log.Info("stopped containerd", "pid", m.pid, "signal", step.sig.String())
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return fmt.Errorf("containerd %d did not exit after SIGKILL", m.pid)
}

// waitGone waits up to d (and ctx) for the daemon to exit.
func (m *Managed) waitGone(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	if m.exited != nil {
		select {
		case <-m.exited:
			return true
		case <-timer.C:
		case <-ctx.Done():
		}
		return false
	}
	tick := time.NewTicker(managedPollInterval)
	defer tick.Stop()
	for processAlive(m.pid) {
		select {
		case <-tick.C:
		case <-timer.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
	return true
}

// killShims sends SIGKILL to every containerd shim process started for the
// containerd at address (the shims carry "-address ADDRESS" on their
// command line) and returns how many it found.
func killShims(address string) (int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, fmt.Errorf("find shims: %w", err)
	}
	n := 0
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !isShimOf(strings.Split(string(b), "\x00"), address) {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err == nil {
			n++
		}
	}
	return n, nil
}

// isShimOf reports whether a command line (argv) is a containerd shim's for
// the containerd at address.
func isShimOf(argv []string, address string) bool {
	if len(argv) == 0 || !strings.Contains(filepath.Base(argv[0]), "containerd-shim") {
		return false
	}
	for i := 0; i+1 < len(argv); i++ {
		if argv[i] == "-address" && argv[i+1] == address {
			return true
		}
	}
	return false
}
