package chaos

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// injection is a fault in progress.
type injection struct {
	// heal ends the fault.
	heal func()
	// minority are the masters that must not acknowledge a write while the
	// fault lasts (they cannot reach a quorum).
	minority []int
	// verify, if set, checks after the run that the fault had the effect it
	// should have (so a run cannot pass because the fault missed).
	verify func() []string
	// during, if set, runs once the fault is in place and checks how the
	// cluster behaves meanwhile.
	during func() []string
	// windows, when during fills it, are the only times errors may happen
	// (a planned operation such as a rolling restart).
	windows *[]window
	// target names what was hit, for the log.
	target string
}

// window is a span of time.
type window struct{ from, to time.Time }

// fault is one kind of fault of the chaos suite.
type fault struct {
	name string
	// hold is how long the fault lasts before it is healed.
	hold time.Duration
	// nodesUnchanged: the steady pods' containers and the nodes' iptables
	// rules must come through the fault unchanged.
	nodesUnchanged bool
	// dataDirSize puts every master's data dir on a tmpfs of this size.
	dataDirSize int64
	// masterArgs are added to the masters' flags after the chaos defaults
	// (so they win over them).
	masterArgs []string
	inject     func(e *env, rng *rand.Rand) injection
}

// faults is every fault, in the order of the table.
var faults = []fault{
	{name: "leader-kill", hold: 2 * time.Second, nodesUnchanged: true, inject: func(e *env, _ *rand.Rand) injection {
		l := e.c.WaitLeader(30 * time.Second)
		e.c.Kill(l)
		return injection{target: e.c.Masters[l].Name, heal: func() { e.c.Start(l) }}
	}},
	{name: "leader-pause", hold: 3 * time.Second, nodesUnchanged: true, inject: func(e *env, _ *rand.Rand) injection {
		l := e.c.WaitLeader(30 * time.Second)
		m := e.c.Masters[l]
		if err := m.Pause(); err != nil {
			e.t.Fatal(err)
		}
		return injection{target: m.Name, heal: func() {
			if err := m.Resume(); err != nil {
				e.t.Error(err)
			}
		}}
	}},
	{name: "leader-partition", hold: 5 * time.Second, nodesUnchanged: true, inject: func(e *env, _ *rand.Rand) injection {
		l := e.c.WaitLeader(30 * time.Second)
		return e.isolateMasters(l)
	}},
	{name: "follower-partition", hold: 5 * time.Second, nodesUnchanged: true, inject: func(e *env, rng *rand.Rand) injection {
		l := e.c.WaitLeader(30 * time.Second)
		f := (l + 1 + rng.IntN(2)) % 3
		return e.isolateMasters(f)
	}},
	{name: "no-quorum", hold: 5 * time.Second, nodesUnchanged: true, inject: func(e *env, _ *rand.Rand) injection {
		var heals []func()
		for i := range e.c.Masters {
			in := e.isolateMasters(i)
			heals = append(heals, in.heal)
		}
		return injection{target: "every master", minority: []int{0, 1, 2}, heal: func() {
			for _, h := range heals {
				h()
			}
		}, during: e.quorumLost}
	}},
	// The masters' data dirs hold the raft-wal log (two 16 MiB segments
	// and a reserve of 17 MiB at most) and snapshots.
	{name: "leader-disk-full", hold: 5 * time.Second, nodesUnchanged: true, dataDirSize: 128 << 20, inject: func(e *env, _ *rand.Rand) injection {
		return e.fillDisk()
	}},
	{name: "leader-disk-full-bolt", hold: 5 * time.Second, nodesUnchanged: true, dataDirSize: 64 << 20,
		masterArgs: []string{"--raft-log-store", "boltdb"}, inject: func(e *env, _ *rand.Rand) injection {
			return e.fillDisk()
		}},
	{name: "leader-transfer", nodesUnchanged: true, inject: func(e *env, _ *rand.Rand) injection {
		l := e.c.WaitLeader(30 * time.Second)
		var took time.Duration
		in := injection{target: e.c.Masters[l].Name}
		in.during = func() []string {
			start := time.Now()
			_, err := e.admin.TransferLeader(ctxT(e.t, 10*time.Second), "")
			took = time.Since(start)
			if err != nil {
				return []string{fmt.Sprintf("transfer-leader: %v", err)}
			}
			e.t.Logf("the transfer took %v", took)
			return nil
		}
		in.heal = func() {}
		return in
	}},
	{name: "rolling-restart", nodesUnchanged: true, inject: func(e *env, _ *rand.Rand) injection {
		var windows []window
		in := injection{target: "every master, the leader last", windows: &windows, heal: func() {}}
		in.during = func() []string {
			leader := e.c.WaitLeader(30 * time.Second)
			var order []int
			for i := range e.c.Masters {
				if i != leader {
					order = append(order, i)
				}
			}
			for _, i := range append(order, leader) {
				from := time.Now()
				e.c.Stop(i)
				e.c.Start(i)
				e.c.WaitLeader(30 * time.Second)
				e.c.WaitCaughtUp(30 * time.Second)
				windows = append(windows, window{from, time.Now()})
			}
			return nil
		}
		return in
	}},
	{name: "agent-kill", hold: 3 * time.Second, nodesUnchanged: true, inject: func(e *env, rng *rand.Rand) injection {
		n := e.nodes[rng.IntN(len(e.nodes))]
		n.Kill()
		return injection{target: n.Name, heal: n.Start}
	}},
	{name: "worker-cut-short", hold: nodeGrace / 2, nodesUnchanged: true, inject: func(e *env, rng *rand.Rand) injection {
		n := e.nodes[rng.IntN(len(e.nodes))]
		heal := harness.DropTraffic(e.t, n.NetNS)
		return injection{target: n.Name, heal: func() { must(e.t, heal()) }}
	}},
	{name: "worker-cut-long", hold: nodeEviction + nodeGrace, inject: func(e *env, rng *rand.Rand) injection {
		// A node that runs pods, or there is nothing to evict.
		var busy []*harness.Node
		for _, n := range e.nodes {
			if len(e.podsOn(n.Name)) > 0 {
				busy = append(busy, n)
			}
		}
		if len(busy) == 0 {
			e.t.Fatal("no node runs a pod")
		}
		n := busy[rng.IntN(len(busy))]
		before := e.podsOn(n.Name)
		heal := harness.DropTraffic(e.t, n.NetNS)
		return injection{target: n.Name, heal: func() { must(e.t, heal()) }, verify: func() []string {
			// The cut-off node's pods were evicted and replaced.
			var out []string
			after := e.podsOn("")
			for uid, name := range before {
				if _, ok := after[uid]; ok {
					out = append(out, fmt.Sprintf("pod %s on the cut-off node %s was not evicted", name, n.Name))
				}
			}
			if len(before) == 0 {
				out = append(out, "no pod ran on the cut-off node "+n.Name)
			}
			return out
		}}
	}},
}

