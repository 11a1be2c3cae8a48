package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// nodeCluster starts three masters and n node agents, each in its own
// network namespace on a bridge the test made, and waits until all nodes are
// Ready.
func nodeCluster(t *testing.T, n int, gossip bool, masterArgs []string, nodeArgs ...string) (*harness.Cluster, []*harness.Node) {
	t.Helper()
	return nodeClusterWith(t, n, harness.Options{Gossip: gossip, MasterArgs: masterArgs}, nodeArgs...)
}

// nodeClusterWith is nodeCluster with the cluster's options (Net is set
// here).
func nodeClusterWith(t *testing.T, n int, opts harness.Options, nodeArgs ...string) (*harness.Cluster, []*harness.Node) {
	t.Helper()
	network := harness.NewNet(t)
	opts.Net = network
	c := startCluster(t, opts)
	var nodes []*harness.Node
	for i := 0; i < n; i++ {
		nodes = append(nodes, c.StartNode(network, fmt.Sprintf("node-%d", i+1),
			append([]string{"--heartbeat-interval", "1s", "--resync-interval", "2s"}, nodeArgs...)...))
	}
	cl := c.Client()
	waitFor(t, 60*time.Second, "nodes Ready", func() (bool, string) {
		ns, _, err := client.ListTyped[v1.Node](ctxT(t, 5*time.Second), cl, "nodes", "", client.ListOptions{})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, nd := range ns {
			if c := nd.Status.Condition(v1.NodeReady); c != nil && c.Status == v1.ConditionTrue && nd.Spec.PodCIDR != "" {
				ready++
			}
		}
		return ready == n, fmt.Sprintf("%d of %d nodes ready", ready, n)
	})
	return c, nodes
}

// waitFor polls cond until it holds or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, state := cond()
		if ok {
			return
		}
		if state != "" {
			last = state
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s; last: %s", timeout, what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runningPods lists the live pods matching selector that are Running with a pod IP.
func runningPods(t *testing.T, cl *client.Client, selector string) []v1.Pod {
	pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil
	}
	var out []v1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == v1.PodRunning && p.Status.PodIP != "" {
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

func getPod(t *testing.T, cl *client.Client, name string) *v1.Pod {
	t.Helper()
	var p v1.Pod
	if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", name, &p); err != nil {
		t.Fatalf("get pod %s: %v", name, err)
	}
	return &p
}

func nodeByName(nodes []*harness.Node, name string) *harness.Node {
	for _, n := range nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// httpGet fetches a URL from inside a node's network namespace.
func httpGet(nd *harness.Node, url string) (string, error) {
	return nd.Exec(10*time.Second, "busybox", "timeout", "5", "busybox", "wget", "-q", "-O", "-", url)
}

const httpdCommand = "hostname > /tmp/index.html && exec httpd -f -p 8080 -h /tmp"

// Done when 1: an RC of three busybox httpd pods on two nodes runs with
// distinct IPs, each pod answers HTTP from its node's network namespace, and
// two containers of one pod share localhost and the hostname.
func TestNodeRunsPods(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 2, false, nil)
	cl := c.Client()
	rc := rcOf("web", 3)
	rc.Spec.Template.Spec.Containers[0].Command = []string{"sh", "-c", httpdCommand}
	if err := cl.Create(ctxT(t, 5*time.Second), rc); err != nil {
		t.Fatal(err)
	}
	var pods []v1.Pod
	waitFor(t, 60*time.Second, "3 web pods Running", func() (bool, string) {
		pods = runningPods(t, cl, "app=web")
		return len(pods) == 3, fmt.Sprintf("%d running", len(pods))
	})
	ips, byNode := map[string]bool{}, map[string]int{}
	for _, p := range pods {
		if ips[p.Status.PodIP] {
			t.Errorf("pod IP %s given twice", p.Status.PodIP)
		}
		ips[p.Status.PodIP] = true
		byNode[p.Spec.NodeName]++
		nd := nodeByName(nodes, p.Spec.NodeName)
		if p.Status.HostIP != nd.IP {
			t.Errorf("pod %s hostIP = %s, want %s", p.Name, p.Status.HostIP, nd.IP)
		}
		if r := p.Status.Condition(v1.PodReady); r == nil || r.Status != v1.ConditionTrue {
			t.Errorf("pod %s is not Ready: %+v", p.Name, p.Status.Conditions)
		}
		out, err := httpGet(nd, "http://"+p.Status.PodIP+":8080/")
		if err != nil || strings.TrimSpace(out) != p.Name {
			t.Errorf("GET pod %s (%s) from %s: %q %v", p.Name, p.Status.PodIP, nd.Name, out, err)
		}
	}
	if len(byNode) != 2 {
		t.Errorf("pods spread over %d nodes, want 2: %v", len(byNode), byNode)
	}

	// Two containers in one pod: localhost and hostname are shared.
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "duo", Namespace: "default", Labels: map[string]string{"app": "duo"}},
		Spec: v1.PodSpec{Containers: []v1.Container{
			{Name: "server", Image: "busybox:1.35", Command: []string{"sh", "-c", "hostname > /tmp/index.html && exec httpd -f -p 9090 -h /tmp"}},
			{Name: "client", Image: "busybox:1.35", Command: []string{"sh", "-c",
				"while true; do echo \"$(hostname) $(timeout 2 wget -q -O - http://127.0.0.1:9090/)\" > /shared/seen; sleep 0.2; done"},
				VolumeMounts: []v1.VolumeMount{{Name: "shared", MountPath: "/shared"}}},
			{Name: "reader", Image: "busybox:1.35", Command: []string{"sh", "-c", "hostname > /tmp/index.html; cd /shared && exec httpd -f -p 9091 -h /shared"},
				VolumeMounts: []v1.VolumeMount{{Name: "shared", MountPath: "/shared"}}},
		}, Volumes: []v1.Volume{{Name: "shared", EmptyDir: &v1.EmptyDirVolumeSource{}}}}}
	if err := cl.Create(ctxT(t, 5*time.Second), pod); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the duo pod answering", func() (bool, string) {
		ps := runningPods(t, cl, "app=duo")
		if len(ps) != 1 {
			return false, "not running"
		}
		nd := nodeByName(nodes, ps[0].Spec.NodeName)
		// The reader serves the emptyDir the client writes: "<client's
		// hostname> <server's hostname fetched over localhost>".
		out, err := httpGet(nd, "http://"+ps[0].Status.PodIP+":9091/seen")
		return err == nil && strings.TrimSpace(out) == "duo duo", fmt.Sprintf("%q %v", out, err)
	})
}

