package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestForEach(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name       string
		workers, n int
		// fail says which items fail (nil: none).
		fail func(i int) bool
		// cancelAt cancels the caller's context at this item (-1: never).
		cancelAt int
		wantErr  error
		// wantAll says every item must have run exactly once.
		wantAll bool
	}{
		{name: "all succeed", workers: 4, n: 1000, cancelAt: -1, wantAll: true},
		{name: "more workers than items", workers: 64, n: 3, cancelAt: -1, wantAll: true},
		{name: "no items", workers: 4, n: 0, cancelAt: -1, wantAll: true},
		{name: "zero workers", workers: 0, n: 5, cancelAt: -1, wantAll: true},
		// The scheduling section's hang: every worker fails (no /24 left for
		// the 257th node) while items remain.
		{name: "every item after 256 fails", workers: 64, n: 1000, fail: func(i int) bool { return i >= 256 }, cancelAt: -1, wantErr: boom},
		{name: "the first item fails", workers: 1, n: 100, fail: func(i int) bool { return i == 0 }, cancelAt: -1, wantErr: boom},
		{name: "caller cancels", workers: 8, n: 100000, cancelAt: 50, wantErr: context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			seen := map[int]int{}
			op := func(opCtx context.Context, i int) error {
				mu.Lock()
				seen[i]++
				mu.Unlock()
				if i == tc.cancelAt {
					cancel()
				}
				if tc.fail != nil && tc.fail(i) {
					return boom
				}
				return nil
			}
			done := make(chan error, 1)
			go func() { done <- forEach(ctx, tc.workers, tc.n, op) }()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("forEach did not return within 10s")
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("forEach = %v, want %v", err, tc.wantErr)
			}
			for i, c := range seen {
				if c != 1 {
					t.Errorf("item %d ran %d times", i, c)
				}
			}
			if tc.wantAll && len(seen) != tc.n {
				t.Errorf("%d of %d items ran", len(seen), tc.n)
			}
			if !tc.wantAll && len(seen) == tc.n {
				t.Errorf("every item ran despite the stop")
			}
		})
	}
}

// An op still running when another fails sees its ctx cancelled, and
// forEach returns only after it has returned.
func TestForEachCancelsRunningOps(t *testing.T) {
	started := make(chan struct{})
	var returned bool
	op := func(ctx context.Context, i int) error {
		if i == 0 {
			close(started)
			<-ctx.Done()
			returned = true
			return ctx.Err()
		}
		<-started
		return fmt.Errorf("item %d failed", i)
	}
	err := forEach(context.Background(), 2, 2, op)
	if err == nil || err.Error() != "item 1: item 1 failed" {
		t.Fatalf("forEach = %v", err)
	}
	if !returned {
		t.Fatal("forEach returned before the running op")
	}
}
