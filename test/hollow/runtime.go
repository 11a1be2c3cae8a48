package hollow

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"orch.io/orch/node"
	"orch.io/orch/node/credentialprovider"
	"orch.io/orch/node/crilog"
)

// Exit code of a hollow container stopped by the agent: 128+SIGTERM, as a
// process that ends on the signal.
const stoppedExitCode = 143

// errNoProcess is the answer to what needs a container's process.
var errNoProcess = errors.New("a hollow node runs no container processes")

// Runtime is a node.Runtime that runs nothing: a container "starts" at
// once, runs until it is stopped, and then exits with 143. Every image is
// present. Exec (the agent's exec probes) succeeds with no output, as
// kubemark's fake runtime; streaming exec and attach get a clear error. It
// is safe for concurrent use.
type Runtime struct {
	now func() time.Time

	mu         sync.Mutex
	next       uint64
	containers map[string]*container
}

type container struct {
	c       node.Container
	waiters []chan node.ExitStatus
}

var _ node.Runtime = (*Runtime)(nil)

// NewRuntime returns an empty runtime; now is its clock (nil: time.Now).
func NewRuntime(now func() time.Time) *Runtime {
	if now == nil {
		now = time.Now
	}
	return &Runtime{now: now, containers: map[string]*container{}}
}

// EnsureImage reports every image present: its digest is derived from its
// name, and nothing is pulled (so no credential is used).
func (r *Runtime) EnsureImage(_ context.Context, image, _ string, _ []credentialprovider.AuthConfig) (node.ImageInfo, error) {
	if image == "" {
		return node.ImageInfo{}, errors.New("ensure image: no image named")
	}
	sum := sha256.Sum256([]byte(image))
	return node.ImageInfo{Name: image, Digest: "sha256:" + hex.EncodeToString(sum[:])}, nil
}

// ImportImages refuses: a hollow node keeps no images.
func (r *Runtime) ImportImages(context.Context, io.Reader) ([]string, error) {
	return nil, errors.New("import images: a hollow node keeps no images")
}

// StartContainer records a running container with the agent's labels and
// writes one line to its log (the agent made the file).
func (r *Runtime) StartContainer(ctx context.Context, spec *node.ContainerSpec) (string, error) {
	if spec.PodUID == "" || spec.Name == "" || spec.LogPath == "" {
		return "", fmt.Errorf("start container %q: PodUID, Name and LogPath are required", spec.Name)
	}
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("start container %s: %w", spec.Name, err)
	}
	img, err := r.EnsureImage(ctx, spec.Image, "", nil)
	if err != nil {
		return "", fmt.Errorf("start container %s: %w", spec.Name, err)
	}
	f, err := os.OpenFile(spec.LogPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return "", fmt.Errorf("start container %s: log: %w", spec.Name, err)
	}
	now := r.now()
	werr := crilog.NewWriter(f, r.now).WriteRecord(crilog.Stdout, crilog.TagFull,
		[]byte("hollow container "+spec.Name+" of "+spec.PodNamespace+"/"+spec.PodName+" started"))
	if err := errors.Join(werr, f.Close()); err != nil {
		return "", fmt.Errorf("start container %s: log: %w", spec.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.next++
	sum := sha256.Sum256([]byte(spec.PodUID + "/" + spec.Name + "/" + strconv.FormatUint(r.next, 10)))
	id := hex.EncodeToString(sum[:])
	r.containers[id] = &container{c: node.Container{
		ID: id, Image: img.Name, ImageID: img.Digest, State: node.StateRunning,
		CreatedAt: now, StartedAt: now, LogPath: spec.LogPath,
		Labels: map[string]string{
			node.LabelPodUID: spec.PodUID, node.LabelPodNamespace: spec.PodNamespace, node.LabelPodName: spec.PodName,
			node.LabelContainer: spec.Name, node.LabelAttempt: strconv.Itoa(spec.Attempt), node.LabelSpecHash: spec.SpecHash,
		},
	}}
	return id, nil
}

// Wait returns a channel that gets the container's exit once: at once for
// an exited container, else when it is stopped.
func (r *Runtime) Wait(_ context.Context, id string) (<-chan node.ExitStatus, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil, fmt.Errorf("wait for container %s: not found", id)
	}
	ch := make(chan node.ExitStatus, 1)
	if c.c.State == node.StateExited {
		ch <- node.ExitStatus{Code: c.c.ExitCode, FinishedAt: c.c.FinishedAt}
		return ch, nil
	}
	c.waiters = append(c.waiters, ch)
	return ch, nil
}

// StopContainer ends a running container at once with exit code 143; a
// stopped or missing one is left as it is.
func (r *Runtime) StopContainer(_ context.Context, id string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok || c.c.State == node.StateExited {
		return nil
	}
	c.c.State, c.c.ExitCode, c.c.FinishedAt = node.StateExited, stoppedExitCode, r.now()
	for _, w := range c.waiters {
		w <- node.ExitStatus{Code: c.c.ExitCode, FinishedAt: c.c.FinishedAt}
	}
	c.waiters = nil
	return nil
}

// RemoveContainer forgets a stopped container; a missing one is no error,
// a running one is.
func (r *Runtime) RemoveContainer(_ context.Context, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	if !ok {
		return nil
	}
	if c.c.State == node.StateRunning {
		return fmt.Errorf("remove container %s: it is running; stop it first", id)
	}
	delete(r.containers, id)
	return nil
}

// ListContainers returns every container, ordered by ID.
func (r *Runtime) ListContainers(context.Context) ([]node.Container, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]node.Container, 0, len(r.containers))
	for _, c := range r.containers {
		cc := c.c
		cc.Labels = make(map[string]string, len(c.c.Labels))
		for k, v := range c.c.Labels {
			cc.Labels[k] = v
		}
		out = append(out, cc)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Running counts the running containers.
func (r *Runtime) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, c := range r.containers {
		if c.c.State == node.StateRunning {
			n++
		}
	}
	return n
}

// Exec answers exit code 0 with no output for a running container (exec
// probes pass), an error for any other.
func (r *Runtime) Exec(_ context.Context, id string, cmd []string) (int, []byte, error) {
	if err := r.running(id); err != nil {
		return 0, nil, fmt.Errorf("exec %q: %w", cmd, err)
	}
	return 0, nil, nil
}

// ExecStream refuses: there is no process to connect to.
func (r *Runtime) ExecStream(_ context.Context, id string, cmd []string, _ node.StreamIO) (int, error) {
	if err := r.running(id); err != nil {
		return 0, fmt.Errorf("exec %q: %w", cmd, err)
	}
	return 0, fmt.Errorf("exec %q in container %s: %w", cmd, id, errNoProcess)
}

// Attach refuses: there is no process to attach to.
func (r *Runtime) Attach(_ context.Context, id string, _ node.StreamIO) error {
	if err := r.running(id); err != nil {
		return fmt.Errorf("attach: %w", err)
	}
	return fmt.Errorf("attach to container %s: %w", id, errNoProcess)
}

// RemovePod has nothing to remove.
func (r *Runtime) RemovePod(context.Context, string) error { return nil }

func (r *Runtime) running(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.containers[id]
	switch {
	case !ok:
		return fmt.Errorf("container %s: not found", id)
	case c.c.State != node.StateRunning:
		return fmt.Errorf("container %s is not running", id)
	}
	return nil
}
