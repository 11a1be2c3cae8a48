package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
)

// clientVersion is the version of this orchctl build.
const clientVersion = "v0.1.0"

// ioStreams are where a command reads and writes.
type ioStreams struct {
	in     io.Reader
	out    io.Writer
	errOut io.Writer
}

func newIOStreams(in io.Reader, out, errOut io.Writer) ioStreams {
	return ioStreams{in: in, out: out, errOut: errOut}
}

// app holds the state of one orchctl invocation: its streams, the global
// flags, and the API client built from them on first use.
type app struct {
	ioStreams
	getenv func(string) string
	now    func() time.Time
	root   *cobra.Command

	// Global flags.
	configPath     string
	servers        []string
	caFile         string
	token          string
	namespace      string
	allNamespaces  bool
	requestTimeout time.Duration

	// configSource names where the config came from, for error messages.
	configSource string
	c            *client.Client
}

// run executes orchctl with args and returns the process exit code.
func run(ctx context.Context, args []string, streams ioStreams, getenv func(string) string) int {
	a := &app{ioStreams: streams, getenv: getenv, now: time.Now}
	root := newRootCmd(a)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		var ec exitCodeError
		if errors.As(err, &ec) {
			return ec.code // the remote command's, as kubectl exec
		}
		if msg := a.formatError(err); msg != "" {
			fmt.Fprintln(a.errOut, msg)
		}
		return 1
	}
	return 0
}

func newRootCmd(a *app) *cobra.Command {
	root := &cobra.Command{
		Use:   "orchctl",
		Short: "orchctl controls an orch cluster",
		Long: `orchctl controls an orch cluster: it reads and changes pods, replication
controllers, services, endpoints, namespaces and nodes through the API of the
masters, failing over from one master to the next when one is down.

The cluster is found through a client config file (written by 'orchd pki init'):
--config, else $ORCHCONFIG, else ~/.orch/admin.conf. --server, --ca-file and
--token override the file's fields, or replace the file altogether.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	a.root = root
	root.SetIn(a.in)
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "client config file (default $ORCHCONFIG, then ~/.orch/admin.conf)")
	pf.StringSliceVar(&a.servers, "server", nil, "API server URL(s), comma-separated (https://host:port); overrides the config file")
	pf.StringVar(&a.caFile, "ca-file", "", "PEM file of the cluster CA; overrides the config file")
	pf.StringVar(&a.token, "token", "", "bearer token; overrides the config file")
	pf.StringVarP(&a.namespace, "namespace", "n", "default", "namespace of the request")
	pf.BoolVarP(&a.allNamespaces, "all-namespaces", "A", false, "list or watch objects in every namespace")
	pf.DurationVar(&a.requestTimeout, "request-timeout", 30*time.Second,
		"time limit of each API request, e.g. 5s or 1m (0: none; watch streams are never limited)")

	root.AddGroup(
		&cobra.Group{ID: "basic", Title: "Basic commands:"},
		&cobra.Group{ID: "deploy", Title: "Deploy commands:"},
		&cobra.Group{ID: "cluster", Title: "Cluster commands:"},
		&cobra.Group{ID: "other", Title: "Other commands:"},
	)
	root.SetCompletionCommandGroupID("other")
	root.SetHelpCommandGroupID("other")
	for _, c := range []*cobra.Command{newGetCmd(a), newDescribeCmd(a), newCreateCmd(a), newDeleteCmd(a), newLogsCmd(a), newExecCmd(a), newAttachCmd(a), newPortForwardCmd(a)} {
		c.GroupID = "basic"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{newApplyCmd(a), newReplaceCmd(a), newScaleCmd(a)} {
		c.GroupID = "deploy"
		root.AddCommand(c)
	}
	for _, c := range []*cobra.Command{newClusterCmd(a), newGossipCmd(a), newSnapshotCmd(a), newVersionCmd(a), newImageCmd(a), newAuthCmd(a),
		newTokenCmd(a), newCertificateCmd(a), newUserCmd(a)} {
		c.GroupID = "cluster"
		root.AddCommand(c)
	}
	root.AddCommand(newCordonCmd(a))
	root.AddCommand(newUncordonCmd(a))
	root.AddCommand(newDrainCmd(a))
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usageError{err: err, cmd: c.CommandPath()}
	})
	return root
}

// usageError is a mistake in the command line.
type usageError struct {
	err error
	cmd string
}

func (e usageError) Error() string {
	return fmt.Sprintf("%v\nSee '%s --help' for usage.", e.err, e.cmd)
}

func (e usageError) Unwrap() error { return e.err }

// usagef returns a usageError for cmd.
func usagef(cmd *cobra.Command, format string, args ...any) error {
	return usageError{err: fmt.Errorf(format, args...), cmd: cmd.CommandPath()}
}

// errReported says that the errors were already printed, one per failed
// object; only the exit code remains to be set.
var errReported = errors.New("errors were reported")

// client returns the API client, building it on first use.
func (a *app) client() (*client.Client, error) {
	if a.c != nil {
		return a.c, nil
	}
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, err
	}
	// As kubectl, the API's warnings (Pod Security's) go to stderr.
	cfg.WarningHandler = func(text string) { fmt.Fprintf(a.errOut, "Warning: %s\n", text) }
	c, err := client.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("client config (%s): %w", a.configSource, err)
	}
	a.c = c
	return c, nil
}

// requestContext bounds one API request by --request-timeout.
func (a *app) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if a.requestTimeout <= 0 {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, a.requestTimeout)
}

// namespaceExplicit reports whether -n was given on the command line.
func (a *app) namespaceExplicit() bool {
	f := a.root.PersistentFlags().Lookup("namespace")
	return f != nil && f.Changed
}