// shortFaults run inside make test.
var shortFaults = []string{"leader-kill", "leader-partition", "agent-kill", "rolling-restart"}

// isolateMasters drops the traffic between master i and the other masters
// (clients and nodes still reach it).
func (e *env) isolateMasters(i int) injection {
	var peers []string
	for j, m := range e.c.Masters {
		if j != i {
			peers = append(peers, hostOf(m.APIAddr))
		}
	}
	heal := harness.DropTraffic(e.t, e.c.Masters[i].NetNS, peers...)
	return injection{target: e.c.Masters[i].Name, minority: []int{i}, heal: func() { must(e.t, heal()) }}
}

// quorumLost checks every master while no quorum can form: a write is
// refused with 503 and a message that says the quorum is lost, and a stale
// read still answers.
func (e *env) quorumLost() []string {
	var mu sync.Mutex
	var out []string
	var wg sync.WaitGroup
	for i, m := range e.c.Masters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			cfg := e.c.Config(i)
			cfg.FailoverRounds = 1
			cl, err := client.New(cfg)
			if err != nil {
				mu.Lock()
				out = append(out, err.Error())
				mu.Unlock()
				return
			}
			defer cl.CloseIdleConnections()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			// Right after the cut a leader may still take a write that then
			// cannot commit (an unknown outcome); once the masters notice,
			// every write is refused.
			var problems []string
			deadline := time.Now().Add(5 * time.Second)
			for try := 0; ; try++ {
				err = cl.Create(ctx, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("no-quorum-%s-%d", m.Name, try)}})
				if err == nil {
					problems = append(problems, fmt.Sprintf("%s acknowledged a write without quorum", m.Name))
					break
				}
				if v1.CodeOf(err) == 503 && strings.Contains(err.Error(), "quorum") {
					break
				}
				if time.Now().After(deadline) {
					problems = append(problems, fmt.Sprintf("a write to %s without quorum: got %v, want 503 saying the quorum is lost", m.Name, err))
					break
				}
			}
			if _, err := cl.List(ctx, "pods", "default", client.ListOptions{Stale: true}); err != nil {
				problems = append(problems, fmt.Sprintf("a stale read from %s without quorum: %v", m.Name, err))
			}
			mu.Lock()
			out = append(out, problems...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// fillDisk fills the leader's data dir; meanwhile the master must report
// its disk full (orch_raft_disk_full, set when it failed to store
// entries: the fault reached the log store), and the verify step checks
// that it lived through it.
func (e *env) fillDisk() injection {
	l := e.c.WaitLeader(30 * time.Second)
	m := e.c.Masters[l]
	release, err := e.c.FillDisk(l)
	if err != nil {
		e.t.Fatal(err)
	}
	alive := true
	return injection{target: m.Name, heal: func() {
		alive = m.Running()
		release()
	}, during: func() []string {
		deadline := time.Now().Add(4 * time.Second)
		for {
			full, err := e.diskFullMetric(l)
			if full {
				return nil
			}
			if time.Now().After(deadline) {
				return []string{fmt.Sprintf("master %s did not report its disk full within 4 s of the fill (orch_raft_disk_full: %v)", m.Name, err)}
			}
			time.Sleep(100 * time.Millisecond) // polling /metrics
		}
	}, verify: func() []string {
		if !alive {
			return []string{fmt.Sprintf("master %s exited while its disk was full", m.Name)}
		}
		return nil
	}}
}

// diskFullMetric reports whether master i's /metrics shows
// orch_raft_disk_full 1.
func (e *env) diskFullMetric(i int) (bool, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var raw []byte
	if err := e.c.Client(i).Do(ctx, "GET", "/metrics", nil, nil, &raw); err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "orch_raft_disk_full "); ok {
			return strings.TrimSpace(v) == "1", fmt.Errorf("%s", strings.TrimSpace(v))
		}
	}
	return false, fmt.Errorf("not in /metrics")
}

