package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

const daemonSetManifest = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: agent
  namespace: default
spec:
  selector:
    matchLabels:
      app: ds-agent
  minReadySeconds: 1
  template:
    metadata:
      labels:
        app: ds-agent
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: agent
        image: busybox:1.35
        command: ["sh", "-c", "exec sleep 100000"]
`

// fluentdManifest is the Kubernetes documentation's
// controllers/daemonset.yaml, its image rewritten to the nodes' local
// busybox only so that it runs here.
const fluentdManifest = `apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: fluentd-elasticsearch
  namespace: kube-system
  labels:
    k8s-app: fluentd-logging
spec:
  selector:
    matchLabels:
      name: fluentd-elasticsearch
  template:
    metadata:
      labels:
        name: fluentd-elasticsearch
    spec:
      tolerations:
      # these tolerations are to have the daemonset runnable on control plane nodes
      # remove them if your control plane nodes should not run pods
      - key: node-role.kubernetes.io/control-plane
        operator: Exists
        effect: NoSchedule
      - key: node-role.kubernetes.io/master
        operator: Exists
        effect: NoSchedule
      containers:
      - name: fluentd-elasticsearch
        image: busybox:1.35
        resources:
          limits:
            memory: 200Mi
          requests:
            cpu: 100m
            memory: 200Mi
        volumeMounts:
        - name: varlog
          mountPath: /var/log
      # it may be desirable to set a high enough value for a short period of time
      terminationGracePeriodSeconds: 30
      volumes:
      - name: varlog
        hostPath:
          path: /var/log
