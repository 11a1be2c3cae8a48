package e2e

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// A rolling restart of the three masters (followers first, the leader last,
// each with SIGTERM) under a steady stream of writes: every acknowledged
// write survives, and writes fail only while a master is down or handing
// over.
func TestRollingRestart(t *testing.T) {
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network})
	cl := c.Client()

	ctx, stop := context.WithCancel(context.Background())
	var mu sync.Mutex
	var acked []string
	var failures []time.Time
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				name := fmt.Sprintf("roll-%d-%04d", w, i)
				rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
				err := cl.Create(rctx, testPod(name))
				cancel()
				mu.Lock()
				if err == nil {
					acked = append(acked, name)
				} else if ctx.Err() == nil {
					failures = append(failures, time.Now())
				}
				mu.Unlock()
			}
		}(w)
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	waitFor(t, 30*time.Second, "writes flowing", func() (bool, string) { return count() > 50, fmt.Sprint(count()) })

	type window struct{ from, to time.Time }
	var windows []window
	leader := c.WaitLeader(30 * time.Second)
	order := []int{}
	for i := range c.Masters {
		if i != leader {
			order = append(order, i)
		}
	}
	order = append(order, leader)
	for _, i := range order {
		from := time.Now()
		c.Stop(i)
		c.Start(i)
		c.WaitLeader(30 * time.Second)
		c.WaitCaughtUp(30 * time.Second)
		windows = append(windows, window{from, time.Now()})
		before := count()
		waitFor(t, 30*time.Second, "writes flowing after restarting "+c.Masters[i].Name, func() (bool, string) {
			return count() > before+20, fmt.Sprint(count() - before)
		})
	}
	stop()
	wg.Wait()

	// Every failure fell inside a restart window (plus a second of slack).
	for _, f := range failures {
		inside := false
		for _, w := range windows {
			if !f.Before(w.from) && !f.After(w.to.Add(time.Second)) {
				inside = true
			}
		}
		if !inside {
			t.Errorf("a write failed at %v, outside every restart window %v", f.Format(time.StampMilli), windows)
		}
	}
	// Every acknowledged write is there, on every master.
	for i := range c.Masters {
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 20*time.Second), c.Client(i), "pods", "default", client.ListOptions{Stale: true})
		if err != nil {
			t.Fatal(err)
		}
		have := map[string]bool{}
		for _, p := range pods {
			have[p.Name] = true
		}
		lost := 0
		for _, name := range acked {
			if !have[name] {
				lost++
			}
		}
		if lost > 0 {
			t.Errorf("%s lost %d of %d acknowledged writes", c.Masters[i].Name, lost, len(acked))
		}
	}
	t.Logf("%d writes acknowledged, %d failed during %d restarts", len(acked), len(failures), len(windows))
	if err := cl.Create(ctxT(t, 10*time.Second), testPod("final")); err != nil {
		t.Errorf("the final write failed: %v", err)
	}
}
