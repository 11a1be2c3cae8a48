// Package e2e runs orch's end-to-end suite against the real binaries.
package e2e

import (
	"fmt"
	"os"
	"testing"

	"orch.io/orch/test/harness"
)

// bins are built once for the whole suite.
var bins harness.Binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "orch-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err = harness.Build(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
