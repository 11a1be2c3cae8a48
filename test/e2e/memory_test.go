package e2e

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// masterMetrics forces a GC on master i (the admin debug endpoint's heap
// profile with gc=1 runs runtime.GC first) and returns the named gauges
// from its own /metrics.
func masterMetrics(t *testing.T, c *harness.Cluster, i int, names ...string) map[string]int64 {
	t.Helper()
	cl := c.Client(i)
	var prof []byte
	if err := cl.Do(ctxT(t, 30*time.Second), "GET", "/debug/pprof/heap", url.Values{"gc": {"1"}}, nil, &prof); err != nil {
		t.Fatalf("master %d: force a GC: %v", i, err)
	}
	var metrics []byte
	if err := cl.Do(ctxT(t, 10*time.Second), "GET", "/metrics", nil, nil, &metrics); err != nil {
		t.Fatalf("master %d: metrics: %v", i, err)
	}
	all, err := parseMetrics(metrics)
	if err != nil {
		t.Fatalf("master %d: %v", i, err)
	}
	out := map[string]int64{}
	for _, n := range names {
		v, ok := all[n]
		if !ok {
			t.Fatalf("master %d: no %s in /metrics", i, n)
		}
		out[n] = int64(v)
	}
	return out
}

// 100 updates of a 1.4 MiB pod leave each master's live heap within the
// watch feed's and the Raft log cache's byte bounds plus a margin. Without
// the byte bounds the feed kept every event (count bound 50,000: ~2.8 MiB
// each with the record before the change) and the log cache every entry
// (1024: 1.4 MiB each): measured with both bounds at 1 GiB, each master's
// heap grew 421 MiB; with 32 MiB and 16 MiB it grew 51-58 MiB.
func TestLargeUpdatesKeepMasterHeapBounded(t *testing.T) {
	parallel(t)
	const (
		mib        = 1 << 20
		feedBytes  = 32 * mib
		cacheBytes = 16 * mib
		// margin covers what is not in either bound and does not grow with
		// the updates: the object itself in the store (its record before and
		// after the last update, decoded and encoded: ~6 MiB), request and
		// answer buffers, raft's in-flight batches, and the profiler's and
		// allocator's own slack after a forced GC.
		margin  = 32 * mib
		updates = 100
	)
	c := startCluster(t, harness.Options{MasterArgs: []string{
		fmt.Sprintf("--watch-feed-bytes=%d", feedBytes), fmt.Sprintf("--raft-log-cache-bytes=%d", cacheBytes)}})
	cl := c.Client()
	const heap = "go_memstats_heap_inuse_bytes"
	before := make([]int64, len(c.Masters))
	for i := range c.Masters {
		before[i] = masterMetrics(t, c, i, heap)[heap]
	}

	pod := testPod("big")
	// One env value makes the pod ~1.4 MiB (annotations are capped at
	// 256 KiB); updates change a label, which pods may.
	pod.Spec.Containers[0].Env = []v1.EnvVar{{Name: "BLOB", Value: strings.Repeat("x", 1400*1024)}}
	if err := cl.Create(ctxT(t, 30*time.Second), pod); err != nil {
		t.Fatal(err)
	}
	for i := range updates {
		pod.Labels["round"] = strconv.Itoa(i)
		if err := cl.Update(ctxT(t, 30*time.Second), pod); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	c.WaitCaughtUp(30 * time.Second)

	bound := int64(feedBytes + cacheBytes + margin)
	for i := range c.Masters {
		m := masterMetrics(t, c, i, heap, "orch_watch_feed_bytes", "orch_raft_log_cache_bytes")
		if feed, cache := m["orch_watch_feed_bytes"], m["orch_raft_log_cache_bytes"]; feed > feedBytes || feed < feedBytes/2 ||
			cache > cacheBytes || cache < cacheBytes/2 {
			t.Errorf("master %d: the feed counts %d bytes (bound %d), the log cache %d (bound %d): want each full to at least half its bound and within it",
				i, feed, feedBytes, cache, cacheBytes)
		}
		after := m[heap]
		grew := after - before[i]
		t.Logf("master %d: heap in use after GC %.1f MiB before, %.1f MiB after %d updates of 1.4 MiB (grew %.1f MiB; feed %.1f of %d MiB, log cache %.1f of %d MiB, margin %d MiB)",
			i, float64(before[i])/mib, float64(after)/mib, updates, float64(grew)/mib,
			float64(m["orch_watch_feed_bytes"])/mib, feedBytes/mib, float64(m["orch_raft_log_cache_bytes"])/mib, cacheBytes/mib, margin/mib)
		if grew > bound {
			t.Errorf("master %d: heap grew %.1f MiB, over the bounds plus margin (%.0f MiB)", i, float64(grew)/mib, float64(bound)/mib)
		}
	}
}
