package containerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/fifo"

	"orch.io/orch/node"
	"orch.io/orch/node/crilog"
)

// Labels recording a container's stdio settings, for Attach.
const (
	LabelStdin     = "orch.container.stdin"
	LabelStdinOnce = "orch.container.stdinOnce"
	LabelTTY       = "orch.container.tty"
)

// stdinFIFO is where a container's stdin FIFO lives: attach writes to it,
// the shim reads it into the process.
func (r *Runtime) stdinFIFO(id string) string {
	return filepath.Join(fifoDir(r.cfg.StateDir), id+".stdin")
}

// logIO is the IO of a container's main process: everything is in its
// config, which the shim acts on; the agent holds nothing open.
type logIO struct{ cfg cio.Config }

func (l *logIO) Config() cio.Config { return l.cfg }
func (l *logIO) Cancel()            {}
func (l *logIO) Wait()              {}
func (l *logIO) Close() error       { return nil }

// containerIO returns the creator of a container's IO. The output goes to
// the logging binary (CRI log format, see node/crilog) when one is
// configured, else raw to the log file. A container with stdin gets a
// FIFO; containerd's shim copies a FIFO into the process only with a
// terminal or with file output, so stdin without a terminal logs raw.
func (r *Runtime) containerIO(id string, spec *node.ContainerSpec) (cio.Creator, error) {
	out := ""
	switch {
	case r.cfg.LogBinary != "" && (!spec.Stdin || spec.TTY):
		u, err := cio.LogURIGenerator("binary", r.cfg.LogBinary, map[string]string{crilog.LoggerArg: spec.LogPath})
		if err != nil {
			return nil, err
		}
		out = u.String()
	default:
		u, err := cio.LogURIGenerator("file", spec.LogPath, nil)
		if err != nil {
			return nil, err
		}
		out = u.String()
	}
	cfg := cio.Config{Stdout: out, Stderr: out, Terminal: spec.TTY}
	if spec.Stdin {
		path := r.stdinFIFO(id)
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("fifo directory: %w", err)
		}
		if err := syscall.Mkfifo(path, 0o600); err != nil && !errors.Is(err, os.ErrExist) {
			return nil, fmt.Errorf("stdin fifo: %w", err)
		}
		cfg.Stdin = path
	}
	return func(string) (cio.IO, error) { return &logIO{cfg: cfg}, nil }, nil
}

// releaseStdin removes the stdin FIFO of a container.
func (r *Runtime) releaseStdin(id string) {
	if err := os.Remove(r.stdinFIFO(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		r.log.Warn("remove stdin fifo", "id", id, "err", err)
	}
}

// Attach connects to the main process of a running container, as the
// kubelet's attach does: stdin goes to the container's stdin (which must
// have been created with Stdin; a StdinOnce stdin is closed when this
// session's stdin ends), output is what the container writes from now on,
// read back from its log, and a TTY follows sio.Resize. It returns when
// the container ends or ctx does.
func (r *Runtime) Attach(ctx context.Context, id string, sio node.StreamIO) error {
	ctx = r.ns(ctx)
	container, task, err := r.loadTask(ctx, id)
	if err != nil {
		return fmt.Errorf("attach to container %s: %w", id, err)
	}
	if task == nil {
		return fmt.Errorf("attach to container %s: no running task", id)
	}
	labels, err := container.Labels(ctx)
	if err != nil {
		return fmt.Errorf("attach to container %s: labels: %w", id, err)
	}
	if sio.Stdin != nil && labels[LabelStdin] != "true" {
		return fmt.Errorf("attach to container %s: stdin is not open: the container was not created with stdin: true", id)
	}
	if sio.TTY != (labels[LabelTTY] == "true") {
		return fmt.Errorf("attach to container %s: tty=%v does not match the container's tty=%v", id, sio.TTY, labels[LabelTTY] == "true")
	}
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	exitC, err := task.Wait(actx)
	if err != nil {
		return fmt.Errorf("attach to container %s: wait: %w", id, err)
	}
	// The log's end is marked before stdin is connected, so the answer to
	// this session's input is never before the point output starts from.
	var tail *crilog.Tail
	if sio.Stdout != nil || sio.Stderr != nil {
		if tail, err = crilog.OpenTail(labels[LabelLogPath]); err != nil {
			return fmt.Errorf("attach to container %s: %w", id, err)
		}
	}
	done := make(chan struct{})
	defer func() { <-done }()
	go func() {
		defer close(done)
		if tail == nil {
			<-actx.Done()
			return
		}
		if err := tail.Follow(actx, sio.Stdout, sio.Stderr); err != nil {
			r.log.Debug("attach output", "id", id, "err", err)
		}
	}()
	if sio.Stdin != nil {
		go func() {
			w, err := fifo.OpenFifo(actx, r.stdinFIFO(id), syscall.O_WRONLY, 0)
			if err != nil {
				return
			}
			io.Copy(w, sio.Stdin)
			w.Close()
			// The shim holds the FIFO open too, so the process's stdin
			// stays open between attaches, as Kubernetes keeps it; with
			// stdinOnce it is closed when this session's stdin ends.
			if labels[LabelStdinOnce] == "true" {
				if err := task.CloseIO(actx, client.WithStdinCloser); err != nil && actx.Err() == nil {
					r.log.Debug("close stdin", "id", id, "err", err)
				}
			}
		}()
	}
	if sio.TTY && sio.Resize != nil {
		go func() {
			for {
				select {
				case sz, ok := <-sio.Resize:
					if !ok {
						return
					}
					_ = task.Resize(actx, uint32(sz.Width), uint32(sz.Height))
				case <-actx.Done():
					return
				}
			}
		}()
	}
	select {
	case <-exitC:
	case <-ctx.Done():
	}
	cancel()
	return nil
}
