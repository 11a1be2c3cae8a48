package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"orch.io/orch/node"
)

// cleanupTimeout bounds the rollback of a failed start, which must run even
// when the caller's context is done.
const cleanupTimeout = 30 * time.Second

// StartContainer creates the container (snapshot, spec, labels), creates its
// task with the output going to spec.LogPath and starts it. It returns the
// container ID once the process runs. On error it deletes what it created.
// The image must be present (EnsureImage); it is unpacked if it is not yet.
func (r *Runtime) StartContainer(ctx context.Context, spec *node.ContainerSpec) (_ string, retErr error) {
	ctx = r.ns(ctx)
	who := spec.PodNamespace + "/" + spec.PodName + "/" + spec.Name
	fail := func(err error) (string, error) {
		return "", fmt.Errorf("start container %s: %w", who, err)
	}
	if spec.PodUID == "" || spec.Name == "" || spec.LogPath == "" {
		return fail(errors.New("PodUID, Name and LogPath are required"))
	}
	if !filepath.IsAbs(spec.LogPath) {
		return fail(fmt.Errorf("log path %q is not absolute", spec.LogPath))
	}
	imageName, err := NormalizeImage(spec.Image)
	if err != nil {
		return fail(err)
	}
	tImage := time.Now()
	meta, err := r.image(ctx, imageName)
	if err != nil {
		return fail(fmt.Errorf("image %s: %w", imageName, err))
	}
	img, imgConfig := meta.img, meta.config
	if err := os.MkdirAll(filepath.Dir(spec.LogPath), 0o700); err != nil {
		return fail(fmt.Errorf("log directory: %w", err))
	}
	id, err := newContainerID(spec)
	if err != nil {
		return fail(err)
	}

	labels := map[string]string{
		node.LabelPodUID:       spec.PodUID,
		node.LabelPodNamespace: spec.PodNamespace,
		node.LabelPodName:      spec.PodName,
		node.LabelContainer:    spec.Name,
		node.LabelAttempt:      strconv.Itoa(spec.Attempt),
		node.LabelSpecHash:     spec.SpecHash,
		LabelLogPath:           spec.LogPath,
		LabelImageID:           img.Target().Digest.String(),
		LabelStdin:             strconv.FormatBool(spec.Stdin),
		LabelStdinOnce:         strconv.FormatBool(spec.StdinOnce),
		LabelTTY:               strconv.FormatBool(spec.TTY),
	}
	specOpts := r.specOpts(spec, meta.specImage(), kubeArgs(imgConfig.Config.Entrypoint, imgConfig.Config.Cmd, spec.Command, spec.Args), id)

	// The rollback runs on a context that survives the caller's.
	cleanupCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	}

	t0 := time.Now()
	container, err := r.client.NewContainer(ctx, id,
		client.WithImage(img),
		client.WithSnapshotter(r.cfg.Snapshotter),
		client.WithNewSnapshot(id, img),
		client.WithRuntime(RuncRuntime, &options.Options{Root: runcRoot(r.cfg.StateDir)}),
		client.WithNewSpec(specOpts...),
		client.WithContainerLabels(labels),
	)
	if err != nil {
		// NewContainer may have prepared the snapshot before failing.
		cctx, cancel := cleanupCtx()
		defer cancel()
		if rerr := r.client.SnapshotService(r.cfg.Snapshotter).Remove(cctx, id); rerr != nil && !errdefs.IsNotFound(rerr) {
			r.log.Warn("remove snapshot of failed container", "id", id, "err", rerr)
		}
		return fail(fmt.Errorf("create container: %w", err))
	}
	defer func() {
		if retErr == nil {
			return
		}
		cctx, cancel := cleanupCtx()
		defer cancel()
		if err := r.RemoveContainer(cctx, id); err != nil {
			r.log.Warn("remove failed container", "id", id, "err", err)
		}
	}()
	tCreated := time.Now()

	ioc, err := r.containerIO(id, spec)
	if err != nil {
		return fail(err)
	}
	task, err := container.NewTask(ctx, ioc)
	if err != nil {
		return fail(fmt.Errorf("create task: %w", err))
	}
	tTask := time.Now()
	// Subscribe to the exit before starting, so an immediate exit is seen
	// by the shim's waiter; the agent waits through Wait(id).
	waitCtx, cancelWait := context.WithCancel(ctx)
	defer cancelWait()
	if _, err := task.Wait(waitCtx); err != nil {
		return fail(fmt.Errorf("wait task: %w", err))
	}
	if err := task.Start(ctx); err != nil {
		return fail(fmt.Errorf("start task: %w", err))
	}
	started := time.Now()
	if _, err := container.SetLabels(ctx, map[string]string{LabelStartedAt: started.UTC().Format(time.RFC3339Nano)}); err != nil {
		return fail(fmt.Errorf("label start time: %w", err))
	}
	r.log.Info("started container", "id", id, "pod", spec.PodNamespace+"/"+spec.PodName,
		"container", spec.Name, "pid", task.Pid(), "image", t0.Sub(tImage),
		"create", tCreated.Sub(t0), "task", tTask.Sub(tCreated), "start", started.Sub(tTask), "label", time.Since(started))
	return id, nil
}

