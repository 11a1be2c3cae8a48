// Command orch-container-log is the logging binary containerd's shim starts
// for each container of an orch node (a binary:// log URI): it writes the
// container's stdout and stderr to the log file in the CRI log format.
//
// It is a program of its own, installed beside orchd, because the shim
// starts one per container on the pod-start path: a binary that links only
// node/crilog starts in a few milliseconds, where orchd's initialisation
// (the whole API, client and kubectl-facing packages) costs tens of them.
// Not for people: `orch-container-log container-log PATH`.
package main

import (
	"fmt"
	"os"

	"orch.io/orch/node/crilog"
)

func main() {
	if len(os.Args) != 3 || os.Args[1] != crilog.LoggerArg {
		fmt.Fprintf(os.Stderr, "usage: %s %s PATH (started by containerd's shim for an orch container)\n", os.Args[0], crilog.LoggerArg)
		os.Exit(2)
	}
	crilog.RunLogger(os.Args[2])
}
