// Command orchctl controls an orch cluster through its HTTPS API: kubectl's
// command tree (k8s.io/kubectl) driven by orch's client config, with orch's
// own commands (cluster, gossip, snapshot, image, token, user) beside it.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], newIOStreams(os.Stdin, os.Stdout, os.Stderr), os.Getenv)
	stop()
	os.Exit(code)
}