`

// A DaemonSet on three real nodes (each in its own network namespace, as
// in the service tests): one running pod per node; a fourth node joins
// and gets one; tainted NoExecute, it loses it and gets none; a rolling
// update replaces the pods one node at a time (seen by a watch of the
// pods), and kubectl's rollout status, history and columns follow. The
// documentation's fluentd-elasticsearch DaemonSet applies with kubectl's
// validation on and runs one pod per node too.
func TestDaemonSetOnRealNodes(t *testing.T) {
	// Parallel, as the service and StatefulSet tests on their own gossiping
	// networks: it has no bound on time that the machine's load could break.
	parallel(t)
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network, Gossip: true})
	cl := c.Client()
	k := adminKubectl(t, c)
	common := []string{"--heartbeat-interval", "1s", "--resync-interval", "2s"}
	for _, name := range []string{"node-a", "node-b", "node-c"} {
		c.StartNode(network, name, common...)
	}
	waitReadyNodes(t, cl, 3)

	if out := k.ok(t, "", "apply", "-f", manifest(t, "ds.yaml", daemonSetManifest)); !strings.Contains(out, "daemonset.apps/agent created") {
		t.Fatalf("kubectl apply said %q", out)
	}
	var ds v1.DaemonSet
	if err := cl.Get(ctxT(t, 5*time.Second), "daemonsets", "default", "agent", &ds); err != nil {
		t.Fatal(err)
	}
	perNode := func(want ...string) map[string]v1.Pod {
		t.Helper()
		var got map[string]v1.Pod
		eventually(t, 90*time.Second, fmt.Sprintf("one ready pod on each of %v", want), func() error {
			var err error
			got, err = daemonPods(t, cl, "default", "app=ds-agent", ds.UID)
			if err != nil {
				return err
			}
			var nodes []string
			for n, p := range got {
				if !p.IsReady() {
					return fmt.Errorf("pod %s on %s is not ready", p.Name, n)
				}
				nodes = append(nodes, n)
			}
			slices.Sort(nodes)
			if !slices.Equal(nodes, want) {
				return fmt.Errorf("pods on %v", nodes)
			}
			return nil
		})
		return got
	}
	first := perNode("node-a", "node-b", "node-c")
	for _, p := range first {
		if p.Labels["controller-revision-hash"] == "" || !hasToleration(p, "node.kubernetes.io/unreachable", v1.TaintNoExecute) {
			t.Fatalf("pod %s: labels %v tolerations %v", p.Name, p.Labels, p.Spec.Tolerations)
		}
	}
	waitDaemonSetStatus(t, cl, "default", "agent", 3, 3)
	desc := k.ok(t, "", "describe", "ds", "agent")
	for _, want := range []string{"Desired Number of Nodes Scheduled: 3", "Current Number of Nodes Scheduled: 3",
		"Pods Status:  3 Running", "SuccessfulCreate"} {
		if !strings.Contains(desc, want) {
			t.Fatalf("kubectl describe ds lacks %q:\n%s", want, desc)
		}
	}

	// A fourth node joins and gets a pod.
	c.StartNode(network, "node-d", common...)
	waitReadyNodes(t, cl, 4)
	perNode("node-a", "node-b", "node-c", "node-d")
	waitDaemonSetStatus(t, cl, "default", "agent", 4, 4)

	// Tainted without the daemon set tolerating it, it loses its pod and
	// gets none back.
	taintNode(t, cl, "node-d", v1.Taint{Key: "dedicated", Value: "db", Effect: v1.TaintNoExecute})
	perNode("node-a", "node-b", "node-c")
	waitDaemonSetStatus(t, cl, "default", "agent", 3, 3)

	// kubectl's columns, from the server's Table.
	tab := parseKubectlTable(t, k.ok(t, "", "get", "ds", "-o", "wide"))
	if want := []string{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE", "CONTAINERS", "IMAGES", "SELECTOR"}; !slices.Equal(tab.header, want) {
		t.Fatalf("header %v, want %v", tab.header, want)
	}
	if row := tab.row(t, "agent"); row["DESIRED"] != "3" || row["CURRENT"] != "3" || row["UP-TO-DATE"] != "3" || row["NODE SELECTOR"] != "<none>" ||
		row["IMAGES"] != "busybox:1.35" || row["SELECTOR"] != "app=ds-agent" {
		t.Fatalf("row %v", row)
	}

	// A rolling update (maxUnavailable 1) replaces the pods one node at a
	// time: a watch of the pods never sees two nodes without an available
	// pod.
	l, err := cl.List(ctxT(t, 5*time.Second), "pods", "default", client.ListOptions{LabelSelector: "app=ds-agent"})
	if err != nil {
		t.Fatal(err)
	}
	mon := watchUnavailable(t, cl, l.ResourceVersion, ds.UID, []string{"node-a", "node-b", "node-c"})
	k.ok(t, "", "patch", "ds", "agent", "-p", `{"spec":{"template":{"metadata":{"annotations":{"revision":"two"}}}}}`)
	if out := k.ok(t, "", "rollout", "status", "ds/agent", "--timeout=120s"); !strings.Contains(out, `daemon set "agent" successfully rolled out`) {
		t.Fatalf("kubectl rollout status said %q", out)
	}
	second := perNode("node-a", "node-b", "node-c")
	for n, p := range second {
		if p.Name == first[n].Name || p.Annotations["revision"] != "two" || p.Labels["controller-revision-hash"] == first[n].Labels["controller-revision-hash"] {
			t.Fatalf("node %s still runs %s (%v)", n, p.Name, p.Labels)
		}
	}
	if most, replaced := mon.stop(); most != 1 || replaced != 3 {
		t.Fatalf("during the rolling update at most %d nodes lacked an available pod and %d pods were replaced; want 1 and 3", most, replaced)
	}
	if got := rolloutRevisions(t, k, "ds/agent"); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("kubectl rollout history lists revisions %v, want [1 2]", got)
	}

	// kubectl rollout undo puts the first template back: its revision is
	// renumbered 3 and the pods roll back to its hash.
	if out := k.ok(t, "", "rollout", "undo", "ds/agent"); !strings.Contains(out, "daemonset.apps/agent rolled back") {
		t.Fatalf("kubectl rollout undo said %q", out)
	}
	if out := k.ok(t, "", "rollout", "status", "ds/agent", "--timeout=120s"); !strings.Contains(out, `daemon set "agent" successfully rolled out`) {
		t.Fatalf("kubectl rollout status said %q", out)
	}
	for n, p := range perNode("node-a", "node-b", "node-c") {
		if p.Annotations["revision"] != "" || p.Labels["controller-revision-hash"] != first[n].Labels["controller-revision-hash"] {
			t.Fatalf("after the undo node %s runs %s (%v, %v)", n, p.Name, p.Labels, p.Annotations)
		}
	}
	if got := rolloutRevisions(t, k, "ds/agent"); !slices.Equal(got, []string{"2", "3"}) {
		t.Fatalf("kubectl rollout history lists revisions %v after the undo, want [2 3]", got)
	}

	// The documentation's DaemonSet, with kubectl's validation on.
	if _, _, code := k.run(t, "", "get", "namespace", "kube-system"); code != 0 {
		k.ok(t, "", "create", "namespace", "kube-system")
	}
	if out := k.ok(t, "", "apply", "-f", manifest(t, "fluentd.yaml", fluentdManifest)); !strings.Contains(out, "daemonset.apps/fluentd-elasticsearch created") {
		t.Fatalf("kubectl apply said %q", out)
	}
	var fluentd v1.DaemonSet
	if err := cl.Get(ctxT(t, 5*time.Second), "daemonsets", "kube-system", "fluentd-elasticsearch", &fluentd); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, "a fluentd pod bound to each untainted node", func() error {
		got, err := daemonPods(t, cl, "kube-system", "name=fluentd-elasticsearch", fluentd.UID)
		if err != nil {
			return err
		}
		var nodes []string
		for n := range got {
			nodes = append(nodes, n)
		}
		slices.Sort(nodes)
		if !slices.Equal(nodes, []string{"node-a", "node-b", "node-c"}) {
			return fmt.Errorf("pods on %v", nodes)
		}
		return nil
	})

	// kubectl drain knows daemon pods: it refuses without
	// --ignore-daemonsets, and with it cordons the node and leaves them.
	if _, errOut, code := k.run(t, "", "drain", "node-a"); code == 0 || !strings.Contains(errOut, "cannot delete DaemonSet-managed Pods") {
		t.Fatalf("kubectl drain without --ignore-daemonsets: exit %d, %q", code, errOut)
	}
	before, err := daemonPods(t, cl, "default", "app=ds-agent", ds.UID)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, code := k.run(t, "", "drain", "node-a", "--ignore-daemonsets", "--timeout=60s")
	if code != 0 || !strings.Contains(out+errOut, "ignoring DaemonSet-managed Pods") || !strings.Contains(out, "node/node-a drained") {
		t.Fatalf("kubectl drain --ignore-daemonsets: exit %d, %q %q", code, out, errOut)
	}
	after, err := daemonPods(t, cl, "default", "app=ds-agent", ds.UID)
	if err != nil {
		t.Fatal(err)
	}
	if after["node-a"].UID != before["node-a"].UID {
		t.Fatalf("the drain replaced the daemon pod of node-a: %s, then %s", before["node-a"].Name, after["node-a"].Name)
	}

	// Deleting the daemon set deletes its pods.
	k.ok(t, "", "delete", "ds", "agent")
	eventually(t, 60*time.Second, "the daemon set's pods gone", func() error {
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "app=ds-agent"})
		if err != nil || len(pods) != 0 {
			return fmt.Errorf("%d pods, %v", len(pods), err)
		}
		return nil
	})
}

// waitReadyNodes waits until n nodes are Ready.
func waitReadyNodes(t *testing.T, cl *client.Client, n int) {
	t.Helper()
	waitFor(t, 90*time.Second, fmt.Sprintf("%d nodes Ready", n), func() (bool, string) {
		ns, _, err := client.ListTyped[v1.Node](ctxT(t, 5*time.Second), cl, "nodes", "", client.ListOptions{})
		ready := 0
		for _, nd := range ns {
			if r := nd.Status.Condition(v1.NodeReady); r != nil && r.Status == v1.ConditionTrue {
				ready++
			}
		}
		return err == nil && ready == n, fmt.Sprint(ready, err)
	})
}

// daemonPods returns the live pods of the daemon set uid by node, failing
// when a node has two or a pod is owned otherwise than by the set.
func daemonPods(t *testing.T, cl *client.Client, ns, selector, uid string) (map[string]v1.Pod, error) {
	pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", ns, client.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	out := map[string]v1.Pod{}
	for _, p := range pods {
		if ref := p.ControllerRef(); ref == nil || ref.UID != uid || ref.Kind != "DaemonSet" || ref.APIVersion != "apps/v1" {
			t.Fatalf("pod %s has controller %+v", p.Name, ref)
		}
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Spec.NodeName == "" {
			return nil, fmt.Errorf("pod %s is not bound yet", p.Name)
		}
		if q, dup := out[p.Spec.NodeName]; dup {
			return nil, fmt.Errorf("node %s runs %s and %s", p.Spec.NodeName, q.Name, p.Name)
		}
		out[p.Spec.NodeName] = p
	}
	return out, nil
}

// waitDaemonSetStatus waits until the status counts desired nodes and as
// many available and up to date, for the current generation.
func waitDaemonSetStatus(t *testing.T, cl *client.Client, ns, name string, desired, available int32) {
	t.Helper()
	eventually(t, 60*time.Second, "the daemon set's status", func() error {
		var ds v1.DaemonSet
		if err := cl.Get(ctxT(t, 5*time.Second), "daemonsets", ns, name, &ds); err != nil {
			return err
		}
		st := ds.Status
		if st.ObservedGeneration != ds.Generation || st.DesiredNumberScheduled != desired || st.CurrentNumberScheduled != desired ||
			st.NumberAvailable != available || st.UpdatedNumberScheduled != desired || st.NumberMisscheduled != 0 || st.NumberUnavailable != desired-available {
			return fmt.Errorf("status %+v (generation %d)", st, ds.Generation)
		}
		return nil
	})
}

func hasToleration(p v1.Pod, key, effect string) bool {
	return slices.ContainsFunc(p.Spec.Tolerations, func(tol v1.Toleration) bool { return tol.Key == key && tol.Effect == effect })
}

// taintNode adds a taint to the node (retrying on conflicts with its
// agent's status writes).
func taintNode(t *testing.T, cl *client.Client, name string, taint v1.Taint) {
	t.Helper()
	eventually(t, 30*time.Second, "taint "+name, func() error {
		var n v1.Node
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", name, &n); err != nil {
			return err
		}
		n.Spec.Taints = append(n.Spec.Taints, taint)
		return cl.Update(ctxT(t, 5*time.Second), &n)
	})
}

// unavailableMonitor follows the daemon set's pods by a watch and records
// the most nodes that lacked an available (ready, not terminating) pod at
// once, and how many pods were deleted.
type unavailableMonitor struct {
	w        *client.Watcher
	mu       sync.Mutex
	most     int
	replaced int
	err      error
	done     chan struct{}
}

func watchUnavailable(t *testing.T, cl *client.Client, rv, uid string, nodes []string) *unavailableMonitor {
	t.Helper()
	w, err := cl.Watch(context.Background(), "pods", "default", client.WatchOptions{ResourceVersion: rv,
		ListOptions: client.ListOptions{LabelSelector: "app=ds-agent"}})
	if err != nil {
		t.Fatal(err)
	}
	m := &unavailableMonitor{w: w, done: make(chan struct{})}
	pods := map[string]v1.Pod{}
	// The pods as listed at rv: all three ready.
	list, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "app=ds-agent"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range list {
		pods[p.Name] = p
	}
	go func() {
		defer close(m.done)
		for ev := range w.Events() {
			var p v1.Pod
			if err := json.Unmarshal(ev.Object, &p); err != nil {
				m.mu.Lock()
				m.err = err
				m.mu.Unlock()
				return
			}
			if ev.Type == v1.Deleted {
				delete(pods, p.Name)
			} else {
				if old, ok := pods[p.Name]; ok && old.DeletionTimestamp == nil && p.DeletionTimestamp != nil {
					m.mu.Lock()
					m.replaced++
					m.mu.Unlock()
				}
				pods[p.Name] = p
			}
			serving := map[string]bool{}
			for _, p := range pods {
				if ref := p.ControllerRef(); ref != nil && ref.UID == uid && p.DeletionTimestamp == nil && p.IsReady() {
					serving[p.Spec.NodeName] = true
				}
			}
			lacking := 0
			for _, n := range nodes {
				if !serving[n] {
					lacking++
				}
			}
			m.mu.Lock()
			m.most = max(m.most, lacking)
			m.mu.Unlock()
		}
	}()
	return m
}

// stop ends the watch and returns the most nodes seen without an
// available pod at once and the number of pods deleted.
func (m *unavailableMonitor) stop() (most, replaced int) {
	m.w.Stop()
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return -1, -1
	}
	return m.most, m.replaced
}

// rolloutRevisions returns the revision numbers `kubectl rollout history`
// lists for what.
func rolloutRevisions(t *testing.T, k *kubectlCLI, what string) []string {
	t.Helper()
	out := k.ok(t, "", "rollout", "history", what)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var revs []string
	for i, l := range lines {
		f := strings.Fields(l)
		if i == 0 || len(f) == 0 {
			continue
		}
		if i == 1 {
			if f[0] != "REVISION" {
				t.Fatalf("kubectl rollout history said %q", out)
			}
			continue
		}
		revs = append(revs, f[0])
	}
	return revs
}
