// Command orchd is the orch daemon: `orchd master` runs a master (Raft
// member, API server, leader loops), `orchd pki init` creates a cluster's
// credentials.
package main

import (
	"fmt"
	"os"
	"runtime"
)

func init() {
	// Keep the main goroutine on the main OS thread: code that enters
	// namespaces must never run on it by accident.
	runtime.LockOSThread()
}

func main() {
	survivePipes()
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}
