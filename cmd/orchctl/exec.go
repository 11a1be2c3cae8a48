package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// execOptions are the flags of exec.
type execOptions struct {
	container string
	stdin     bool
	tty       bool
}

// exitCodeError ends orchctl with the exit code of a remote command.
type exitCodeError struct{ code int }

func (e exitCodeError) Error() string {
	return fmt.Sprintf("command terminated with exit code %d", e.code)
}

func newExecCmd(a *app) *cobra.Command {
	o := &execOptions{}
	cmd := &cobra.Command{
		Use:   "exec POD [-c CONTAINER] [-i] [-t] -- COMMAND [ARG...]",
		Short: "Run a command in a container of a pod",
		Long: `Run a command in a running container of a pod, as kubectl exec does. The
master relays the session to the agent of the pod's node, which runs the
command with the container's user, environment and namespaces. orchctl exits
with the command's exit code.

The session speaks WebSocket (v5.channel.k8s.io) and falls back to SPDY when
the server refuses it. -i connects stdin; -t gives the command a terminal
(the local terminal is put in raw mode and its size follows the window).`,
		Example: `  # Run date in the only container of pod web-1
  orchctl exec web-1 -- date

  # An interactive shell in container app
  orchctl exec -it web-1 -c app -- sh`,
		RunE: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			if dash != 1 || len(args) < 2 {
				return usagef(cmd, "name one pod and a command after --: exec POD -- COMMAND [ARG...]")
			}
			name, err := podArg(args[0])
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			return a.runExec(cmd.Context(), name, args[1:], o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "the container to run the command in (needed when the pod has several)")
	f.BoolVarP(&o.stdin, "stdin", "i", false, "pass stdin to the command")
	f.BoolVarP(&o.tty, "tty", "t", false, "give the command a terminal")
	return cmd
}

// restConfig turns orchctl's client config into client-go's, for the
// streaming protocols client-go implements. It uses the first server.
func (a *app) restConfig() (*rest.Config, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	if len(cfg.Servers) == 0 {
		return nil, fmt.Errorf("client config (%s) names no server", a.configSource)
	}
	rc := &rest.Config{Host: cfg.Servers[0], BearerToken: cfg.Token}
	rc.TLSClientConfig = rest.TLSClientConfig{CAFile: cfg.CertificateAuthority, CAData: cfg.CertificateAuthorityData,
		CertFile: cfg.ClientCertificate, KeyFile: cfg.ClientKey, CertData: cfg.ClientCertificateData, KeyData: cfg.ClientKeyData}
	return rc, nil
}

// streamURL is the URL of a pod's streaming subresource.
func streamURL(rc *rest.Config, namespace, pod, sub string, q url.Values) (*url.URL, error) {
	u, err := url.Parse(rc.Host)
	if err != nil {
		return nil, fmt.Errorf("server %q: %w", rc.Host, err)
	}
	u.Path = "/api/v1/namespaces/" + url.PathEscape(namespace) + "/pods/" + url.PathEscape(pod) + "/" + sub
	u.RawQuery = q.Encode()
	return u, nil
}

// newStreamExecutor tries WebSocket first and SPDY when the server cannot
// upgrade to it, as kubectl does.
func newStreamExecutor(rc *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	ws, err := remotecommand.NewWebSocketExecutor(rc, http.MethodGet, u.String())
	if err != nil {
		return nil, fmt.Errorf("websocket executor: %w", err)
	}
	spdy, err := remotecommand.NewSPDYExecutor(rc, http.MethodPost, u)
	if err != nil {
		return nil, fmt.Errorf("spdy executor: %w", err)
	}
	// Only a refused upgrade falls back: a failed command must not run twice.
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

func newAttachCmd(a *app) *cobra.Command {
	o := &execOptions{}
	cmd := &cobra.Command{
		Use:   "attach POD [-c CONTAINER] [-i] [-t]",
		Short: "Attach to the main process of a running container",
		Long: `Attach to the main process of a running container, as kubectl attach does:
its output from now on is printed, and with -i stdin is passed to it (the
container must have stdin: true; with stdinOnce: true its stdin closes when
ours ends). -t needs a container with tty: true.`,
		Example: `  # Type into a shell started with stdin: true and tty: true
  orchctl attach -it shell`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef(cmd, "name one pod: attach POD [-c CONTAINER] [-i] [-t]")
			}
			name, err := podArg(args[0])
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			return a.runStream(cmd.Context(), "attach", name, nil, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "the container to attach to (needed when the pod has several)")
	f.BoolVarP(&o.stdin, "stdin", "i", false, "pass stdin to the container")
	f.BoolVarP(&o.tty, "tty", "t", false, "the container has a terminal")
	return cmd
}

func (a *app) runExec(ctx context.Context, pod string, command []string, o *execOptions) error {
	return a.runStream(ctx, "exec", pod, command, o)
}

// runStream runs an exec or attach session of a pod (sub "exec" or "attach").
func (a *app) runStream(ctx context.Context, sub, pod string, command []string, o *execOptions) error {
	rc, err := a.restConfig()
	if err != nil {
		return err
	}
	q := url.Values{"stdout": {"true"}}
	if len(command) > 0 {
		q["command"] = command
	}
	if o.container != "" {
		q.Set("container", o.container)
	}
	if o.stdin {
		q.Set("stdin", "true")
	}
	if o.tty {
		q.Set("tty", "true")
	} else {
		q.Set("stderr", "true")
	}
	u, err := streamURL(rc, a.namespace, pod, sub, q)
	if err != nil {
		return err
	}
	ex, err := newStreamExecutor(rc, u)
	if err != nil {
		return err
	}
	opts := remotecommand.StreamOptions{Stdout: a.out, Tty: o.tty}
	if !o.tty {
		opts.Stderr = a.errOut
	}
	if o.stdin {
		opts.Stdin = a.in
	}
	if o.tty {
		if f, ok := a.in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			state, err := term.MakeRaw(int(f.Fd()))
			if err != nil {
				return fmt.Errorf("put the terminal in raw mode: %w", err)
			}
			defer term.Restore(int(f.Fd()), state)
			sctx, cancel := context.WithCancel(ctx)
			defer cancel()
			q := newWindowSizes(sctx, int(f.Fd()))
			opts.TerminalSizeQueue = q
		}
	}
	err = ex.StreamWithContext(ctx, opts)
	var ce utilexec.CodeExitError
	if errors.As(err, &ce) {
		return exitCodeError{code: ce.Code}
	}
	if err != nil {
		return fmt.Errorf("%s in pod %s: %w", sub, pod, err)
	}
	return nil
}

// windowSizes is the local terminal's size, then each change (SIGWINCH).
type windowSizes struct {
	ch chan remotecommand.TerminalSize
}

func newWindowSizes(ctx context.Context, fd int) *windowSizes {
	w := &windowSizes{ch: make(chan remotecommand.TerminalSize, 1)}
	send := func() {
		cols, rows, err := term.GetSize(fd)
		if err != nil {
			return
		}
		select {
		case w.ch <- remotecommand.TerminalSize{Width: uint16(cols), Height: uint16(rows)}:
		default:
		}
	}
	send()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGWINCH)
	go func() {
		defer signal.Stop(sig)
		for {
			select {
			case <-ctx.Done():
				close(w.ch)
				return
			case <-sig:
				send()
			}
		}
	}()
	return w
}

// Next returns the next size, nil once the session ends.
func (w *windowSizes) Next() *remotecommand.TerminalSize {
	s, ok := <-w.ch
	if !ok {
		return nil
	}
	return &s
}
