package main

import (
	"os"
	"os/signal"
	"syscall"
)

// survivePipes keeps the daemon alive when its stdout or stderr is a pipe
// whose reader went away (`make run | tee log`, then Ctrl-C ends tee
// first): Go kills a program that writes to such a pipe on fd 1 or 2 with
// SIGPIPE, so orchd died on its next log line, in the middle of stopping,
// and left containerd, its shims, the bridge and the rules behind. Once
// SIGPIPE is asked for, the write fails with EPIPE instead and the log line
// is lost, nothing else.
//
// It catches SIGPIPE rather than ignoring it (signal.Ignore): an ignored
// signal stays ignored across exec, so containerd, the shims and every
// container would inherit it; a caught one is reset to its default in them.
// Nobody reads the channel: the signal package drops signals to a full one.
func survivePipes() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}