// The examples that `make run` applies run as the README says.
func TestExamplesRun(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	if out, stderr, err := c.Orchctl("", "apply", "-f", "../../examples"); err != nil {
		t.Fatalf("orchctl apply -f examples: %v\n%s%s", err, out, stderr)
	}
	var web []v1.Pod
	waitFor(t, 60*time.Second, "the examples running and ready", func() (bool, string) {
		web = runningPods(t, cl, "app=web")
		counter := runningPods(t, cl, "app=counter")
		if locked := runningPods(t, cl, "app=locked"); len(locked) != 1 {
			return false, fmt.Sprintf("%d restricted pods running", len(locked))
		}
		ready := 0
		for _, p := range web {
			if r := p.Status.Condition(v1.PodReady); r != nil && r.Status == v1.ConditionTrue {
				ready++
			}
		}
		var ep v1.Endpoints
		if err := cl.Get(ctxT(t, 5*time.Second), "endpoints", "default", "web", &ep); err != nil || len(ep.Subsets) == 0 {
			return false, fmt.Sprint(err)
		}
		return ready == 3 && len(counter) == 1 && len(ep.Subsets[0].Addresses) == 3, fmt.Sprintf("%d web ready, %d counter", ready, len(counter))
	})
	if out, err := httpGet(nodes[0], "http://"+web[0].Status.PodIP+":8080/"); err != nil || strings.TrimSpace(out) != web[0].Name {
		t.Errorf("GET %s: %q %v", web[0].Name, out, err)
	}
	// The web pods stop at once on SIGTERM (their shell traps it).
	start := time.Now()
	if _, stderr, err := c.Orchctl("", "delete", "pod", web[0].Name); err != nil {
		t.Fatalf("delete: %v %s", err, stderr)
	}
	waitFor(t, 30*time.Second, "the deleted web pod gone", func() (bool, string) {
		var p v1.Pod
		return v1.IsNotFound(cl.Get(ctxT(t, 5*time.Second), "pods", "default", web[0].Name, &p)), ""
	})
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a web pod took %v to stop", took)
	}
}

