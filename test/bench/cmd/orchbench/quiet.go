package main

import (
	"context"
	"fmt"
	"time"

	"orch.io/orch/test/bench"
)

// Idle thresholds of waitQuiet.
const (
	quietCores = 0.05 // the processes count as idle below this many cores
	quietStep  = 500 * time.Millisecond
	quietMax   = 60 * time.Second // then the run goes ahead, flagged by its "other"
)

// waitQuiet waits until the processes pids (the system that ran last, such
// as the masters finishing a snapshot after their run) use less than
// quietCores over one quietStep, so their background work does not land in
// the next system's window as "other" CPU. It says how long it waited when
// that was more than one step, and gives up after quietMax.
func waitQuiet(ctx context.Context, label string, pids []int) error {
	start := time.Now()
	prev, err := bench.ReadCPUTimes(pids...)
	if err != nil {
		return fmt.Errorf("wait for %s to go idle: %w", label, err)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(quietStep):
		}
		cur, err := bench.ReadCPUTimes(pids...)
		if err != nil {
			return fmt.Errorf("wait for %s to go idle: %w", label, err)
		}
		cores := (cur.Procs - prev.Procs).Seconds() / cur.At.Sub(prev.At).Seconds()
		prev = cur
		waited := time.Since(start)
		if cores < quietCores {
			if waited > 2*quietStep {
				fmt.Printf("          waited %.1fs for %s to go idle\n", waited.Seconds(), label)
			}
			return nil
		}
		if waited >= quietMax {
			fmt.Printf("          %s still used %.2f cores after %v; measuring anyway\n", label, cores, quietMax)
			return nil
		}
	}
}

// Thresholds of undisturbed.
const (
	disturbedCores = 0.10 // the other system's cores in a window that make it taken again
	maxRepeats     = 2    // then the window is kept, and says so
)

// undisturbed runs window (one system's measured run) and takes it again,
// after waiting for the other system to go idle, when the other system's
// processes (others) used disturbedCores or more during it: background work
// of the system that ran before (a snapshot, a compaction) would otherwise
// slow this system's figure. At most maxRepeats repeats; every taken
// window is printed under label, and all its successful operations are
// added to *all.
func undisturbed(ctx context.Context, label, othersLabel string, others []int, all *int, window func() (bench.Result, error)) (bench.Result, error) {
	for repeat := 0; ; repeat++ {
		before, err := bench.ReadCPUTimes(others...)
		if err != nil {
			return bench.Result{}, fmt.Errorf("read CPU times of %s: %w", othersLabel, err)
		}
		res, err := window()
		if err != nil {
			return res, err
		}
		*all += res.AllOps
		after, err := bench.ReadCPUTimes(others...)
		if err != nil {
			return bench.Result{}, fmt.Errorf("read CPU times of %s: %w", othersLabel, err)
		}
		cores := (after.Procs - before.Procs).Seconds() / after.At.Sub(before.At).Seconds()
		if len(others) == 0 || cores < disturbedCores {
			fmt.Printf("%s  %v\n", label, res)
			return res, nil
		}
		if repeat == maxRepeats {
			fmt.Printf("%s  %v\n          (%s used %.2f cores in it; kept after %d repeats)\n", label, res, othersLabel, cores, maxRepeats)
			return res, nil
		}
		fmt.Printf("%s  %v\n          (%s used %.2f cores in it: taken again)\n", label, res, othersLabel, cores)
		if err := waitQuiet(ctx, othersLabel, others); err != nil {
			return bench.Result{}, err
		}
	}
}
