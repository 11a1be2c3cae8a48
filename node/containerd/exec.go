package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// MaxExecOutput is how much of an exec's combined output Exec returns.
const MaxExecOutput = 10 << 10

// execDrainTimeout bounds how long Exec waits for the output pipes to close
// after the process exited (a background child may hold them open).
const execDrainTimeout = 2 * time.Second

// Exec runs cmd in the running container with the container's process
// settings (env, cwd, user, capabilities) and returns its exit code and its
// combined stdout and stderr, of which the first MaxExecOutput bytes are
// kept. When ctx ends first the process is killed and ctx's error returned.
func (r *Runtime) Exec(ctx context.Context, id string, cmd []string) (int, []byte, error) {
	ctx = r.ns(ctx)
	fail := func(err error) (int, []byte, error) {
		return -1, nil, fmt.Errorf("exec in container %s: %w", id, err)
	}
	task, pspec, err := r.execTarget(ctx, id, cmd)
	if err != nil {
		return fail(err)
	}
	pspec.Terminal = false
	pspec.ConsoleSize = nil

	execID, err := newExecID()
	if err != nil {
		return fail(err)
	}
	out := &cappedBuffer{max: MaxExecOutput}
	ioc := cio.NewCreator(cio.WithStreams(nil, out, out), cio.WithFIFODir(fifoDir(r.cfg.StateDir)))
	proc, err := task.Exec(ctx, execID, &pspec, ioc)
	if err != nil {
		return fail(fmt.Errorf("create exec process: %w", err))
	}
	// Cleanup must happen even when ctx is done.
	bg := context.WithoutCancel(ctx)
	defer func() {
		dctx, cancel := context.WithTimeout(bg, cleanupTimeout)
		defer cancel()
		if _, err := proc.Delete(dctx, client.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("delete exec process", "id", id, "exec", execID, "err", err)
		}
	}()
	waitCtx, cancelWait := context.WithCancel(bg)
	defer cancelWait()
	exitC, err := proc.Wait(waitCtx)
	if err != nil {
		return fail(fmt.Errorf("wait exec process: %w", err))
	}
	if err := proc.Start(ctx); err != nil {
		return fail(fmt.Errorf("start exec process: %w", err))
	}

	select {
	case s := <-exitC:
		code, _, err := s.Result()
		if err != nil {
			return fail(fmt.Errorf("wait exec process: %w", err))
		}
		drainIO(proc.IO())
		return int(code), out.Bytes(), nil
	case <-ctx.Done():
		kctx, cancel := context.WithTimeout(bg, cleanupTimeout)
		defer cancel()
		if err := proc.Kill(kctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("kill exec process", "id", id, "exec", execID, "err", err)
		}
		select {
		case <-exitC:
		case <-kctx.Done():
		}
		return -1, out.Bytes(), fmt.Errorf("exec in container %s: %w", id, ctx.Err())
	}
}

// drainIO waits a little for the output copiers to reach EOF.
func drainIO(io cio.IO) {
	if io == nil {
		return
	}
	done := make(chan struct{})
	go func() {
		io.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(execDrainTimeout):
		io.Cancel()
	}
}

func newExecID() (string, error) {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("exec id: %w", err)
	}
	return "exec-" + hex.EncodeToString(b[:]), nil
}

// cappedBuffer keeps the first max bytes written to it and discards the
// rest; stdout and stderr are copied into it concurrently.
type cappedBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (b *cappedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// Bytes returns a copy of what was kept.
func (b *cappedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf...)
}

// execTarget loads the running task of container id and the process an
// exec of cmd runs as: the container's own process (user, environment,
// capabilities, working directory) with cmd as its arguments.
func (r *Runtime) execTarget(ctx context.Context, id string, cmd []string) (client.Task, specs.Process, error) {
	if len(cmd) == 0 {
		return nil, specs.Process{}, errors.New("empty command")
	}
	container, task, err := r.loadTask(ctx, id)
	if err != nil {
		return nil, specs.Process{}, err
	}
	if task == nil {
		return nil, specs.Process{}, fmt.Errorf("no such container or task: %w", errdefs.ErrNotFound)
	}
	spec, err := container.Spec(ctx)
	if err != nil {
		return nil, specs.Process{}, fmt.Errorf("container spec: %w", err)
	}
	if spec.Process == nil {
		return nil, specs.Process{}, errors.New("container spec has no process")
	}
	pspec := *spec.Process
	pspec.Args = cmd
	return task, pspec, nil
}
