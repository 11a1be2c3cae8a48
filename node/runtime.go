package node

import (
	"context"
	"io"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/remotecommand"

	"orch.io/orch/node/credentialprovider"
)

// Labels a runtime puts on every container it creates for the agent, so a
// restarted agent finds and adopts what is already running.
const (
	LabelPodUID       = "orch.pod.uid"
	LabelPodNamespace = "orch.pod.namespace"
	LabelPodName      = "orch.pod.name"
	LabelContainer    = "orch.container.name"
	LabelAttempt      = "orch.container.attempt" // restart count when created, decimal
	LabelSpecHash     = "orch.container.hash"    // hash of the container's spec
)

// Runtime runs the containers of a node's pods. The agent owns the pod's
// sandbox (namespaces, network, files); a Runtime only creates, starts,
// stops, inspects and removes containers inside it. The containerd
// implementation lives in node/containerd; unit tests use a fake.
type Runtime interface {
	// EnsureImage makes image available according to policy (Always,
	// IfNotPresent, Never) and returns its digest. A pull uses auth's
	// credentials, each in turn until one works (none: anonymous); they
	// are kept in memory only.
	EnsureImage(ctx context.Context, image, policy string, auth []credentialprovider.AuthConfig) (ImageInfo, error)
	// ImportImages imports an OCI image tarball and returns the names it held.
	ImportImages(ctx context.Context, r io.Reader) ([]string, error)
	// StartContainer creates the container and starts its process; it
	// returns the container's ID once the process runs. On error nothing of
	// the container is left behind.
	StartContainer(ctx context.Context, spec *ContainerSpec) (string, error)
	// Wait returns a channel that receives the container's exit once. It
	// works for containers this process did not start (adopted ones).
	Wait(ctx context.Context, id string) (<-chan ExitStatus, error)
	// StopContainer sends SIGTERM, waits up to grace for the process to end,
	// then sends SIGKILL and waits. Stopping a stopped container is a no-op.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer deletes a stopped container, its task and its
	// snapshot. Removing a missing container is a no-op.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers returns every container the agent's runtime holds.
	ListContainers(ctx context.Context) ([]Container, error)
	// Exec runs cmd inside a running container and returns its exit code and
	// combined output (truncated to 10 KiB); the context bounds it.
	Exec(ctx context.Context, id string, cmd []string) (int, []byte, error)
	// ExecStream runs cmd inside a running container connected to the
	// streams of sio (kubectl exec) and returns its exit code once it ends
	// and its output was copied. When ctx ends first the process is killed.
	ExecStream(ctx context.Context, id string, cmd []string, sio StreamIO) (int, error)
	// Attach connects sio to the main process of a running container
	// (kubectl attach) until the container ends or ctx does.
	Attach(ctx context.Context, id string, sio StreamIO) error
	// RemovePod removes what the runtime keeps per pod once all its
	// containers are removed (the pod's parent cgroups). Idempotent.
	RemovePod(ctx context.Context, podUID string) error
}

// StreamIO are the streams of an exec session. Nil streams are not
// connected. With TTY the process gets a terminal: its stdout carries
// stderr too, and Resize delivers the terminal's size changes.
type StreamIO struct {
	Stdin          io.Reader
	Stdout, Stderr io.WriteCloser
	TTY            bool
	Resize         <-chan TerminalSize
}

// TerminalSize is a terminal's width and height in characters: the
// kubelet streaming library's type, so sizes pass through unchanged.
type TerminalSize = remotecommand.TerminalSize

// ImageInfo describes an image present on the node.
type ImageInfo struct {
	Name   string // normalized reference, e.g. docker.io/library/busybox:1.35
	Digest string // the manifest's digest, e.g. sha256:...
	// User is the image config's USER ("", "name", "uid", "uid:gid").
	User string
	// Pulled is how long EnsureImage took to pull the image, 0 when it was
	// already on the node (imported or pulled before).
	Pulled time.Duration
}

// ContainerSpec is everything the runtime needs to create one container of a pod.
type ContainerSpec struct {
	PodUID       string
	PodNamespace string
	PodName      string
	Name         string // the container's name in the pod
	Attempt      int    // restart count at creation
	SpecHash     string // LabelSpecHash value

	Image      string
	Command    []string // overrides the image's entrypoint when set
	Args       []string // overrides the image's cmd when set
	Env        []string // KEY=value, appended after the image's env
	WorkingDir string   // overrides the image's when set

	// Namespaces are bind-mounted namespace files the container joins.
	NetNS, UTSNS, IPCNS string
	Hostname            string
	// HostNetwork, HostPID and HostIPC make the container share the node's
	// network (and UTS), PID or IPC namespace: the runtime gives it none of
	// its own, as the CRI does for Kubernetes' hostNetwork, hostPID and
	// hostIPC. HostNetwork takes no Hostname (the node's is kept).
	HostNetwork, HostPID, HostIPC bool
	// PIDNS is a PID namespace file (/proc/PID/ns/pid) the container
	// joins: its target's for an ephemeral container, the pod's first
	// container's with shareProcessNamespace. Empty: a namespace of its own.
	PIDNS string

	Mounts    []Mount
	Resources Resources
	// Security is the container's effective securityContext.
	Security ContainerSecurity
	// LogPath is the file the container's stdout and stderr go to (created
	// and appended to by the runtime, so it survives an agent restart).
	LogPath string
	// Stdin, StdinOnce and TTY are the container's fields: the process
	// gets a stdin that Attach writes to (closed after the first attach
	// session with StdinOnce) and, with TTY, a terminal.
	Stdin, StdinOnce, TTY bool
}

// Mount is a bind mount into a container.
type Mount struct {
	Source      string // path on the node
	Destination string // path in the container
	ReadOnly    bool
	Options     []string // more mount options, e.g. nosuid, nodev, noexec
}

// Resources are the container's cgroup limits; zero means unlimited.
type Resources struct {
	MemoryLimit int64  // bytes
	CPUShares   uint64 // cpu.shares (requests: 1024 per cpu, minimum 2)
	CPUQuota    int64  // µs per CPUPeriod (limits)
	CPUPeriod   uint64 // µs, default 100000
	PidsLimit   int64
}

// Container is what a runtime reports about one container.
type Container struct {
	ID     string
	Labels map[string]string
	Image  string
	// ImageID is the digest of the image the container was made from.
	ImageID string
	State   ContainerStateKind
	// PID is the task's process ID while it runs.
	PID        int
	CreatedAt  time.Time
	StartedAt  time.Time
	FinishedAt time.Time // zero while running
	ExitCode   int
	LogPath    string
}

// ContainerStateKind is the life stage of a container in the runtime.
type ContainerStateKind string

// Container states.
const (
	StateCreated ContainerStateKind = "created" // exists, no running process
	StateRunning ContainerStateKind = "running"
	StateExited  ContainerStateKind = "exited"
	StateUnknown ContainerStateKind = "unknown"
)

// ExitStatus is how a container's process ended.
type ExitStatus struct {
	Code       int
	FinishedAt time.Time
	Err        error // set when the exit could not be observed
}