func hostOf(addr string) string {
	h, _, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	return h
}

// podsOn returns the pods (uid -> name) bound to node ("" = any node) now.
func (e *env) podsOn(node string) map[string]string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pods, _, err := client.ListTyped[v1.Pod](ctx, e.admin, "pods", "default", client.ListOptions{})
	if err != nil {
		e.t.Fatalf("list pods: %v", err)
	}
	out := map[string]string{}
	for _, p := range pods {
		if (node == "" || p.Spec.NodeName == node) && p.DeletionTimestamp == nil {
			out[p.UID] = p.Name
		}
	}
	return out
}

// selectedFaults returns the faults the flags ask for.
func selectedFaults() ([]fault, error) {
	names := shortFaults
	if *flagFull {
		names = nil
		for _, f := range faults {
			names = append(names, f.name)
		}
	}
	if *flagFaults != "" {
		names = strings.Split(*flagFaults, ",")
	}
	var out []fault
	for _, n := range names {
		found := false
		for _, f := range faults {
			if f.name == strings.TrimSpace(n) {
				out = append(out, f)
				found = true
			}
		}
		if !found {
			var all []string
			for _, f := range faults {
				all = append(all, f.name)
			}
			return nil, fmt.Errorf("unknown fault %q (faults: %s)", n, strings.Join(all, ", "))
		}
	}
	return out, nil
}
