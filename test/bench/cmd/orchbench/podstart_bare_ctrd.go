package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	runcoptions "github.com/containerd/containerd/api/types/runc/options"
	ctrdclient "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"orch.io/orch/net/podnet"
	"orch.io/orch/node"
	ctrd "orch.io/orch/node/containerd"
	"orch.io/orch/node/ociimage"
	"orch.io/orch/test/harness"
)

// The bare containerd anchor starts the section's pod the way a program
// holding only the containerd Go client would, on the node's own
// containerd and image, with orch's pod network code and the same
// security as the node gives a pod without a securityContext, and
// nothing of orch's orchestration (no API, no agent, no status):
//
//  1. the sandbox: net/podnet's CreateSandbox, what the agent calls (new
//     pinned net, uts and ipc namespaces, a veth on a bridge, an address
//     from host-local IPAM, a default route), in a network namespace of
//     the bench's own standing in for the node;
//  2. the container: a snapshot of the image, containerd's default spec
//     with the image's config, the command, the hostname, the sandbox's
//     namespaces by path, a cgroup below a root of the bench's own, and
//     node/containerd.SecurityOpts (the RuntimeDefault seccomp profile cut
//     to the kernel's ABIs, as the node cuts it), on the runc shim;
//  3. the task, its output to a file written by the shim (orch's node runs
//     its CRI logging binary instead, one process per container: that is
//     orch's cost), a wait on its exit, then start;
//  4. a TCP connect from the namespace standing in for the node to the pod
//     IP, repeated until the server accepts it.
//
// Its objects live in a containerd namespace of their own, so the node
// agent, which adopts and removes what it finds in its namespace, never
// sees them.

const (
	// bareNamespace is the anchor's containerd namespace.
	bareNamespace = "orchbench-bare"
	// bareStepTimeout bounds each containerd or network step.
	bareStepTimeout = 60 * time.Second
	// bareCleanupTimeout bounds the removal of one pod (or of everything
	// left at the end), which runs even when the run was interrupted.
	bareCleanupTimeout = 60 * time.Second
)

// barePodCIDR is the anchor's pod range. It lives only in the anchor's own
// network namespace, so it may equal any range the cluster uses.
var barePodCIDR = &net.IPNet{IP: net.IPv4(10, 244, 250, 0).To4(), Mask: net.CIDRMask(24, 32)}

// bareAnchor starts pods with the containerd client directly.
type bareAnchor struct {
	client *ctrdclient.Client
	image  ctrdclient.Image
	net    *podnet.Network
	// netNS is the path of the namespace standing in for the node.
	netNS string
	// runcRoot and logDir are runc's state root and the containers' logs.
	runcRoot, logDir string
	cgroupRoot       string
	security         []oci.SpecOpts
	args             []string
	log              *slog.Logger
}

// bareRun is what one anchor start made, for its removal; a field stays
// empty when the start failed before making it.
type bareRun struct {
	uid       string
	container ctrdclient.Container
	task      ctrdclient.Task
}

// newBareAnchor connects to the node's containerd, imports the node's
// busybox image into the anchor's namespace and sets up the pod network
// in a new namespace on nw. t's cleanups remove every container, task,
// sandbox, cgroup and image the anchor made (the namespace itself goes
// with the harness's cleanup).
func newBareAnchor(ctx context.Context, t *runT, nw *harness.Net, nd *harness.Node, args []string) (*bareAnchor, error) {
	hostNS, _ := nw.AddHost("bare")
	dir := t.TempDir()
	id, err := randomID(3)
	if err != nil {
		return nil, err
	}
	a := &bareAnchor{netNS: "/run/netns/" + hostNS, runcRoot: filepath.Join(dir, "runc"), logDir: filepath.Join(dir, "logs"),
		cgroupRoot: "/orchbench-bare-" + id, args: args,
		security: ctrd.SecurityOpts(node.ContainerSecurity{Seccomp: node.SeccompRuntimeDefault}),
		log:      slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	for _, d := range []string{a.runcRoot, a.logDir} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("bare anchor: %w", err)
		}
	}
	a.net, err = podnet.New(podnet.Config{StateDir: filepath.Join(dir, "net"), PodCIDR: barePodCIDR, HostNetNS: a.netNS, Logger: a.log})
	if err != nil {
		return nil, fmt.Errorf("bare anchor: %w", err)
	}
	sbDir := filepath.Join(dir, "net", "sandboxes")
	a.client, err = ctrdclient.New(nd.ContainerdSocket(), ctrdclient.WithDefaultNamespace(bareNamespace),
		ctrdclient.WithDefaultRuntime(ctrd.RuncRuntime), ctrdclient.WithTimeout(10*time.Second))
	if err != nil {
		return nil, fmt.Errorf("bare anchor: connect to containerd at %s: %w", nd.ContainerdSocket(), err)
	}
	// Registered after the namespace's and the temporary directory's
	// cleanups, so it runs before them.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), bareCleanupTimeout)
		defer cancel()
		if err := a.removeAll(ctx, sbDir); err != nil {
			fmt.Fprintf(os.Stderr, "orchbench: bare anchor cleanup: %v\n", err)
		}
	})
	sctx, cancel := context.WithTimeout(ctx, bareStepTimeout)
	defer cancel()
	if err := a.net.Setup(sctx); err != nil {
		return nil, fmt.Errorf("bare anchor: %w", err)
	}
	if a.image, err = importBusybox(sctx, a.client, filepath.Join(nd.StateDir, "images", "busybox.tar")); err != nil {
		return nil, fmt.Errorf("bare anchor: %w", err)
	}
	return a, nil
}

