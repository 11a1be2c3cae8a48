package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// The heartbeat section measures what 1,000 nodes at rest cost the Raft
// log, in entries per second, on one 3-master cluster:
//
//   - before: each node posts its whole status every heartbeat interval
//     (orch's agent before node leases: a PATCH of nodes/<n>/status);
//   - after: each node renews its Lease every interval (a PUT with its
//     resourceVersion, as the agent and the kubelet do) and reads its Node
//     without a linearizable read to see whether its status changed (it
//     did not: nothing is written). The masters batch lease updates
//     (--lease-batch-window), so the renewals share entries.
//
// The simulated nodes spread their beats evenly over the interval and
// over the three masters, as real nodes do. Entries are counted from the
// leader's last Raft index over the window.

// heartbeatInterval is the nodes' heartbeat interval (the agent's default).
const heartbeatInterval = 10 * time.Second

// heartbeatSection runs both modes on a fresh cluster and returns the
// summary line.
func heartbeatSection(ctx context.Context, t *runT, bins harness.Binaries, o options, rep *results) (string, error) {
	cidr, err := schedClusterCIDR(o.heartbeatNodes)
	if err != nil {
		return "", err
	}
	c := harness.StartCluster(t, bins, harness.Options{MasterArgs: []string{"--cluster-cidr", cidr}})
	if t.failed {
		return "", errors.New(t.msg)
	}
	defer func() {
		for i := range c.Masters {
			c.Kill(i)
		}
	}()
	clients := make([]*client.Client, len(c.Masters))
	for i := range c.Masters {
		clients[i] = c.Client(i)
	}
	cl := c.Client()
	names := make([]string, o.heartbeatNodes)
	err = forEach(ctx, o.clients, o.heartbeatNodes, func(ctx context.Context, i int) error {
		names[i] = fmt.Sprintf("hb-%04d", i)
		n := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: names[i]}, Status: simNodeStatus(names[i])}
		if err := cl.Create(ctx, n); err != nil {
			return err
		}
		l := &v1.Lease{ObjectMeta: v1.ObjectMeta{Name: names[i], Namespace: v1.NodeLeaseNamespace}}
		return cl.Create(ctx, l)
	})
	if err != nil {
		return "", fmt.Errorf("register %d simulated nodes: %w", o.heartbeatNodes, err)
	}
	before, _, err := heartbeatRun(ctx, c, clients, names, o, statusBeat)
	if err != nil {
		return "", fmt.Errorf("status heartbeats: %w", err)
	}
	fmt.Printf("heartbeats: %d nodes posting status every %v: %.1f raft entries/s\n", len(names), heartbeatInterval, before)
	after, lat, err := heartbeatRun(ctx, c, clients, names, o, leaseBeat)
	if err != nil {
		return "", fmt.Errorf("lease heartbeats: %w", err)
	}
	fmt.Printf("heartbeats: %d nodes renewing leases every %v: %.1f raft entries/s\n", len(names), heartbeatInterval, after)
	ratio := before / max(after, 0.001)
	rep.goal("heartbeats: raft entries/s, status posts / lease renewals", fmt.Sprintf("%.0fx (%.1f vs %.1f entries/s, %d nodes)", ratio, before, after, len(names)),
		">= 10x", ratio >= 10, false) // a count of entries, not a timing: no noise
	return fmt.Sprintf("heartbeats at rest, %d simulated nodes, %v interval, 3 masters: status posts %.1f raft entries/s, lease renewals (status only on change) %.1f entries/s: %.0fx fewer (goal >= 10x); lease update latency p50 %v p99 %v",
		len(names), heartbeatInterval, before, after, ratio, lat[0], lat[1]), nil
}

// beat is one heartbeat of one simulated node; lease is the node's lease
// as last stored (nil before the first renewal of a run).
type beat func(ctx context.Context, cl *client.Client, name string, lease **v1.Lease) error

func statusBeat(ctx context.Context, cl *client.Client, name string, _ **v1.Lease) error {
	patch, _ := json.Marshal(map[string]any{"status": simNodeStatus(name)})
	return cl.PatchStatus(ctx, "nodes", "", name, patch, nil)
}

