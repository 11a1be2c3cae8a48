// Package e2e runs orch's end-to-end suite against the real binaries.
package e2e

import (
	"os"
	"testing"

	"orch.io/orch/test/harness"
)

// bins are built once for the whole suite.
var bins harness.Binaries

func TestMain(m *testing.M) {
	os.Exit(harness.RunWithBinaries(m, &bins))
}