// importBusybox imports the node's busybox image archive (the file the
// node imports at start) and unpacks it.
func importBusybox(ctx context.Context, c *ctrdclient.Client, archive string) (ctrdclient.Image, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, fmt.Errorf("image archive: %w", err)
	}
	defer f.Close()
	imgs, err := c.Import(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", archive, err)
	}
	for _, meta := range imgs {
		if meta.Name != ociimage.BusyboxImage {
			continue
		}
		img := ctrdclient.NewImage(c, meta)
		if err := img.Unpack(ctx, ctrd.DefaultSnapshotter); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", meta.Name, err)
		}
		return img, nil
	}
	return nil, fmt.Errorf("import %s: no image %s in it", archive, ociimage.BusyboxImage)
}

// start starts one pod named name and times it; run holds what was made
// (also on error, for remove).
func (a *bareAnchor) start(ctx context.Context, name string) (run bareRun, s bareSample, err error) {
	suffix, err := randomID(4)
	if err != nil {
		return run, s, err
	}
	uid, id := name+"-"+suffix, name+"-"+suffix
	// The steps that make things run to their end, bounded by a deadline
	// only: a task create cancelled half-way can leave runc's init
	// process behind, outside anything containerd still tracks. An
	// interrupted run stops between steps.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bareStepTimeout)
	defer cancel()
	var sb *podnet.Sandbox
	steps := []struct {
		name string
		do   func() error
	}{
		{"sandbox", func() (err error) {
			sb, err = a.net.CreateSandbox(sctx, uid, name)
			return err
		}},
		{"create container", func() (err error) {
			opts := []oci.SpecOpts{
				oci.WithImageConfig(a.image),
				oci.WithProcessArgs(a.args...),
				oci.WithHostname(name),
				oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: sb.NetNS}),
				oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.UTSNamespace, Path: sb.UTSNS}),
				oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.IPCNamespace, Path: sb.IPCNS}),
				oci.WithCgroup(path.Join(a.podCgroup(uid), id)),
			}
			run.container, err = a.client.NewContainer(sctx, id,
				ctrdclient.WithImage(a.image),
				ctrdclient.WithSnapshotter(ctrd.DefaultSnapshotter),
				ctrdclient.WithNewSnapshot(id, a.image),
				ctrdclient.WithRuntime(ctrd.RuncRuntime, &runcoptions.Options{Root: a.runcRoot}),
				ctrdclient.WithNewSpec(append(opts, a.security...)...),
			)
			return err
		}},
		{"create task", func() (err error) {
			run.task, err = run.container.NewTask(sctx, cio.LogFile(filepath.Join(a.logDir, id+".log")))
			return err
		}},
		// As the node: subscribe to the exit before the start.
		{"wait task", func() error { _, err := run.task.Wait(sctx); return err }},
		{"start task", func() error { return run.task.Start(sctx) }},
	}

	s.Started = time.Now()
	run.uid = uid
	for _, st := range steps {
		if err := ctx.Err(); err != nil {
			return run, bareSample{}, fmt.Errorf("bare pod %s: %s: %w", name, st.name, err)
		}
		if err := st.do(); err != nil {
			return run, bareSample{}, fmt.Errorf("bare pod %s: %s: %w", name, st.name, err)
		}
	}
	s.Running = time.Since(s.Started)
	tctx, cancelTCP := context.WithTimeout(ctx, bareStepTimeout)
	defer cancelTCP()
	answered, err := awaitTCP(tctx, a.netNS, net.JoinHostPort(sb.IP.String(), strconv.Itoa(barePort)))
	if err != nil {
		return run, bareSample{}, fmt.Errorf("bare pod %s: first TCP answer: %w", name, err)
	}
	s.Answered = answered.Sub(s.Started)
	return run, s, nil
}

