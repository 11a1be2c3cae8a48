package containerd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"orch.io/orch/node"
)

// Defaults for Config.
const (
	DefaultNamespace   = "orch"
	DefaultSnapshotter = "overlayfs"
	DefaultCgroupRoot  = "/orch"
	// RuncRuntime is the containerd runtime (shim) every container uses.
	RuncRuntime = "io.containerd.runc.v2"
)

// Labels the runtime adds to the node.Label* ones on every container.
const (
	// LabelStartedAt is the task's start time, RFC 3339 with nanoseconds.
	LabelStartedAt = "orch.container.startedAt"
	// LabelLogPath is the file the container's output goes to.
	LabelLogPath = "orch.container.logPath"
	// LabelImageID is the digest of the image the container was made from.
	LabelImageID = "orch.container.imageID"
)

// connectTimeout bounds New's version check when ctx has no deadline.
const connectTimeout = 10 * time.Second

// Config configures a Runtime.
type Config struct {
	// Address is containerd's gRPC socket. Required.
	Address string
	// Namespace is the containerd namespace of every object the runtime
	// creates and lists. Default DefaultNamespace.
	Namespace string
	// Snapshotter is the snapshotter for container root filesystems.
	// Default DefaultSnapshotter.
	Snapshotter string
	// CgroupRoot is the parent cgroup of all pods; a container's cgroup is
	// <CgroupRoot>/pod<uid>/<containerID>. Default DefaultCgroupRoot. Agents
	// sharing one machine need distinct roots.
	CgroupRoot string
	// StateDir holds runtime-private state: runc's state root and the FIFOs
	// of exec processes. Required; keep it short and stable across restarts.
	StateDir string
	// Logger receives the runtime's logs. Default: discarded.
	Logger *slog.Logger
	// LogBinary is the containerd logging binary (orchd, which runs
	// crilog.RunLogger when called with crilog.LoggerArg) that writes
	// containers' output in the CRI log format. "": the shim writes the
	// output raw to the log file.
	LogBinary string
	// RegistryConfigDir is a containerd hosts configuration directory
	// (containerd's config_path, e.g. /etc/containerd/certs.d): image
	// pulls reach each registry through the hosts its
	// <registry>/hosts.toml names, mirrors first (see configuredHosts).
	// "": every registry is reached directly (see registryHosts).
	RegistryConfigDir string
}

// Runtime is a node.Runtime on a containerd daemon. It is safe for
// concurrent use.
type Runtime struct {
	cfg    Config
	client *client.Client
	log    *slog.Logger
	// compatABIs are the compatibility ABIs the kernel runs (the
	// RuntimeDefault profile keeps only their parts).
	compatABIs compatABIs
	// images holds the config and layers of the images started.
	images imageMetas
}

var _ node.Runtime = (*Runtime)(nil)

// New connects to containerd at cfg.Address and checks that it answers.
func New(ctx context.Context, cfg Config) (*Runtime, error) {
	if cfg.Address == "" {
		return nil, errors.New("containerd runtime: Address is required")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("containerd runtime: StateDir is required")
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.Snapshotter == "" {
		cfg.Snapshotter = DefaultSnapshotter
	}
	if cfg.CgroupRoot == "" {
		cfg.CgroupRoot = DefaultCgroupRoot
	}
	cfg.CgroupRoot = path.Clean("/" + cfg.CgroupRoot)
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	stateDir, err := filepath.Abs(cfg.StateDir)
	if err != nil {
		return nil, fmt.Errorf("containerd runtime: state dir: %w", err)
	}
	cfg.StateDir = stateDir
	for _, dir := range []string{cfg.StateDir, runcRoot(cfg.StateDir), fifoDir(cfg.StateDir)} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("containerd runtime: %w", err)
		}
	}

	// The client waits for the connection to become ready until its
	// timeout; fail fast when nothing listens on the socket.
	if err := dialCheck(ctx, cfg.Address); err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", cfg.Address, err)
	}
	c, err := client.New(cfg.Address,
		client.WithDefaultNamespace(cfg.Namespace),
		client.WithDefaultRuntime(RuncRuntime),
		client.WithTimeout(connectTimeout))
	if err != nil {
		return nil, fmt.Errorf("connect to containerd at %s: %w", cfg.Address, err)
	}
	r := &Runtime{
		cfg:        cfg,
		client:     c,
		compatABIs: probeCompatABIs(),
		log:        cfg.Logger.With("subsystem", "containerd", "namespace", cfg.Namespace),
	}
	if _, hasDeadline := ctx.Deadline(); !hasDeadline {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, connectTimeout)
		defer cancel()
	}
	v, err := r.Version(ctx)
	if err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("connect to containerd at %s: %w", cfg.Address, err)
	}
	r.log.Debug("connected", "address", cfg.Address, "version", v)
	r.log.Info("seccomp RuntimeDefault architectures follow the kernel's ABIs", "x32", r.compatABIs.X32, "ia32", r.compatABIs.IA32)
	return r, nil
}

// Close closes the connection to containerd. Containers keep running.
func (r *Runtime) Close() error {
	if err := r.client.Close(); err != nil {
		return fmt.Errorf("close containerd client: %w", err)
	}
	return nil
}

// Version returns the daemon's version, e.g. "1.6.20~ds1".
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.client.Version(r.ns(ctx))
	if err != nil {
		return "", fmt.Errorf("containerd version: %w", err)
	}
	return v.Version, nil
}

// ns scopes ctx to the runtime's containerd namespace.
func (r *Runtime) ns(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}

// dialCheck connects to a unix socket address (a path or unix://path) and
// closes the connection again. Other address forms are not checked.
func dialCheck(ctx context.Context, address string) error {
	path, ok := strings.CutPrefix(address, "unix://")
	if !ok && !strings.HasPrefix(address, "/") {
		return nil
	}
	if !ok {
		path = address
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var d net.Dialer
	conn, err := d.DialContext(dctx, "unix", path)
	if err != nil {
		return err
	}
	return conn.Close()
}

func runcRoot(stateDir string) string { return filepath.Join(stateDir, "runc") }
func fifoDir(stateDir string) string  { return filepath.Join(stateDir, "fifo") }

// Config returns the runtime's effective configuration (defaults applied).
func (r *Runtime) Config() Config { return r.cfg }
