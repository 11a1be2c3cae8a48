package containerd

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"orch.io/orch/node"
)

// ListContainers returns every container in the runtime's containerd
// namespace with its labels and state: no task is created, a stopped task is
// exited (with its exit code and time), a running or paused task is running
// (with its PID). Containers that disappear while listing are skipped.
func (r *Runtime) ListContainers(ctx context.Context) ([]node.Container, error) {
	ctx = r.ns(ctx)
	cs, err := r.client.Containers(ctx)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]node.Container, 0, len(cs))
	for _, c := range cs {
		nc, err := r.describe(ctx, c)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list containers: %w", err)
		}
		out = append(out, nc)
	}
	return out, nil
}

// describe reports one container.
func (r *Runtime) describe(ctx context.Context, c client.Container) (node.Container, error) {
	info, err := c.Info(ctx, client.WithoutRefreshedMetadata)
	if err != nil {
		return node.Container{}, fmt.Errorf("container %s: %w", c.ID(), err)
	}
	nc := node.Container{
		ID:        info.ID,
		Labels:    info.Labels,
		Image:     info.Image,
		ImageID:   info.Labels[LabelImageID],
		State:     node.StateCreated,
		CreatedAt: info.CreatedAt,
		LogPath:   info.Labels[LabelLogPath],
	}
	if s := info.Labels[LabelStartedAt]; s != "" {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			nc.StartedAt = t
		}
	}
	task, err := c.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return nc, nil
	}
	if err != nil {
		return node.Container{}, fmt.Errorf("container %s: task: %w", c.ID(), err)
	}
	st, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return nc, nil
	}
	if err != nil {
		return node.Container{}, fmt.Errorf("container %s: task status: %w", c.ID(), err)
	}
	switch st.Status {
	case client.Running, client.Paused, client.Pausing:
		nc.State = node.StateRunning
		nc.PID = int(task.Pid())
	case client.Created:
		nc.State = node.StateCreated
	case client.Stopped:
		nc.State = node.StateExited
		nc.ExitCode = int(st.ExitStatus)
		nc.FinishedAt = st.ExitTime
	default:
		nc.State = node.StateUnknown
	}
	return nc, nil
}
