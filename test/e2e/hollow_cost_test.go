package e2e

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
	"orch.io/orch/test/harness"
	"orch.io/orch/test/hollow"
)

// What one hollow node may cost the process that runs it, Ready and
// following the cluster with its pods' watch, the services', endpoints' and
// nodes' watches, its lease and status loops and its agent endpoint: one
// HTTP/2 connection to a master carries all its requests and watches (a
// kubelet's client-go does the same), its agent endpoint listens on one
// socket, and it keeps of the other nodes only their routes.
const (
	hollowCostNodes       = 100
	hollowMaxFilesPerNode = 2.5
	hollowMaxBytesPerNode = 1 << 20
)

// TestHollowNodeCost measures the open files and the live heap (after a
// full GC) that hollowCostNodes Ready hollow nodes add to this process, per
// node, and holds them to hollowMaxFilesPerNode and hollowMaxBytesPerNode:
// the sizes that decide how many hollow nodes a machine holds (make scale).
// It runs alone (no t.Parallel), so the process's heap is its own.
func TestHollowNodeCost(t *testing.T) {
	c := startCluster(t, harness.Options{Masters: 1})
	cl := c.Client()
	ca, err := pki.LoadClusterCA(c.PKIDir)
	if err != nil {
		t.Fatal(err)
	}
	_, clusterCIDR, _ := net.ParseCIDR("10.244.0.0/16")
	names := make([]string, hollowCostNodes)
	for i := range names {
		names[i] = fmt.Sprintf("hollow-cost-%03d", i)
	}
	files0, heap0 := processCost(t)
	pool, err := hollow.Start(ctxT(t, time.Minute), hollow.Config{Servers: []string{c.Masters[0].URL()}, CA: ca,
		StateDir: t.TempDir(), ClusterCIDR: clusterCIDR, HeartbeatInterval: 5 * time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), StartSpread: 2 * time.Second}, names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pool.Stop(); err != nil {
			t.Errorf("hollow nodes: %v", err)
		}
	})
	eventually(t, 2*time.Minute, "every hollow node Ready with the routes to every other", func() error {
		if err := pool.Err(); err != nil {
			t.Fatal(err)
		}
		nodes, _, err := client.ListTyped[v1.Node](ctxT(t, 10*time.Second), cl, "nodes", "", client.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range nodes {
			if r := n.Status.Condition(v1.NodeReady); pool.Node(n.Name) != nil && r != nil && r.Status == v1.ConditionTrue {
				ready++
			}
		}
		if ready != hollowCostNodes {
			return fmt.Errorf("%d of %d hollow nodes Ready", ready, hollowCostNodes)
		}
		for _, n := range pool.Nodes {
			if nw := n.Network(); nw == nil || len(nw.Routes()) != hollowCostNodes-1 {
				return fmt.Errorf("node %s has not every route yet", n.Name)
			}
		}
		return nil
	})
	files1, heap1 := processCost(t)
	filesPer := float64(files1-files0) / hollowCostNodes
	bytesPer := float64(heap1-heap0) / hollowCostNodes
	t.Logf("a Ready hollow node costs %.2f open files and %.0f KiB of live heap (%d nodes: %d files, %d MiB)",
		filesPer, bytesPer/1024, hollowCostNodes, files1-files0, (heap1-heap0)>>20)
	if filesPer > hollowMaxFilesPerNode {
		t.Errorf("%.2f open files per hollow node, want at most %.1f", filesPer, hollowMaxFilesPerNode)
	}
	if bytesPer > hollowMaxBytesPerNode {
		t.Errorf("%.0f KiB of heap per hollow node, want at most %d KiB", bytesPer/1024, hollowMaxBytesPerNode>>10)
	}
}

// processCost returns this process's open files and, after a full GC, its
// live heap and goroutine stacks in bytes.
func processCost(t *testing.T) (files int, live uint64) {
	t.Helper()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds), ms.HeapAlloc + ms.StackInuse
}
