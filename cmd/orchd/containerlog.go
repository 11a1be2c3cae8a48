package main

import (
	"github.com/spf13/cobra"

	"orch.io/orch/node/crilog"
)

// newContainerLogCommand is the logging binary containerd's shim starts
// for each container (binary:// log URI): it writes the container's output
// to the log file in the CRI log format. Not for people.
func newContainerLogCommand() *cobra.Command {
	return &cobra.Command{
		Use:    crilog.LoggerArg + " PATH",
		Short:  "Write a container's output in the CRI log format (run by containerd's shim)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		Run: func(_ *cobra.Command, args []string) {
			crilog.RunLogger(args[0])
		},
	}
}
