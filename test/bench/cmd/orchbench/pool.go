package main

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// forEach calls op for every i in [0, n) from up to workers goroutines and
// returns the first error. An error stops the work: no further op starts,
// the ctx of the ops still running is cancelled, and forEach returns once
// they have returned. It never waits on a worker that has given up (a pool
// whose workers all failed used to leave its feeder blocked for ever).
func forEach(ctx context.Context, workers, n int, op func(ctx context.Context, i int) error) error {
	if workers < 1 {
		workers = 1
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next  atomic.Int64
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for range min(workers, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := op(ctx, i); err != nil {
					once.Do(func() {
						first = fmt.Errorf("item %d: %w", i, err)
						cancel()
					})
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		return first
	}
	if next.Load() < int64(n) {
		return ctx.Err() // the caller's ctx ended first
	}
	return nil
}