// Done when 6: nodes find the masters by gossip alone; a node whose agent
// (and so its gossip) dies becomes NotReady once gossip declares it dead and
// half the grace has passed without a heartbeat (gossip speeds up the
// detection of a death, never keeps a node alive), and its pods are
// replaced on the other node after the eviction timeout.
func TestNodeFailureByGossip(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 2, true, []string{"--node-grace", "4s", "--node-eviction-timeout", "8s",
		"--gossip-probe-interval", "200ms", "--gossip-probe-timeout", "100ms"})
	cl := c.Client()
	rc := rcOf("spread", 2)
	rc.Spec.Template.Spec.Containers[0].Command = []string{"sleep", "100000"}
	if err := cl.Create(ctxT(t, 5*time.Second), rc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "one pod running on each node", func() (bool, string) {
		pods := runningPods(t, cl, "app=spread")
		on := map[string]bool{}
		for _, p := range pods {
			on[p.Spec.NodeName] = true
		}
		return len(pods) == 2 && len(on) == 2, fmt.Sprintf("%d pods on %v", len(pods), on)
	})
	dead, alive := nodes[0], nodes[1]
	killed := time.Now()
	dead.Kill()
	waitFor(t, 30*time.Second, "the dead node NotReady", func() (bool, string) {
		var n v1.Node
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", dead.Name, &n); err != nil {
			return false, err.Error()
		}
		r := n.Status.Condition(v1.NodeReady)
		return r != nil && r.Status != v1.ConditionTrue, fmt.Sprintf("%+v", r)
	})
	// The silence counts from the last heartbeat, up to 1 s before the kill.
	if took := time.Since(killed); took < time.Second {
		t.Errorf("NotReady %v after the kill, before the 2 s grace of a gossip-dead node (less a 1 s heartbeat interval)", took)
	}
	waitFor(t, 60*time.Second, "both pods running on the live node", func() (bool, string) {
		pods := runningPods(t, cl, "app=spread")
		n := 0
		for _, p := range pods {
			if p.Spec.NodeName == alive.Name {
				n++
			}
		}
		return n == 2, fmt.Sprintf("%d pods on %s of %d", n, alive.Name, len(pods))
	})
	// The live node is still Ready: the failure detector blamed only the dead one.
	var n v1.Node
	if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", alive.Name, &n); err != nil {
		t.Fatal(err)
	}
	if r := n.Status.Condition(v1.NodeReady); r == nil || r.Status != v1.ConditionTrue {
		t.Errorf("the live node is not Ready: %+v", r)
	}
}

// An image uploaded with `orchctl image load` runs with imagePullPolicy
// Never: the air-gapped path through a master to every node's agent.
func TestImageLoad(t *testing.T) {
	parallel(t)
	c, _ := nodeCluster(t, 2, false, nil)
	cl := c.Client()
	file := filepath.Join(t.TempDir(), "tools.tar")
	if out, err := exec.Command(bins.Orchd, "image", "busybox", "--name", "registry.example/tools:7", "-o", file).CombinedOutput(); err != nil {
		t.Fatalf("orchd image busybox: %v\n%s", err, out)
	}
	pod := func(name, node string) *v1.Pod {
		return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "tools"}},
			Spec: v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c", Image: "registry.example/tools:7",
				ImagePullPolicy: v1.PullNever, Command: []string{"sleep", "100000"}}}}}
	}
	// Before the upload the image is missing: the pod waits with ErrImageNeverPull.
	if err := cl.Create(ctxT(t, 5*time.Second), pod("early", "node-1")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "early waiting on the missing image", func() (bool, string) {
		cs := containerStatus(getPod(t, cl, "early"), "c")
		return cs != nil && cs.State.Waiting != nil && cs.State.Waiting.Reason == "ErrImageNeverPull", fmt.Sprintf("%+v", cs)
	})
	out, stderr, err := c.Orchctl("", "image", "load", file, "--all-nodes")
	if err != nil || strings.Count(out, "registry.example/tools:7") != 2 {
		t.Fatalf("orchctl image load: %v\n%s%s", err, out, stderr)
	}
	if err := cl.Create(ctxT(t, 5*time.Second), pod("late", "node-2")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "both tools pods running", func() (bool, string) {
		n := len(runningPods(t, cl, "app=tools"))
		return n == 2, fmt.Sprint(n)
	})
}