// remove kills and deletes what start made: the task, the container with
// its snapshot, the sandbox and the pod's cgroups.
func (a *bareAnchor) remove(ctx context.Context, run bareRun) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bareCleanupTimeout)
	defer cancel()
	var errs []error
	if run.task == nil && run.container != nil {
		// A task create that failed may still have made the task.
		if task, err := run.container.Task(ctx, nil); err == nil {
			run.task = task
		} else if !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("load task: %w", err))
		}
	}
	if run.task != nil {
		if _, err := run.task.Delete(ctx, ctrdclient.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete task: %w", err))
		}
	}
	if run.container != nil {
		if err := run.container.Delete(ctx, ctrdclient.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete container: %w", err))
		}
	}
	if run.uid != "" {
		if err := a.net.DeleteSandbox(ctx, run.uid); err != nil {
			errs = append(errs, err)
		}
		if err := rmdirCgroup(a.podCgroup(run.uid)); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove bare pod %s: %w", run.uid, err)
	}
	return nil
}

// removeAll removes everything left in the anchor's containerd namespace
// and pod network, the cgroup root, the image, and the sandboxes
// directory's mount: the cleanup at the end, also after a failure.
func (a *bareAnchor) removeAll(ctx context.Context, sbDir string) error {
	var errs []error
	cs, err := a.client.Containers(ctx)
	if err != nil {
		errs = append(errs, fmt.Errorf("list containers: %w", err))
	}
	for _, c := range cs {
		run := bareRun{uid: c.ID(), container: c} // the anchor names a pod's container by its uid
		if err := a.remove(ctx, run); err != nil {
			errs = append(errs, err)
		}
	}
	uids, err := a.net.Sandboxes()
	if err != nil {
		errs = append(errs, err)
	}
	for _, uid := range uids {
		errs = append(errs, a.net.DeleteSandbox(ctx, uid), rmdirCgroup(a.podCgroup(uid)))
	}
	errs = append(errs, a.net.Teardown(ctx))
	if err := unix.Unmount(sbDir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		errs = append(errs, fmt.Errorf("unmount %s: %w", sbDir, err))
	}
	errs = append(errs, rmdirCgroup(a.cgroupRoot))
	if a.image != nil {
		if err := a.client.ImageService().Delete(ctx, a.image.Name()); err != nil && !errdefs.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete image: %w", err))
		}
	}
	errs = append(errs, a.client.Close())
	return errors.Join(errs...)
}

// podCgroup is the parent cgroup of a pod's container, as the node makes
// one per pod.
func (a *bareAnchor) podCgroup(uid string) string { return path.Join(a.cgroupRoot, "pod"+uid) }

// rmdirCgroup removes the cgroup rel in every hierarchy; a missing one is
// fine.
func rmdirCgroup(rel string) error {
	dirs, err := ctrd.CgroupDirs(rel)
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", rel, err)
	}
	var errs []error
	for _, d := range dirs {
		if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// randomID is n random bytes in hex.
func randomID(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// tcpRetry is the pause between connects while a server is not yet
// listening: the resolution of the first-answer figure, the same on both
// sides.
const tcpRetry = 2 * time.Millisecond

// awaitTCP connects to addr from the network namespace nsPath until a
// connection is accepted, and returns when it was; it fails when ctx ends
// first, with the last connect's error.
func awaitTCP(ctx context.Context, nsPath, addr string) (time.Time, error) {
	var last error
	for {
		dctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := node.DialInNetNS(dctx, nsPath, addr)
		cancel()
		if err == nil {
			at := time.Now()
			conn.Close() // a probe: the accept was the answer
			return at, nil
		}
		last = err
		if err := sleepCtx(ctx, tcpRetry); err != nil { // poll cadence of a condition with a deadline
			return time.Time{}, fmt.Errorf("no TCP answer from %s: %w (last: %v)", addr, err, last)
		}
	}
}
