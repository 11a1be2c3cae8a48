// Package chaos is orch's chaos suite: a three-master cluster and two nodes,
// every master and node in its own network namespace, under a recording
// client while one fault at a time is injected and healed; then the
// recorded histories are checked (package check) and the figures tabulated.
//
//	go test ./test/chaos                          the short run (leader kill, leader partition, agent kill, rolling restart)
//	go test ./test/chaos -args -chaos.full        every fault, three seeds each (make chaos)
//	go test ./test/chaos -args -chaos.faults=leader-kill,no-quorum -chaos.seeds=5
package chaos

import (
	"flag"
	"os"
	"testing"

	"orch.io/orch/test/harness"
)

var (
	flagFull   = flag.Bool("chaos.full", false, "run every fault (make chaos) instead of the short set")
	flagFaults = flag.String("chaos.faults", "", "comma-separated faults to run (overrides the set chosen by -chaos.full)")
	flagSeeds  = flag.Int("chaos.seeds", 0, "runs per fault, each with its own seed (default: 3 with -chaos.full, else 1)")
	flagSeed   = flag.Uint64("chaos.seed", 1, "first seed")
	flagTable  = flag.String("chaos.table", "", "also write the results table (Markdown) to this file")
	flagVis    = flag.String("chaos.vis", "", "directory for porcupine visualizations of failing histories")
	flagHollow = flag.Int("chaos.hollow", 500, "hollow nodes of the leader-kill-hollow fault")
)

// bins are built once for the whole suite.
var bins harness.Binaries

func TestMain(m *testing.M) {
	os.Exit(harness.RunWithBinaries(m, &bins))
}
