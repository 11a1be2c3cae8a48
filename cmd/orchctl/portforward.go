package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

func newPortForwardCmd(a *app) *cobra.Command {
	var addresses []string
	cmd := &cobra.Command{
		Use:   "port-forward POD [LOCAL_PORT:]REMOTE_PORT [...]",
		Short: "Forward local ports to a pod",
		Long: `Forward one or more local ports to ports of a pod, as kubectl port-forward
does. Each connection to a local port is carried through the master and the
agent of the pod's node, which connects to the port on the pod's loopback
inside the pod's network namespace (so a server listening on 127.0.0.1 in
the pod is reached too). It runs until Ctrl-C.

The session tunnels SPDY over WebSocket and falls back to SPDY when the
server refuses it. A LOCAL_PORT of 0 (":REMOTE_PORT") picks a free port.`,
		Example: `  # Local port 8080 to port 80 of pod web-1
  orchctl port-forward web-1 8080:80

  # A free local port to 5432, listening on every address
  orchctl port-forward pod/db-0 :5432 --address 0.0.0.0`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usagef(cmd, "name one pod and at least one port: port-forward POD [LOCAL_PORT:]REMOTE_PORT")
			}
			name, err := podArg(args[0])
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			for _, p := range args[1:] {
				if err := checkPortSpec(p); err != nil {
					return usagef(cmd, "%v", err)
				}
			}
			return a.runPortForward(cmd.Context(), name, args[1:], addresses)
		},
	}
	cmd.Flags().StringSliceVar(&addresses, "address", []string{"localhost"}, "local addresses to listen on, comma-separated")
	return cmd
}

// checkPortSpec accepts PORT, LOCAL:REMOTE and :REMOTE.
func checkPortSpec(spec string) error {
	local, remote, ok := strings.Cut(spec, ":")
	if !ok {
		remote, local = spec, spec
	}
	if local != "" {
		if n, err := strconv.ParseUint(local, 10, 16); err != nil || (ok && n == 0 && local != "0") {
			return fmt.Errorf("local port %q is not a port number", local)
		}
	}
	if n, err := strconv.ParseUint(remote, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("remote port %q must be a port number between 1 and 65535", remote)
	}
	return nil
}

func (a *app) runPortForward(ctx context.Context, pod string, ports, addresses []string) error {
	rc, err := a.restConfig()
	if err != nil {
		return err
	}
	u, err := streamURL(rc, a.namespace, pod, "portforward", url.Values{})
	if err != nil {
		return err
	}
	transport, upgrader, err := spdy.RoundTripperFor(rc)
	if err != nil {
		return fmt.Errorf("spdy transport: %w", err)
	}
	spdyDialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	wsDialer, err := portforward.NewSPDYOverWebsocketDialer(u, rc)
	if err != nil {
		return fmt.Errorf("websocket dialer: %w", err)
	}
	dialer := portforward.NewFallbackDialer(wsDialer, spdyDialer, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
	fw, err := portforward.NewOnAddressesWithContext(ctx, dialer, addresses, ports, nil, a.out, a.errOut)
	if err != nil {
		return fmt.Errorf("port-forward to pod %s: %w", pod, err)
	}
	if err := fw.ForwardPorts(); err != nil && ctx.Err() == nil {
		return fmt.Errorf("port-forward to pod %s: %w", pod, err)
	}
	return nil
}
