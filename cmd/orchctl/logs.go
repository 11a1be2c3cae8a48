package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
)

// logsOptions are the flags of logs.
type logsOptions struct {
	container  string
	follow     bool
	previous   bool
	timestamps bool
	tail       int64
	since      time.Duration
	sinceTime  string
	limitBytes int64
}

func newLogsCmd(a *app) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER]",
		Short: "Print the logs of a container in a pod",
		Long: `Print the logs of a container in a pod. The master fetches them from the node
the pod runs on. A pod with several containers needs -c.

With -f the output is streamed until the container ends or Ctrl-C; it is not
limited by --request-timeout. --previous prints the log of the container's
previous attempt, the one before its last restart.`,
		Example: `  # The log of the only container of pod web-1
  orchctl logs web-1

  # Follow the last 20 lines of container app, in namespace prod
  orchctl logs web-1 -c app -f --tail 20 -n prod

  # Why did it restart? The previous attempt's log
  orchctl logs pod/web-1 --previous`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef(cmd, "name one pod: logs POD [-c CONTAINER]")
			}
			name, err := podArg(args[0])
			if err != nil {
				return usagef(cmd, "%v", err)
			}
			if o.since < 0 || (o.since > 0 && o.since < time.Second) {
				return usagef(cmd, "--since must be at least 1s, not %v", o.since)
			}
			if o.since > 0 && o.sinceTime != "" {
				return usagef(cmd, "at most one of --since and --since-time may be given")
			}
			if o.sinceTime != "" {
				if _, err := time.Parse(time.RFC3339, o.sinceTime); err != nil {
					return usagef(cmd, "--since-time %q must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", o.sinceTime)
				}
			}
			if o.limitBytes < 0 {
				return usagef(cmd, "--limit-bytes must be 0 (no limit) or more, not %d", o.limitBytes)
			}
			if o.tail < -1 {
				return usagef(cmd, "--tail must be -1 (everything) or more, not %d", o.tail)
			}
			return a.runLogs(cmd.Context(), name, o)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "the container to print the log of (needed when the pod has several)")
	f.BoolVarP(&o.follow, "follow", "f", false, "stream the log as it is written, until the container ends or Ctrl-C")
	f.BoolVarP(&o.previous, "previous", "p", false, "print the log of the container's previous attempt")
	f.BoolVar(&o.timestamps, "timestamps", false, "prefix each line with an RFC 3339 timestamp")
	f.Int64Var(&o.tail, "tail", -1, "print only the last N lines (-1: everything)")
	f.DurationVar(&o.since, "since", 0, "print only lines newer than this, e.g. 10m or 2h (0: everything)")
	f.StringVar(&o.sinceTime, "since-time", "", "print only lines written from this RFC 3339 time on")
	f.Int64Var(&o.limitBytes, "limit-bytes", 0, "stop after this many bytes (0: no limit)")
	return cmd
}

// podArg accepts "NAME" or "pod/NAME" (any spelling of the pods resource).
func podArg(arg string) (string, error) {
	typ, name, ok := strings.Cut(arg, "/")
	if !ok {
		return arg, nil
	}
	r, err := resolveResource(typ)
	if err != nil {
		return "", err
	}
	if r.Name != "pods" || name == "" {
		return "", fmt.Errorf("logs needs a pod, not %q", arg)
	}
	return name, nil
}

// runLogs copies the log stream to stdout.
func (a *app) runLogs(ctx context.Context, name string, o *logsOptions) error {
	c, err := a.client()
	if err != nil {
		return err
	}
	opts := client.LogOptions{Container: o.container, Follow: o.follow, Previous: o.previous, Timestamps: o.timestamps}
	if o.tail >= 0 {
		opts.TailLines = &o.tail
	}
	if o.since > 0 {
		secs := int64((o.since + time.Second - 1) / time.Second)
		opts.SinceSeconds = &secs
	}
	if o.sinceTime != "" {
		opts.SinceTime, _ = time.Parse(time.RFC3339, o.sinceTime) // checked in RunE
	}
	if o.limitBytes > 0 {
		opts.LimitBytes = &o.limitBytes
	}
	cancel := func() {}
	if !o.follow {
		ctx, cancel = a.requestContext(ctx)
	}
	defer cancel()
	rc, err := c.Logs(ctx, a.namespace, name, opts)
	if err != nil {
		if o.follow && errors.Is(err, context.Canceled) {
			return nil // Ctrl-C before the stream started
		}
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(a.out, rc); err != nil {
		if o.follow && ctx.Err() != nil {
			return nil // Ctrl-C ends a followed log
		}
		return fmt.Errorf("read the log of pod %s: %w", name, err)
	}
	return nil
}