// specOpts turns the container spec into OCI spec options, applied in order
// on containerd's default spec.
func (r *Runtime) specOpts(spec *node.ContainerSpec, img oci.Image, args []string, id string) []oci.SpecOpts {
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithProcessArgs(args...),
	}
	if spec.TTY {
		opts = append(opts, oci.WithTTY)
	}
	if len(spec.Env) > 0 {
		opts = append(opts, oci.WithEnv(spec.Env))
	}
	if spec.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(spec.WorkingDir))
	}
	if spec.Hostname != "" && !spec.HostNetwork {
		opts = append(opts, oci.WithHostname(spec.Hostname))
	}
	opts = append(opts, namespaceOpts(spec)...)
	if len(spec.Mounts) > 0 {
		mounts := make([]specs.Mount, 0, len(spec.Mounts))
		for _, m := range spec.Mounts {
			mode := "rw"
			if m.ReadOnly {
				mode = "ro"
			}
			mounts = append(mounts, specs.Mount{
				Type:        "bind",
				Source:      m.Source,
				Destination: m.Destination,
				Options:     append([]string{"rbind", mode}, m.Options...),
			})
		}
		opts = append(opts, oci.WithMounts(mounts))
	}
	res := spec.Resources
	if res.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(res.MemoryLimit)))
	}
	if res.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(max(res.CPUShares, 2)))
	}
	if res.CPUQuota > 0 {
		period := res.CPUPeriod
		if period == 0 {
			period = 100000
		}
		opts = append(opts, oci.WithCPUCFS(res.CPUQuota, period))
	}
	if res.PidsLimit > 0 {
		opts = append(opts, oci.WithPidsLimit(res.PidsLimit))
	}
	opts = append(opts, oci.WithCgroup(r.containerCgroup(spec.PodUID, id)))
	return append(opts, securityOpts(spec.Security, r.compatABIs)...)
}

// kubeArgs combines the image's entrypoint and cmd with a container's
// command and args the way Kubernetes does: command replaces the entrypoint
// and drops the image's cmd; args replace the cmd.
func kubeArgs(entrypoint, cmd, command, args []string) []string {
	if len(command) > 0 {
		return append(append([]string{}, command...), args...)
	}
	if len(args) > 0 {
		return append(append([]string{}, entrypoint...), args...)
	}
	return append(append([]string{}, entrypoint...), cmd...)
}

// podCgroup is the pod's parent cgroup path, e.g. /orch/pod<uid>.
func (r *Runtime) podCgroup(podUID string) string {
	return path.Join(r.cfg.CgroupRoot, "pod"+podUID)
}

// containerCgroup is the container's cgroup path.
func (r *Runtime) containerCgroup(podUID, id string) string {
	return path.Join(r.podCgroup(podUID), id)
}

// ContainerCgroup returns the cgroup path (relative to each hierarchy's
// root) of a container of the pod, as given to runc.
func (r *Runtime) ContainerCgroup(podUID, containerID string) string {
	return r.containerCgroup(podUID, containerID)
}

// Container ID limits: containerd accepts [A-Za-z0-9]+ joined by single
// '.', '_' or '-', at most 76 characters.
const (
	maxPodNamePart       = 30
	maxContainerNamePart = 20
)

// newContainerID returns a unique, readable ID:
// <podname>_<container>_<attempt>_<8 hex>.
func newContainerID(spec *node.ContainerSpec) (string, error) {
	var b [4]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("container id: %w", err)
	}
	return strings.Join([]string{
		sanitizeIDPart(spec.PodName, maxPodNamePart),
		sanitizeIDPart(spec.Name, maxContainerNamePart),
		strconv.Itoa(max(spec.Attempt, 0)),
		hex.EncodeToString(b[:]),
	}, "_"), nil
}

// sanitizeIDPart keeps letters and digits, maps everything else to single
// dashes, and trims to n characters without leading or trailing dashes.
func sanitizeIDPart(s string, n int) string {
	var sb strings.Builder
	dash := false
	for _, c := range s {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
			sb.WriteRune(c)
			dash = false
		case !dash && sb.Len() > 0:
			sb.WriteByte('-')
			dash = true
		}
	}
	out := sb.String()
	if len(out) > n {
		out = out[:n]
	}
	out = strings.Trim(out, "-")
	if out == "" {
		return "x"
	}
	return out
}
