package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	componentcli "k8s.io/component-base/cli"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"orch.io/orch/api/client"
)

// clientVersion is the version of orch's own commands in this orchctl build.
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

	// flags are kubectl's global flags (--kubeconfig, --server, --token,
	// --certificate-authority, -n, ...), shared by orch's commands.
	flags *genericclioptions.ConfigFlags
	// configPath is --config, orch's client config file.
	configPath string
	// caFile is --ca-file, orch's name for --certificate-authority.
	caFile string

	// configSource names where the config came from, for error messages.
	configSource string
	orchCfg      *client.Config
	c            *client.Client
}

// orchCommands are orch's own commands, beside kubectl's.
func orchCommands(a *app) []*cobra.Command {
	return []*cobra.Command{newClusterCmd(a), newGossipCmd(a), newSnapshotCmd(a), newImageCmd(a),
		newTokenCmd(a), newUserCmd(a), newSecretsCmd(a)}
}

// orchError marks an error of one of orch's own commands, which orchctl
// formats itself (kubectl's commands report theirs).
type orchError struct{ err error }

func (e orchError) Error() string { return e.err.Error() }
func (e orchError) Unwrap() error { return e.err }

// run executes orchctl with args and returns the process exit code.
func run(ctx context.Context, args []string, streams ioStreams, getenv func(string) string) int {
	a := &app{ioStreams: streams, getenv: getenv, now: time.Now}
	root := newRootCmd(a, args)
	root.SetArgs(args)
	root.SetContext(ctx)
	// As kubectl's main: klog's flags (-v), logs flushed at the end, errors
	// printed here.
	err := componentcli.RunNoErrOutput(root)
	if err == nil {
		return 0
	}
	var oe orchError
	if errors.As(err, &oe) {
		if msg := a.formatError(oe.err); msg != "" {
			fmt.Fprintln(a.errOut, msg)
		}
		return 1
	}
	// kubectl's own way (cmdutil.CheckErr), without its os.Exit.
	msg, ok := cmdutil.StandardErrorMessage(err)
	if !ok {
		msg = err.Error()
		if !strings.HasPrefix(msg, "error: ") {
			msg = "error: " + msg
		}
	}
	fmt.Fprintln(a.errOut, strings.TrimSuffix(msg, "\n"))
	return 1
}

// newRootCmd builds orchctl: kubectl's command tree (k8s.io/kubectl, the
// same code as kubectl of the version go.mod pins) with orch's own commands
// beside it. args are the command line (without the program name), for
// kubectl's preferences (kuberc).
func newRootCmd(a *app, args []string) *cobra.Command {
	streams := genericiooptions.IOStreams{In: a.in, Out: a.out, ErrOut: a.errOut}
	a.flags = genericclioptions.NewConfigFlags(true).WithDeprecatedPasswordFlag().
		WithDiscoveryBurst(300).WithDiscoveryQPS(50.0).WithWarningPrinter(streams).
		WithWrapConfigFn(a.wrapRESTConfig)
	root := kubectlcmd.NewKubectlCommand(kubectlcmd.KubectlOptions{
		Arguments:   append([]string{"orchctl"}, args...),
		ConfigFlags: a.flags,
		IOStreams:   streams,
	})
	a.root = root
	root.Use = "orchctl"
	root.Short = "orchctl controls an orch cluster: kubectl's commands and orch's own"
	root.Long = `orchctl controls an orch cluster. It has every command of kubectl (the
same code, from k8s.io/kubectl) and orch's own commands: cluster, gossip,
snapshot, image, token and user.

The cluster is found through orch's client config (written by 'orchd pki
init'): --config, else $ORCHCONFIG, else ~/.orch/admin.conf; its several
servers are tried in turn when one is down. --server (several, comma-
separated), --ca-file (or --certificate-authority) and --token override the
file's fields, or replace the file altogether. A kubeconfig named by
--kubeconfig or $KUBECONFIG is used instead, as kubectl uses it (and
~/.kube/config when no orch config is found).`
	root.SetIn(a.in)
	root.SetOut(a.out)
	root.SetErr(a.errOut)
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "orch client config file (default $ORCHCONFIG, then ~/.orch/admin.conf)")
	pf.StringVar(&a.caFile, "ca-file", "", "PEM file of the cluster CA (as --certificate-authority)")

	// A broken orch config is reported before any command runs.
	preRun := root.PersistentPreRunE
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if preRun != nil {
			if err := preRun(cmd, args); err != nil {
				return err
			}
		}
		if a.useOrchConfig() && needsCluster(cmd) {
			if _, err := a.loadConfig(); err != nil {
				return orchError{err}
			}
		}
		return nil
	}

	root.AddGroup(&cobra.Group{ID: "orch", Title: "Orch Commands:"})
	for _, c := range orchCommands(a) {
		c.GroupID = "orch"
		markOrchErrors(c)
		root.AddCommand(c)
	}
	return root
}

// needsCluster reports whether cmd talks to the cluster (config, completion
// and help do not).
func needsCluster(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "config", "completion", "help", "options", "plugin", "kuberc", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return false
		}
	}
	return true
}

// markOrchErrors makes cmd and its subcommands return orchError, so run
// formats them the orch way.
func markOrchErrors(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if err := run(c, args); err != nil {
				return orchError{err}
			}
			return nil
		}
	}
	for _, c := range cmd.Commands() {
		markOrchErrors(c)
	}
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

// client returns the API client of orch's commands, building it on first use.
func (a *app) client() (*client.Client, error) {
	if a.c != nil {
		return a.c, nil
	}
	cfg, err := a.clientConfig()
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

// requestContext bounds one API request by --request-timeout, when given.
func (a *app) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	d := 30 * time.Second
	if t := flag(a.flags.Timeout); t != "" && t != "0" {
		if parsed, err := time.ParseDuration(t); err == nil {
			d = parsed
		} else if parsed, err := time.ParseDuration(t + "s"); err == nil {
			d = parsed
		}
	}
	return context.WithTimeout(ctx, d)
}
