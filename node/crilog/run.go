package crilog

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/containerd/containerd/v2/core/runtime/v2/logging"
)

// LoggerArg is the argument the containerd shim passes before the log
// file's path to the logging binary (the one key of the binary:// URI's
// query, so the arguments' order is fixed).
const LoggerArg = "container-log"

// RunLogger is the body of the logging binary containerd's shim starts for
// a container: it appends the container's stdout and stderr to path as CRI
// records until both end. It does not return (logging.Run exits).
func RunLogger(path string) {
	logging.Run(func(_ context.Context, cfg *logging.Config, ready func() error) error {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
		if err != nil {
			return fmt.Errorf("open log %s: %w", path, err)
		}
		defer f.Close()
		w := NewWriter(f, nil)
		if err := ready(); err != nil {
			return fmt.Errorf("signal ready: %w", err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 2)
		wg.Go(func() { errs[0] = w.Copy(Stdout, cfg.Stdout) })
		wg.Go(func() { errs[1] = w.Copy(Stderr, cfg.Stderr) })
		wg.Wait()
		// The streams end with the container; a read error after that is
		// not worth failing for, but a write error is reported.
		for _, err := range errs {
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// BinaryName is the file name of the dedicated logging binary
// (cmd/orch-container-log), installed beside orchd.
const BinaryName = "orch-container-log"

// FindBinary returns the logging binary to give containerd for an orchd
// executable at self: BinaryName in the same directory when it is there
// and executable, else self (orchd runs RunLogger too, under its hidden
// LoggerArg command, but its initialisation adds tens of milliseconds to
// every container start). dedicated reports which one was found.
func FindBinary(self string) (path string, dedicated bool) {
	p := filepath.Join(filepath.Dir(self), BinaryName)
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
		return p, true
	}
	return self, false
}
