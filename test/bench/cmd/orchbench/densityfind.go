package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"orch.io/orch/test/harness"
)

// The density section in a full run and alone (-only density) runs one
// size, -density-nodes; -density-find looks for the default size instead:
// as many hollow nodes as this machine holds with every SLO met. It steps
// the size up, doubling from -density-find-start, until a size misses an
// SLO or fails (or -density-find-max is passed), and reports the last size
// that held.

// defaultDensityNodes is the density section's size in a full run: the
// largest -density-find held with every SLO met on the idle 2-core machine
// (2026-12-05: 10, 20, 40 and 80 held, 80 with pod startup p99 4.06 s and
// updates p99 990 ms; 160 missed pod startup p99, 5.9 s). A busy machine
// holds less: there the section reports the SLOs it missed.
const defaultDensityNodes = 80

// densityStep is one size the finder measured.
type densityStep struct {
	nodes int
	held  bool
	// why names the SLOs missed or the error the run stopped with.
	why string
}

// densityMeasure runs the density test at a number of nodes.
type densityMeasure func(ctx context.Context, nodes int) (densityResult, error)

// findDensity measures at start, 2×start, 4×start … up to limit nodes and
// stops at the first size that misses an SLO or fails. It returns the
// largest size that held (0 when the first did not) and every step; its
// error is only the context's.
func findDensity(ctx context.Context, start, limit int, measure densityMeasure, out io.Writer) (int, []densityStep, error) {
	if start < 1 || limit < start {
		return 0, nil, fmt.Errorf("-density-find-start %d, -density-find-max %d: want 1 <= start <= max", start, limit)
	}
	best := 0
	var steps []densityStep
	for n := start; n <= limit; n *= 2 {
		res, err := measure(ctx, n)
		if ctx.Err() != nil {
			return best, steps, ctx.Err()
		}
		st := densityStep{nodes: n, held: err == nil && res.held()}
		switch {
		case err != nil:
			st.why = "failed: " + oneLine(err.Error())
		case !st.held:
			var missed []string
			for _, c := range res.slos() {
				if !c.held {
					missed = append(missed, fmt.Sprintf("%s %s (goal %s)", c.name, c.value, c.goal))
				}
			}
			st.why = "missed " + strings.Join(missed, ", ")
		default:
			st.why = "every SLO held"
			if res.cpu.Noisy() {
				st.why += fmt.Sprintf(" (machine shared: other processes used %.2f cores)", res.cpu.Other)
			}
		}
		fmt.Fprintf(out, "density-find: %d hollow nodes: %s\n", n, st.why)
		steps = append(steps, st)
		if !st.held {
			break
		}
		best = n
	}
	return best, steps, nil
}

// densitySection runs the density test at -density-nodes, prints its
// report and reports each SLO into rep.
func densitySection(ctx context.Context, t *runT, bins harness.Binaries, o options, rep *results) error {
	res, err := densityRun(ctx, t, bins, o)
	if res.report != "" {
		fmt.Println()
		fmt.Print(res.report)
		fmt.Println()
	}
	if res.nodes > 0 {
		reportDensity(rep, res)
	}
	return err
}

// reportDensity reports a density run's SLOs into rep.
func reportDensity(rep *results, res densityResult) {
	size := fmt.Sprintf("density %d nodes × %d pods", res.nodes, res.pods/res.nodes)
	for _, c := range res.slos() {
		rep.goal(size+": "+c.name, c.value, c.goal, c.held, res.cpu.Noisy())
	}
}

// densityFindSection runs the finder from -density-find-start to
// -density-find-max and reports the largest size that held.
func densityFindSection(ctx context.Context, t *runT, bins harness.Binaries, o options, rep *results) error {
	measure := func(ctx context.Context, nodes int) (densityResult, error) {
		oo := o
		oo.densityNodes = nodes
		res, err := densityRun(ctx, t, bins, oo)
		if res.report != "" {
			fmt.Print(res.report)
			fmt.Println()
		}
		return res, err
	}
	best, steps, err := findDensity(ctx, o.densityFindStart, o.densityFindMax, measure, os.Stdout)
	if err != nil {
		return err
	}
	value := fmt.Sprintf("%d nodes × %d pods", best, o.densityPerNode)
	if last := steps[len(steps)-1]; !last.held {
		value += fmt.Sprintf("; %d nodes: %s", last.nodes, last.why)
	} else {
		value += fmt.Sprintf(" (every size up to -density-find-max %d held)", o.densityFindMax)
	}
	rep.info("density: most hollow nodes with every SLO met", value)
	return nil
}