func leaseBeat(ctx context.Context, cl *client.Client, name string, lease **v1.Lease) error {
	var n v1.Node
	if err := cl.Get(ctx, "nodes", "", name, &n, client.Stale()); err != nil {
		return err
	}
	if *lease == nil {
		var l v1.Lease
		if err := cl.Get(ctx, "leases", v1.NodeLeaseNamespace, name, &l); err != nil {
			return err
		}
		*lease = &l
	}
	next := v1.DeepCopy(*lease)
	holder, dur, now := name, int32(v1.NodeLeaseDurationSeconds), v1.NewMicroTime(time.Now())
	next.Spec.HolderIdentity, next.Spec.LeaseDurationSeconds, next.Spec.RenewTime = &holder, &dur, &now
	if err := cl.Update(ctx, next); err != nil {
		*lease = nil
		return err
	}
	*lease = next
	return nil
}

// heartbeatRun runs every node's beat every heartbeatInterval for a
// warm-up interval and then a measured window of three intervals, and
// returns the leader's Raft entries per second over the window and the
// beats' p50 and p99 latency.
func heartbeatRun(ctx context.Context, c *harness.Cluster, clients []*client.Client, names []string, o options, b beat) (float64, [2]time.Duration, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex
		lat     []time.Duration
		errs    int
		lastErr error
		wg      sync.WaitGroup
		measure = make(chan struct{})
	)
	start := time.Now()
	for i, name := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cl := clients[i%len(clients)]
			var lease *v1.Lease
			next := start.Add(heartbeatInterval * time.Duration(i) / time.Duration(len(names)))
			for {
				select {
				case <-ctx.Done():
					return
				case <-time.After(time.Until(next)):
				}
				next = next.Add(heartbeatInterval)
				bctx, bcancel := context.WithTimeout(ctx, heartbeatInterval)
				t0 := time.Now()
				err := b(bctx, cl, name, &lease)
				d := time.Since(t0)
				bcancel()
				select {
				case <-measure:
					mu.Lock()
					if err != nil && ctx.Err() == nil {
						errs++
						lastErr = err
					} else if err == nil {
						lat = append(lat, d)
					}
					mu.Unlock()
				default:
				}
			}
		}()
	}
	leader := c.WaitLeader(30 * time.Second)
	index := func() (uint64, error) {
		m, err := clients[leader].Members(ctx)
		if err != nil {
			return 0, err
		}
		for _, x := range m.Members {
			if x.LastIndex > 0 {
				return x.LastIndex, nil
			}
		}
		return 0, errors.New("the leader reports no last index")
	}
	select {
	case <-ctx.Done():
		return 0, [2]time.Duration{}, ctx.Err()
	case <-time.After(heartbeatInterval + 2*time.Second):
	}
	close(measure)
	i0, err := index()
	if err != nil {
		return 0, [2]time.Duration{}, err
	}
	t0 := time.Now()
	window := 3 * heartbeatInterval
	select {
	case <-ctx.Done():
		return 0, [2]time.Duration{}, ctx.Err()
	case <-time.After(window):
	}
	i1, err := index()
	if err != nil {
		return 0, [2]time.Duration{}, err
	}
	took := time.Since(t0)
	cancel()
	wg.Wait()
	if errs > 0 {
		return 0, [2]time.Duration{}, fmt.Errorf("%d heartbeats failed, the last: %w", errs, lastErr)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	var p [2]time.Duration
	if len(lat) > 0 {
		p = [2]time.Duration{lat[len(lat)/2].Round(time.Millisecond), lat[len(lat)*99/100].Round(time.Millisecond)}
	}
	return float64(i1-i0) / took.Seconds(), p, nil
}

// simNodeStatus is the status a simulated node reports, as the agent's.
func simNodeStatus(name string) v1.NodeStatus {
	now := v1.NewTime(time.Now())
	capacity := v1.ResourceList{v1.ResourceCPU: resource.MustParse("32"), v1.ResourceMemory: resource.MustParse("128Gi"),
		v1.ResourcePods: resource.MustParse("110")}
	return v1.NodeStatus{Capacity: capacity, Allocatable: capacity, Phase: "Running",
		Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "NodeReady",
			Message: "the node agent is posting ready status", LastHeartbeatTime: now, LastTransitionTime: now}},
		Addresses: []v1.NodeAddress{{Type: "Hostname", Address: name}},
		NodeInfo: v1.NodeSystemInfo{KernelVersion: "6.1.0", OperatingSystem: "linux", Architecture: "amd64",
			ContainerRuntimeVersion: "containerd://2.0", KubeletVersion: "orch"}}
}
