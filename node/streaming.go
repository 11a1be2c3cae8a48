package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/vishvananda/netns"
)

// Errors of the streaming calls, which the agent server maps to HTTP codes.
var (
	// ErrPodNotFound: no pod with that UID runs on this node.
	ErrPodNotFound = errors.New("pod not found on this node")
	// ErrContainerNotFound: the pod has no such container.
	ErrContainerNotFound = errors.New("container not found")
	// ErrContainerNotRunning: the container exists but does not run.
	ErrContainerNotRunning = errors.New("container not running")
)

// portForwardDialTimeout bounds connecting to a pod's port.
const portForwardDialTimeout = 10 * time.Second

// runningContainer returns the runtime ID of a pod's running container.
func (a *Agent) runningContainer(uid, container string) (string, error) {
	a.mu.Lock()
	w := a.workers[uid]
	a.mu.Unlock()
	if w == nil {
		return "", ErrPodNotFound
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.containers[container]
	switch {
	case c == nil || c.id == "":
		return "", fmt.Errorf("%w: %s", ErrContainerNotFound, container)
	case !c.running:
		return "", fmt.Errorf("%w: %s", ErrContainerNotRunning, container)
	}
	return c.id, nil
}

// ExecInContainer runs cmd in a pod's running container with the streams
// of sio (kubectl exec) and returns the command's exit code.
func (a *Agent) ExecInContainer(ctx context.Context, uid, container string, cmd []string, sio StreamIO) (int, error) {
	id, err := a.runningContainer(uid, container)
	if err != nil {
		return -1, err
	}
	return a.cfg.Runtime.ExecStream(ctx, id, cmd, sio)
}

// ExecStreams is ExecInContainer with the streams as separate arguments,
// the shape of the agent server's ExecFunc.
func (a *Agent) ExecStreams(ctx context.Context, uid, container string, cmd []string, stdin io.Reader,
	stdout, stderr io.WriteCloser, tty bool, resize <-chan TerminalSize) (int, error) {
	return a.ExecInContainer(ctx, uid, container, cmd, StreamIO{Stdin: stdin, Stdout: stdout, Stderr: stderr, TTY: tty, Resize: resize})
}

// PortForward connects stream to port on the pod's loopback, dialled
// inside the pod's network namespace as the kubelet's runtimes do, and
// copies both ways until either side ends. The stream is closed on return.
func (a *Agent) PortForward(ctx context.Context, uid string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	a.mu.Lock()
	w := a.workers[uid]
	a.mu.Unlock()
	if w == nil {
		return ErrPodNotFound
	}
	w.mu.Lock()
	nsPath, hostNet := w.netNS, w.hostNet
	w.mu.Unlock()
	if nsPath == "" && !hostNet {
		return fmt.Errorf("pod %s has no network sandbox yet", uid)
	}
	if hostNet {
		nsPath = ""
	}
	conn, err := DialInNetNS(ctx, nsPath, net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		return fmt.Errorf("port forward to port %d of pod %s: %w", port, uid, err)
	}
	defer conn.Close()
	return Splice(ctx, conn, stream)
}

// DialInNetNS opens a TCP connection to addr from the network namespace
// bind-mounted at nsPath ("" dials from the current one). The socket keeps
// belonging to that namespace after the dialling thread returns to its own.
func DialInNetNS(ctx context.Context, nsPath, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: portForwardDialTimeout}
	if nsPath == "" {
		return d.DialContext(ctx, "tcp", addr)
	}
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return nil, fmt.Errorf("open network namespace %s: %w", nsPath, err)
	}
	defer target.Close()
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	// A fresh, locked thread enters the namespace; the socket is created
	// there. If the thread cannot return to its namespace it is not
	// unlocked, so the Go runtime ends it instead of reusing it.
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("current network namespace: %w", err)}
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			runtime.UnlockOSThread()
			done <- result{err: fmt.Errorf("enter network namespace %s: %w", nsPath, err)}
			return
		}
		c, err := d.DialContext(ctx, "tcp", addr)
		if netns.Set(orig) == nil {
			runtime.UnlockOSThread()
		}
		done <- result{c, err}
	}()
	r := <-done
	return r.c, r.err
}

// spliceBuffer is the size of the reads from the pod's side of a
// port-forward: each becomes one SPDY data frame of 8 + spliceBuffer
// bytes, so with it at 128 KiB - 8 a frame the agent server writes whole
// (agentserver's frameConn) fills eight TLS records of 16 KiB to the
// byte; io.Copy's 32 KiB made four times the frames, each ending in a
// short record.
const spliceBuffer = 128<<10 - 8

// Splice copies between a and b both ways until one side ends or ctx
// does; a half-close is passed on when the connection supports it.
func Splice(ctx context.Context, a net.Conn, b io.ReadWriteCloser) error {
	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		_, err := io.Copy(a, b)
		if tc, ok := a.(interface{ CloseWrite() error }); ok {
			tc.CloseWrite()
		}
		errc <- err
	}()
	go func() {
		defer wg.Done()
		// The reader is hidden behind io.Reader so its WriteTo (a 32 KiB
		// copy) does not replace the larger buffer.
		_, err := io.CopyBuffer(b, struct{ io.Reader }{a}, make([]byte, spliceBuffer))
		// The stream has no half-close: the forward ends with the pod side.
		b.Close()
		errc <- err
	}()
	stop := context.AfterFunc(ctx, func() { a.Close(); b.Close() })
	defer stop()
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil && !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
			return err
		}
	}
	return nil
}

// AttachStreams connects to the main process of a pod's running container
// (kubectl attach) until it ends or ctx does.
func (a *Agent) AttachStreams(ctx context.Context, uid, container string, stdin io.Reader,
	stdout, stderr io.WriteCloser, tty bool, resize <-chan TerminalSize) error {
	id, err := a.runningContainer(uid, container)
	if err != nil {
		return err
	}
	return a.cfg.Runtime.Attach(ctx, id, StreamIO{Stdin: stdin, Stdout: stdout, Stderr: stderr, TTY: tty, Resize: resize})
}
