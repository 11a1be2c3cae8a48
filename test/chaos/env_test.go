package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// The workloads every run carries: "steady" (with a service, so nodes hold
// iptables rules for it) is never touched by the recorder; "scaled" is
// scaled up and down by it.
const (
	keysNamespace = "chaos"
	steadyRC      = "steady"
	scaledRC      = "scaled"
)

// Node timing of the chaos cluster: short, so a cut-off worker is evicted
// within a run.
const (
	nodeGrace    = 4 * time.Second
	nodeEviction = 8 * time.Second
)

// env is one chaos cluster: three masters and two nodes, each in its own
// network namespace on a test bridge.
type env struct {
	t     *testing.T
	net   *harness.Net
	c     *harness.Cluster
	nodes []*harness.Node
	admin *client.Client
}

func newEnv(t *testing.T, opts harness.Options) *env {
	t.Helper()
	e := &env{t: t, net: harness.NewNet(t)}
	opts.Net, opts.Gossip = e.net, true
	// The chaos defaults first: a fault's own flags come later and win.
	opts.MasterArgs = append([]string{"--node-grace", nodeGrace.String(), "--node-eviction-timeout", nodeEviction.String()}, opts.MasterArgs...)
	e.c = harness.StartCluster(t, bins, opts)
	e.admin = e.c.Client()
	for _, name := range []string{"n1", "n2"} {
		e.nodes = append(e.nodes, e.c.StartNode(e.net, name, "--heartbeat-interval", "1s"))
	}
	ctx := ctxT(t, 10*time.Second)
	must(t, e.admin.Create(ctx, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: keysNamespace}}))
	must(t, e.admin.Create(ctx, rcOf(steadyRC, 2)))
	must(t, e.admin.Create(ctx, rcOf(scaledRC, 2)))
	must(t, e.admin.Create(ctx, &v1.Service{ObjectMeta: v1.ObjectMeta{Name: steadyRC, Namespace: "default"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": steadyRC},
			Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}))
	e.waitConverged(90 * time.Second)
	// And the nodes' proxies hold the steady service's two endpoints (the
	// only pod backends) and the kubernetes service's, every master: the
	// rules a fault must leave as they were.
	deadline := time.Now().Add(60 * time.Second)
	for {
		states, err := e.nodeStates()
		ready := err == nil
		for _, st := range states {
			masters := 0
			for _, l := range strings.Split(st.rules, "\n") {
				if strings.Contains(l, "-j DNAT --to-destination") && strings.HasSuffix(l, ":6443") {
					masters++
				}
			}
			ready = ready && strings.Count(st.rules, "-j DNAT --to-destination 10.244.") == 2 && masters == len(e.c.Masters)
		}
		if ready {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("the nodes did not program the steady service's endpoints within 60s: %v %v", states, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// rcOf is a replication controller of pods that stop at once on SIGTERM.
func rcOf(name string, replicas int32) *v1.ReplicationController {
	grace := int64(1)
	return &v1.ReplicationController{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.ReplicationControllerSpec{Replicas: &replicas, Selector: map[string]string{"app": name},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec: v1.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
					Command: []string{"sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"},
					Ports:   []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}},
	}
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// converged reports whether both replication controllers have their
// replica count of Running pods in the API, and exactly those pods run on
// the nodes (one container each, on one node).
func (e *env) converged() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	running, err := e.runningByPod()
	if err != nil {
		return err
	}
	for _, name := range []string{steadyRC, scaledRC} {
		var rc v1.ReplicationController
		if err := e.admin.Get(ctx, "replicationcontrollers", "default", name, &rc); err != nil {
			return err
		}
		pods, _, err := client.ListTyped[v1.Pod](ctx, e.admin, "pods", "default", client.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return err
		}
		want := map[string]bool{}
		for _, p := range pods {
			if p.DeletionTimestamp != nil || p.Status.Phase != v1.PodRunning {
				return fmt.Errorf("rc %s: pod %s is %s (deleting: %v)", name, p.Name, p.Status.Phase, p.DeletionTimestamp != nil)
			}
			want[p.Name] = true
		}
		if int32(len(want)) != *rc.Spec.Replicas {
			return fmt.Errorf("rc %s: %d pods for %d replicas", name, len(want), *rc.Spec.Replicas)
		}
		for p := range want {
			if len(running[p]) != 1 {
				return fmt.Errorf("rc %s: pod %s runs on %v", name, p, running[p])
			}
		}
		for p, on := range running {
			if strings.HasPrefix(p, name+"-") && !want[p] {
				return fmt.Errorf("rc %s: pod %s is not in the API but runs on %v", name, p, on)
			}
		}
	}
	return nil
}

func (e *env) waitConverged(timeout time.Duration) {
	e.t.Helper()
	if err := e.pollConverged(timeout); err != nil {
		e.t.Fatalf("the replication controllers did not converge within %v: %v", timeout, err)
	}
}

func (e *env) pollConverged(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := e.converged()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// runningByPod returns, for each pod name, the nodes that run a container
// of it (container IDs start with the pod name).
func (e *env) runningByPod() (map[string][]string, error) {
	// The nodes are asked at once: on a busy machine one `ctr tasks ls`
	// takes a second or more, and the poll should see one moment.
	tasks := make([]map[string]int, len(e.nodes))
	errs := make([]error, len(e.nodes))
	var wg sync.WaitGroup
	for i, n := range e.nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tasks[i], errs[i] = n.Tasks()
		}()
	}
	wg.Wait()
	out := map[string][]string{}
	for i, n := range e.nodes {
		if errs[i] != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, errs[i])
		}
		for id := range tasks[i] {
			pod, _, _ := strings.Cut(id, "_")
			out[pod] = append(out[pod], n.Name)
		}
	}
	return out, nil
}

