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
