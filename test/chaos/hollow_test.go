package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
	"orch.io/orch/test/hollow"
)

// The leader kill with hollow nodes attached: -chaos.hollow agents in the
// test process (the real node agent with a hollow runtime, each with its
// own certificate and connections, see test/hollow), two pods on each, and
// node timing in Kubernetes' proportions (a Lease renewed every
// hollowHeartbeat, a node NotReady after hollowGrace without one). A new
// leader must take over their heartbeats without marking any of them
// NotReady and without evicting or deleting any of their pods.
const (
	hollowPodsPerNode = 2
	hollowHeartbeat   = 5 * time.Second
	hollowGrace       = 20 * time.Second
	hollowEviction    = 30 * time.Second
	hollowLabel       = "orch.io/hollow"
)

// hollowPoll is how often the fault lists the hollow nodes or pods while
// it waits for them: each list carries every one of them, so polling at
// the suite's 50 ms would be a load of its own on the masters.
const hollowPoll = 2 * time.Second

// hollowReadyTimeout bounds the wait for n hollow nodes to be Ready, and
// then for their pods to run: 2 minutes and 500 ms a node (6 min 10 s for
// 500), on a machine the masters share with the nodes and the test.
func hollowReadyTimeout(n int) time.Duration {
	return 2*time.Minute + time.Duration(n)*500*time.Millisecond
}

// pollEvery is poll with its own interval.
func pollEvery(t *testing.T, timeout, every time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(every)
	}
}

// hollowStartSpread is the window the hollow nodes start over: 50 ms a
// node (25 s for 500), twenty registrations a second, as kubemark's
// hollow-node pods come up a few at a time.
func hollowStartSpread(n int) time.Duration { return time.Duration(n) * 50 * time.Millisecond }

func init() {
	faults = append(faults, fault{name: "leader-kill-hollow", hold: 2 * time.Second, nodesUnchanged: true,
		// Hollow nodes need 500 pod subnets: /26s of the cluster's /16. The
		// later flags win over the chaos defaults (see newEnv).
		masterArgs: []string{"--node-grace", hollowGrace.String(), "--node-eviction-timeout", hollowEviction.String(),
			"--node-cidr-mask-size", "26"},
		inject: func(e *env, _ *rand.Rand) injection {
			h := e.attachHollowNodes(*flagHollow)
			l := e.c.WaitLeader(30 * time.Second)
			e.c.Kill(l)
			return injection{target: fmt.Sprintf("%s with %d hollow nodes", e.c.Masters[l].Name, *flagHollow),
				heal: func() { e.c.Start(l) }, verify: h.verify}
		}})
}

// hollowWatch records, from the moment the hollow nodes and their pods are
// in place, every hollow node that stops being Ready and every hollow pod
// that is deleted or marked for deletion.
type hollowWatch struct {
	e            *env
	pool         *hollow.Pool
	nodes, pods  *client.Watcher
	mu           sync.Mutex
	notReady     []string
	podsDeleted  []string
	nodesDone    chan struct{}
	podsDone     chan struct{}
	wantPods     int
	watchStopped bool
}

// attachHollowNodes starts n hollow nodes (labelled and tainted so that
// only the hollow workload goes there), waits for all of them to be Ready,
// runs hollowPodsPerNode pods on each and starts watching them.
func (e *env) attachHollowNodes(n int) *hollowWatch {
	t := e.t
	ca, err := pki.LoadClusterCA(e.c.PKIDir)
	must(t, err)
	var servers []string
	for _, m := range e.c.Masters {
		servers = append(servers, m.URL())
	}
	_, clusterCIDR, _ := net.ParseCIDR("10.244.0.0/16")
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("hollow-%03d", i)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	pool, err := hollow.Start(ctxT(t, 2*time.Minute), hollow.Config{Servers: servers, CA: ca, StateDir: t.TempDir(),
		ClusterCIDR: clusterCIDR, HeartbeatInterval: hollowHeartbeat, Logger: log, StartSpread: hollowStartSpread(n),
		// As kubemark's hollow nodes: no routes to every other node (a
		// list and a watch of every node per hollow node, N² node copies
		// served by the masters), which the fault is not about.
		NoRoutes: true,
		Labels:   map[string]string{hollowLabel: "true"},
		Taints:   []v1.Taint{{Key: hollowLabel, Effect: v1.TaintNoSchedule}}}, names)
	must(t, err)
	t.Cleanup(func() {
		if err := pool.Stop(); err != nil {
			t.Errorf("hollow nodes: %v", err)
		}
	})
	h := &hollowWatch{e: e, pool: pool, wantPods: n * hollowPodsPerNode}
	ready := 0
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("hollow nodes Ready when the test ended: %d of %d", ready, n)
		}
	})
	pollEvery(t, hollowReadyTimeout(n), hollowPoll, fmt.Sprintf("%d hollow nodes Ready", n), func() bool {
		if err := pool.Err(); err != nil {
			t.Fatal(err)
		}
		ready = h.readyNodes()
		return ready == n
	})
	replicas := int32(h.wantPods)
	rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "hollow-load", Namespace: "default"},
		Spec: v1.ReplicationControllerSpec{Replicas: &replicas, Selector: map[string]string{"app": "hollow-load"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "hollow-load"}},
				Spec: v1.PodSpec{NodeSelector: map[string]string{hollowLabel: "true"},
					Tolerations: []v1.Toleration{{Key: hollowLabel, Operator: "Exists", Effect: v1.TaintNoSchedule}},
					Containers:  []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "3600"}}}}}}}
	must(t, e.admin.Create(ctxT(t, 10*time.Second), rc))
	pollEvery(t, hollowReadyTimeout(n), hollowPoll, fmt.Sprintf("%d hollow pods Running", h.wantPods), func() bool {
		return h.runningPods() == h.wantPods
	})
	h.start()
	return h
}

