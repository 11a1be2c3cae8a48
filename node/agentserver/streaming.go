package agentserver

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	v1 "orch.io/orch/api/v1"
)

// The streaming endpoints are the kubelet's, served with the kubelet's own
// libraries (k8s.io/cri-streaming): SPDY/3.1 with v1..v4.channel.k8s.io
// and the pre-v5 WebSocket channel protocols for exec; portforward.k8s.io
// over SPDY or WebSocket for port forwarding. The masters translate
// v5.channel.k8s.io WebSockets to SPDY before they reach the agent.
//
//	GET|POST /exec/{namespace}/{name}/{container}?command=...&input=1&output=1&error=1&tty=1
//	GET|POST /attach/{namespace}/{name}/{container}?input=1&output=1&error=1&tty=1
//	GET|POST /portforward/{namespace}/{name}
const (
	// StreamIdleTimeout ends a stream session nothing crossed for this long
	// (the kubelet's --streaming-connection-idle-timeout default).
	StreamIdleTimeout = 4 * time.Hour
	// StreamCreationTimeout bounds how long a client takes to open its
	// streams after the upgrade.
	StreamCreationTimeout = remotecommand.DefaultStreamCreationTimeout
)

// ExecFunc runs cmd in a pod's running container with the given streams
// and returns the command's exit code.
type ExecFunc func(ctx context.Context, podUID, container string, cmd []string, stdin io.Reader,
	stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) (int, error)

// AttachFunc connects the streams to the main process of a pod's running
// container until it ends.
type AttachFunc func(ctx context.Context, podUID, container string, stdin io.Reader,
	stdout, stderr io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error

// attacher adapts AttachFunc to the kubelet library's Attacher.
type attacher struct {
	attach AttachFunc
}

func (a attacher) AttachContainer(ctx context.Context, _, uid, container string, in io.Reader,
	out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	return a.attach(ctx, uid, container, in, out, errw, tty, resize)
}

// PortForwardFunc copies between stream and a port of a pod until either
// ends; it closes stream.
type PortForwardFunc func(ctx context.Context, podUID string, port int32, stream io.ReadWriteCloser) error

// executor adapts ExecFunc to the kubelet library's Executor.
type executor struct {
	exec ExecFunc
}

func (e executor) ExecInContainer(ctx context.Context, _, uid, container string, cmd []string, in io.Reader,
	out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	code, err := e.exec(ctx, uid, container, cmd, in, out, errw, tty, resize)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

// portForwarder adapts PortForwardFunc to the kubelet library's PortForwarder.
type portForwarder struct {
	forward PortForwardFunc
}

func (p portForwarder) PortForward(ctx context.Context, _, uid string, port int32, stream io.ReadWriteCloser) error {
	return p.forward(ctx, uid, port, stream)
}

// upgradeDeadlines lifts the server's read and write deadlines of a
// connection about to be hijacked: a stream session lasts as long as it is
// used, bounded by StreamIdleTimeout instead.
func upgradeDeadlines(w http.ResponseWriter) {
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
}

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("name"), r.PathValue("container")
	if s.cfg.Exec == nil {
		writeError(w, v1.NewServiceUnavailable("this agent does not run commands in containers"))
		return
	}
	uid, ok := s.cfg.Lookup(ns, name)
	if !ok {
		writeError(w, v1.NewNotFound("pods", name))
		return
	}
	cmd := r.URL.Query()["command"]
	if len(cmd) == 0 {
		writeError(w, v1.NewBadRequest("command is required"))
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		writeError(w, v1.NewBadRequest(err.Error()))
		return
	}
	upgradeDeadlines(w)
	remotecommand.ServeExec(streamWriter(w, r), r, executor{s.cfg.Exec}, ns+"/"+name, uid, container, cmd, opts,
		StreamIdleTimeout, StreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	ns, name, container := r.PathValue("namespace"), r.PathValue("name"), r.PathValue("container")
	if s.cfg.Attach == nil {
		writeError(w, v1.NewServiceUnavailable("this agent does not attach to containers"))
		return
	}
	uid, ok := s.cfg.Lookup(ns, name)
	if !ok {
		writeError(w, v1.NewNotFound("pods", name))
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		writeError(w, v1.NewBadRequest(err.Error()))
		return
	}
	upgradeDeadlines(w)
	remotecommand.ServeAttach(streamWriter(w, r), r, attacher{s.cfg.Attach}, ns+"/"+name, uid, container, opts,
		StreamIdleTimeout, StreamCreationTimeout, remotecommand.SupportedStreamingProtocols)
}

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	ns, name := r.PathValue("namespace"), r.PathValue("name")
	if s.cfg.PortForward == nil {
		writeError(w, v1.NewServiceUnavailable("this agent does not forward ports"))
		return
	}
	uid, ok := s.cfg.Lookup(ns, name)
	if !ok {
		writeError(w, v1.NewNotFound("pods", name))
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		writeError(w, v1.NewBadRequest(err.Error()))
		return
	}
	upgradeDeadlines(w)
	portforward.ServePortForward(streamWriter(w, r), r, portForwarder{s.cfg.PortForward}, ns+"/"+name, uid, opts,
		StreamIdleTimeout, StreamCreationTimeout, portforward.SupportedProtocols)
}
