package containerd

import (
	"context"
	"fmt"
	"io"
	"sync"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"orch.io/orch/node"
)

// ExecStream runs cmd in the running container with the container's
// process settings, connected to the streams of sio, as containerd's CRI
// ExecSync/Exec do: stdin's end closes the process's stdin, a TTY gets
// the sizes of sio.Resize, and the output is copied to the end before the
// exit code is returned. When ctx ends first the process is killed.
func (r *Runtime) ExecStream(ctx context.Context, id string, cmd []string, sio node.StreamIO) (int, error) {
	ctx = r.ns(ctx)
	fail := func(err error) (int, error) {
		return -1, fmt.Errorf("exec in container %s: %w", id, err)
	}
	task, pspec, err := r.execTarget(ctx, id, cmd)
	if err != nil {
		return fail(err)
	}
	pspec.Terminal = sio.TTY
	pspec.ConsoleSize = nil
	if sio.TTY {
		// The first size usually arrives with the session; take it when
		// it is already there so the shell starts with the right size.
		select {
		case sz, ok := <-sio.Resize:
			if ok {
				pspec.ConsoleSize = &specs.Box{Width: uint(sz.Width), Height: uint(sz.Height)}
			}
		default:
		}
	}
	execID, err := newExecID()
	if err != nil {
		return fail(err)
	}

	var stdin io.Reader
	stdinDone := make(chan struct{})
	if sio.Stdin != nil {
		stdin = &eofNotifier{r: sio.Stdin, done: stdinDone}
	}
	var stdout, stderr io.Writer = io.Discard, io.Discard
	if sio.Stdout != nil {
		stdout = sio.Stdout
	}
	if sio.Stderr != nil {
		stderr = sio.Stderr
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr), cio.WithFIFODir(fifoDir(r.cfg.StateDir))}
	if sio.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		return fail(fmt.Errorf("create exec process: %w", err))
	}
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
	var helpers sync.WaitGroup
	defer helpers.Wait()
	if sio.Stdin != nil {
		helpers.Go(func() {
			select {
			case <-stdinDone:
				if err := proc.CloseIO(waitCtx, client.WithStdinCloser); err != nil && !errdefs.IsNotFound(err) && waitCtx.Err() == nil {
					r.log.Debug("close exec stdin", "id", id, "exec", execID, "err", err)
				}
			case <-waitCtx.Done():
			}
		})
	}
	if sio.TTY && sio.Resize != nil {
		helpers.Go(func() {
			for {
				select {
				case sz, ok := <-sio.Resize:
					if !ok {
						return
					}
					if err := proc.Resize(waitCtx, uint32(sz.Width), uint32(sz.Height)); err != nil && waitCtx.Err() == nil {
						r.log.Debug("resize exec terminal", "id", id, "exec", execID, "err", err)
					}
				case <-waitCtx.Done():
					return
				}
			}
		})
	}

	select {
	case s := <-exitC:
		code, _, err := s.Result()
		cancelWait()
		if err != nil {
			return fail(fmt.Errorf("wait exec process: %w", err))
		}
		drainIO(proc.IO())
		return int(code), nil
	case <-ctx.Done():
		cancelWait()
		kctx, cancel := context.WithTimeout(bg, cleanupTimeout)
		defer cancel()
		if err := proc.Kill(kctx, syscall.SIGKILL); err != nil && !errdefs.IsNotFound(err) {
			r.log.Warn("kill exec process", "id", id, "exec", execID, "err", err)
		}
		if pio := proc.IO(); pio != nil {
			pio.Cancel()
		}
		return -1, fmt.Errorf("exec in container %s: %w", id, ctx.Err())
	}
}

// eofNotifier closes done when its reader ends (EOF or error), so the
// process's stdin can be closed: containerd's shim keeps the FIFO open
// until CloseIO.
type eofNotifier struct {
	r    io.Reader
	done chan struct{}
	once sync.Once
}

func (e *eofNotifier) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil {
		e.once.Do(func() { close(e.done) })
	}
	return n, err
}