// nodeState is what a master outage must not change on a node: the
// steady pods' containers (ID and PID) and the node's iptables rules of orch.
type nodeState struct {
	tasks map[string]int
	rules string
}

func (e *env) nodeStates() (map[string]nodeState, error) {
	out := map[string]nodeState{}
	for _, n := range e.nodes {
		tasks, err := n.Tasks()
		if err != nil {
			return nil, fmt.Errorf("node %s: %w", n.Name, err)
		}
		steady := map[string]int{}
		for id, pid := range tasks {
			if strings.HasPrefix(id, steadyRC+"-") {
				steady[id] = pid
			}
		}
		var rules []string
		for _, table := range []string{"nat", "filter"} {
			b, err := exec.Command("nsenter", "--net=/run/netns/"+n.NetNS, "--", "iptables-save", "-t", table).CombinedOutput()
			if err != nil {
				return nil, fmt.Errorf("node %s: iptables-save: %v: %s", n.Name, err, b)
			}
			for _, l := range strings.Split(string(b), "\n") {
				if strings.Contains(l, "ORCH") {
					rules = append(rules, table+": "+l)
				}
			}
		}
		sort.Strings(rules)
		out[n.Name] = nodeState{tasks: steady, rules: strings.Join(rules, "\n")}
	}
	return out, nil
}

// diffNodeStates describes what changed between two nodeStates.
func diffNodeStates(before, after map[string]nodeState) []string {
	var out []string
	for name, b := range before {
		a := after[name]
		if fmt.Sprint(b.tasks) != fmt.Sprint(a.tasks) {
			out = append(out, fmt.Sprintf("node %s: steady containers changed: %v -> %v", name, b.tasks, a.tasks))
		}
		if b.rules != a.rules {
			out = append(out, fmt.Sprintf("node %s: iptables rules changed:\n--- before\n%s\n--- after\n%s", name, b.rules, a.rules))
		}
	}
	sort.Strings(out)
	return out
}

// podWatch follows every pod and reports a pod (by UID) bound to two
// different nodes.
type podWatch struct {
	w     *client.Watcher
	done  chan struct{}
	mu    sync.Mutex
	bound map[string]string // uid -> node
	twice []string
}

func (e *env) watchPods() *podWatch {
	e.t.Helper()
	w, err := e.admin.Watch(context.Background(), "pods", "", client.WatchOptions{})
	if err != nil {
		e.t.Fatalf("watch pods: %v", err)
	}
	pw := &podWatch{w: w, done: make(chan struct{}), bound: map[string]string{}}
	go func() {
		defer close(pw.done)
		for ev := range w.Events() {
			var p v1.Pod
			if err := json.Unmarshal(ev.Object, &p); err != nil || p.Spec.NodeName == "" {
				continue
			}
			pw.mu.Lock()
			if was, ok := pw.bound[p.UID]; ok && was != p.Spec.NodeName {
				pw.twice = append(pw.twice, fmt.Sprintf("pod %s (uid %s) bound to %s, then to %s", p.Name, p.UID, was, p.Spec.NodeName))
			}
			pw.bound[p.UID] = p.Spec.NodeName
			pw.mu.Unlock()
		}
	}()
	e.t.Cleanup(pw.stop)
	return pw
}

func (pw *podWatch) stop() { pw.w.Stop(); <-pw.done }

// result stops the watch and returns its violations.
func (pw *podWatch) result() []string {
	pw.stop()
	pw.mu.Lock()
	defer pw.mu.Unlock()
	out := append([]string(nil), pw.twice...)
	if err := pw.w.Err(); err != nil {
		out = append(out, fmt.Sprintf("the pod watch ended: %v", err))
	}
	return out
}

// copyPoller polls the nodes' tasks and reports a pod running on two nodes
// at once.
type copyPoller struct {
	stopc chan struct{}
	done  chan struct{}
	stop  func()
	// at holds when each successful poll finished; lastErr is the last
	// failed poll's error.
	at      []time.Time
	lastErr error
	dup     []string
}

// pollsBetween counts the successful polls that finished in [from, to].
func (cp *copyPoller) pollsBetween(from, to time.Time) int {
	n := 0
	for _, at := range cp.at {
		if !at.Before(from) && !at.After(to) {
			n++
		}
	}
	return n
}

func (e *env) pollCopies() *copyPoller {
	cp := &copyPoller{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(cp.done)
		for {
			running, err := e.runningByPod()
			if err == nil {
				cp.at = append(cp.at, time.Now())
				for pod, on := range running {
					if len(on) > 1 && len(cp.dup) < 10 {
						cp.dup = append(cp.dup, fmt.Sprintf("pod %s runs on %v at once", pod, on))
					}
				}
			} else {
				cp.lastErr = err
			}
			select {
			case <-cp.stopc:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	e.t.Cleanup(func() { once.Do(func() { close(cp.stopc) }); <-cp.done })
	cp.stop = func() { once.Do(func() { close(cp.stopc) }); <-cp.done }
	return cp
}
