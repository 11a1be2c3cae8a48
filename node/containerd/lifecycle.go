package containerd

import (
	"context"
	"fmt"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"orch.io/orch/node"
)

// loadTask returns the container's task, or nil (and no error) when the
// container or its task does not exist.
func (r *Runtime) loadTask(ctx context.Context, id string) (client.Container, client.Task, error) {
	container, err := r.client.LoadContainer(ctx, id)
	if errdefs.IsNotFound(err) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load container: %w", err)
	}
	task, err := container.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		return container, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("load task: %w", err)
	}
	return container, task, nil
}

// Wait returns a channel that receives the container's exit once and is
// then closed. It works for containers started by another process: the shim
// keeps the exit status until the task is deleted, so a container that has
// already exited reports at once. ctx bounds the wait: when it ends first
// the channel receives an ExitStatus with Err set. It is an error if the
// container or its task does not exist.
func (r *Runtime) Wait(ctx context.Context, id string) (<-chan node.ExitStatus, error) {
	ctx = r.ns(ctx)
	_, task, err := r.loadTask(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("wait container %s: %w", id, err)
	}
	if task == nil {
		return nil, fmt.Errorf("wait container %s: no such container or task: %w", id, errdefs.ErrNotFound)
	}
	statusC, err := task.Wait(ctx)
	if err != nil {
		return nil, fmt.Errorf("wait container %s: %w", id, err)
	}
	out := make(chan node.ExitStatus, 1)
	go func() {
		defer close(out)
		s, ok := <-statusC
		if !ok {
			out <- node.ExitStatus{Err: fmt.Errorf("wait container %s: no exit status", id)}
			return
		}
		out <- toExitStatus(id, s)
	}()
	return out, nil
}

func toExitStatus(id string, s client.ExitStatus) node.ExitStatus {
	code, at, err := s.Result()
	if err != nil {
		return node.ExitStatus{Err: fmt.Errorf("wait container %s: %w", id, err)}
	}
	return node.ExitStatus{Code: int(code), FinishedAt: at}
}

// StopContainer sends SIGTERM, waits up to grace for the task to exit, then
// sends SIGKILL and waits for the exit (bounded by ctx). A zero grace kills
// at once. Stopping a stopped or missing container is a no-op.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.ns(ctx)
	_, task, err := r.loadTask(ctx, id)
	if err != nil {
		return fmt.Errorf("stop container %s: %w", id, err)
	}
	if task == nil {
		return nil
	}
	st, err := task.Status(ctx)
	if errdefs.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("stop container %s: status: %w", id, err)
	}
	if st.Status == client.Stopped {
		return nil
	}
	waitCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	exitC, err := task.Wait(waitCtx)
	if err != nil {
		return fmt.Errorf("stop container %s: wait: %w", id, err)
	}
	start := time.Now()
	if grace > 0 {
		if err := kill(ctx, task, syscall.SIGTERM); err != nil {
			return fmt.Errorf("stop container %s: SIGTERM: %w", id, err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case s := <-exitC:
			r.log.Debug("container stopped", "id", id, "signal", "SIGTERM", "code", s.ExitCode(), "took", time.Since(start))
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return fmt.Errorf("stop container %s: %w", id, ctx.Err())
		}
	}
	if err := kill(ctx, task, syscall.SIGKILL); err != nil {
		return fmt.Errorf("stop container %s: SIGKILL: %w", id, err)
	}
	select {
	case s := <-exitC:
		r.log.Debug("container stopped", "id", id, "signal", "SIGKILL", "code", s.ExitCode(), "took", time.Since(start))
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop container %s: wait after SIGKILL: %w", id, ctx.Err())
	}
}

// kill signals the task's init process; a process that is already gone is
// not an error.
func kill(ctx context.Context, task client.Task, sig syscall.Signal) error {
	err := task.Kill(ctx, sig)
	if err != nil && !errdefs.IsNotFound(err) {
		return err
	}
	return nil
}

// RemoveContainer deletes the container's task (killing it if it still
// runs), the container and its snapshot. Removing a missing container is a
// no-op.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.ns(ctx)
	container, task, err := r.loadTask(ctx, id)
	if err != nil {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	if container == nil {
		r.releaseStdin(id)
		return nil
	}
	if task != nil {
		if _, err := task.Delete(ctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove container %s: delete task: %w", id, err)
		}
	}
	if err := container.Delete(ctx, client.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove container %s: %w", id, err)
	}
	r.releaseStdin(id)
	r.log.Debug("removed container", "id", id)
	return nil
}
