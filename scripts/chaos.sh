#!/usr/bin/env bash
# Runs the chaos suite: every fault, three seeds each (override with
# CHAOS_ARGS, e.g. CHAOS_ARGS="-chaos.faults=no-quorum -chaos.seeds=5").
# The full log goes to .run/chaos.log; progress and the results table are
# printed, and the table is kept in .run/chaos-table.md.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p .run
args=${CHAOS_ARGS:--chaos.full}
echo "chaos suite: go test ./test/chaos $args (log: .run/chaos.log)"
set +e
go test -count=1 -timeout 85m -v -run TestChaos ./test/chaos -args $args \
	-chaos.table "$PWD/.run/chaos-table.md" >.run/chaos.log 2>&1
rc=$?
set -e
grep -E '^(    --- |--- |    run_test.go:[0-9]+: [a-z-]+ seed|    run_test.go:[0-9]+: (error|master|not|lost|watch|the|linear|rc|final|node|pod|while))' .run/chaos.log | cut -c1-300 || true
echo
if [ -f .run/chaos-table.md ]; then cat .run/chaos-table.md; fi
if [ $rc -ne 0 ]; then echo "chaos suite FAILED (exit $rc); see .run/chaos.log"; fi
exit $rc