// readyNodes counts the hollow nodes whose Ready condition is True.
func (h *hollowWatch) readyNodes() int {
	nodes, _, err := client.ListTyped[v1.Node](ctxT(h.e.t, 30*time.Second), h.e.admin, "nodes", "",
		client.ListOptions{LabelSelector: hollowLabel + "=true"})
	if err != nil {
		return -1
	}
	ready := 0
	for _, n := range nodes {
		if c := n.Status.Condition(v1.NodeReady); c != nil && c.Status == v1.ConditionTrue {
			ready++
		}
	}
	return ready
}

// runningPods counts the hollow workload's Running pods.
func (h *hollowWatch) runningPods() int {
	pods, _, err := client.ListTyped[v1.Pod](ctxT(h.e.t, 30*time.Second), h.e.admin, "pods", "default",
		client.ListOptions{LabelSelector: "app=hollow-load"})
	if err != nil {
		return -1
	}
	running := 0
	for _, p := range pods {
		if p.Status.Phase == v1.PodRunning && p.DeletionTimestamp == nil {
			running++
		}
	}
	return running
}

// start opens the two watches (from now: what was before is settled).
func (h *hollowWatch) start() {
	t := h.e.t
	var err error
	h.nodes, err = h.e.admin.Watch(context.Background(), "nodes", "", client.WatchOptions{ListOptions: client.ListOptions{LabelSelector: hollowLabel + "=true"}})
	must(t, err)
	h.pods, err = h.e.admin.Watch(context.Background(), "pods", "default", client.WatchOptions{ListOptions: client.ListOptions{LabelSelector: "app=hollow-load"}})
	must(t, err)
	h.nodesDone, h.podsDone = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(h.nodesDone)
		for ev := range h.nodes.Events() {
			var n v1.Node
			if json.Unmarshal(ev.Object, &n) != nil || ev.Type == v1.Bookmark {
				continue
			}
			if c := n.Status.Condition(v1.NodeReady); ev.Type == v1.Deleted || c == nil || c.Status != v1.ConditionTrue {
				h.mu.Lock()
				h.notReady = append(h.notReady, fmt.Sprintf("%s (%s)", n.Name, ev.Type))
				h.mu.Unlock()
			}
		}
	}()
	go func() {
		defer close(h.podsDone)
		for ev := range h.pods.Events() {
			var p v1.Pod
			if json.Unmarshal(ev.Object, &p) != nil || ev.Type == v1.Bookmark {
				continue
			}
			if ev.Type == v1.Deleted || p.DeletionTimestamp != nil {
				h.mu.Lock()
				h.podsDeleted = append(h.podsDeleted, fmt.Sprintf("%s on %s (%s)", p.Name, p.Spec.NodeName, ev.Type))
				h.mu.Unlock()
			}
		}
	}()
	t.Cleanup(h.stop)
}

func (h *hollowWatch) stop() {
	h.mu.Lock()
	stopped := h.watchStopped
	h.watchStopped = true
	h.mu.Unlock()
	if stopped {
		return
	}
	h.nodes.Stop()
	h.pods.Stop()
	<-h.nodesDone
	<-h.podsDone
}

// verify runs after the run settled: no hollow node was NotReady, no hollow
// pod deleted, every hollow pod still Running, the watches whole.
func (h *hollowWatch) verify() []string {
	var out []string
	if err := h.pool.Err(); err != nil {
		out = append(out, fmt.Sprintf("hollow nodes stopped: %v", err))
	}
	if n := h.runningPods(); n != h.wantPods {
		out = append(out, fmt.Sprintf("%d of %d hollow pods Running after the run", n, h.wantPods))
	}
	h.stop()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.notReady) > 0 {
		out = append(out, fmt.Sprintf("%d spurious NotReady hollow node observations, first %v", len(h.notReady), h.notReady[:min(5, len(h.notReady))]))
	}
	if len(h.podsDeleted) > 0 {
		out = append(out, fmt.Sprintf("%d hollow pods deleted or evicted, first %v", len(h.podsDeleted), h.podsDeleted[:min(5, len(h.podsDeleted))]))
	}
	for _, w := range []*client.Watcher{h.nodes, h.pods} {
		if err := w.Err(); err != nil {
			out = append(out, fmt.Sprintf("a hollow watch ended: %v", err))
		}
	}
	return out
}
