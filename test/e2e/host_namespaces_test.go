package e2e

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// nsReport prints what a container sees of its namespaces, the node and
// its /dev/shm, then serves HTTP on port with body as its index.
const nsReport = `for n in net uts ipc pid; do echo "$n=$(readlink /proc/self/ns/$n)"; done
echo "hostname=$(hostname)"
echo "agent=$(cat /proc/$AGENT/comm 2>/dev/null)"
echo "bridge=$(grep -c orch0: /proc/net/dev)"
touch /dev/shm/$MARK
echo ready
echo $BODY > /tmp/index.html
exec httpd -f -p $PORT -h /tmp`

func nsPod(name string, port int32, host bool, env map[string]string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Labels: map[string]string{"test": "hostns"}}, Spec: v1.PodSpec{
		HostNetwork: host, HostPID: host, HostIPC: host, TerminationGracePeriodSeconds: int64p(1),
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", nsReport},
			Ports: []v1.ContainerPort{{ContainerPort: port}}}}}}
	for _, k := range []string{"AGENT", "MARK", "BODY"} {
		p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, v1.EnvVar{Name: k, Value: env[k]})
	}
	p.Spec.Containers[0].Env = append(p.Spec.Containers[0].Env, v1.EnvVar{Name: "PORT", Value: strconv.Itoa(int(port))})
	return p
}

// podReport reads the key=value lines a pod's container logged, up to "ready".
func podReport(t *testing.T, cl *client.Client, name, container string) map[string]string {
	t.Helper()
	var kv map[string]string
	waitFor(t, 30*time.Second, name+" reported", func() (bool, string) {
		r, err := cl.Logs(ctxT(t, 5*time.Second), "default", name, client.LogOptions{Container: container})
		if err != nil {
			return false, err.Error()
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			return false, err.Error()
		}
		kv = map[string]string{}
		sc := bufio.NewScanner(strings.NewReader(string(b)))
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), "=")
			kv[k] = v
		}
		_, ok := kv["ready"]
		return ok, string(b)
	})
	return kv
}

func waitRunning(t *testing.T, cl *client.Client, name string) *v1.Pod {
	t.Helper()
	var p *v1.Pod
	waitFor(t, 60*time.Second, name+" running", func() (bool, string) {
		p = getPod(t, cl, name)
		cs := containerStatus(p, "c")
		return p.Status.Phase == v1.PodRunning && cs != nil && cs.State.Running != nil, p.Status.Phase + " " + p.Status.Message
	})
	return p
}

// waitUnschedulable waits until the pod's PodScheduled condition is False
// with want in its message, and checks it is still unbound.
func waitUnschedulable(t *testing.T, cl *client.Client, name, want string) {
	t.Helper()
	waitFor(t, 30*time.Second, name+" unschedulable", func() (bool, string) {
		p := getPod(t, cl, name)
		c := p.Status.Condition(v1.PodScheduled)
		if p.Spec.NodeName != "" {
			t.Fatalf("%s was bound to %s despite its host port", name, p.Spec.NodeName)
		}
		return c != nil && c.Status == v1.ConditionFalse && c.Message == want, fmt.Sprintf("%+v", c)
	})
}

func readNS(t *testing.T, pid int, kind string) string {
	t.Helper()
	l, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", pid, kind))
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// Host namespaces and host ports, as Kubernetes: a hostNetwork, hostPID,
// hostIPC pod shares the node's namespaces, hostname, IP and /dev/shm and
// survives an agent restart; a hostPort is reachable at the node's address
// from another host and from the node; a second pod asking for a held
// host port (also one a hostNetwork pod holds) stays Pending with the
// scheduler's message until the port is free, and one created bound to the
// node is rejected by it (NodePorts), as the kubelet does.
func TestHostNamespacesAndPorts(t *testing.T) {
	parallel(t)
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network})
	nd := c.StartNode(network, "node-1", "--heartbeat-interval", "1s", "--resync-interval", "2s")
	cl := c.Client()
	waitFor(t, 60*time.Second, "node Ready", func() (bool, string) {
		var n v1.Node
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", nd.Name, &n); err != nil {
			return false, err.Error()
		}
		r := n.Status.Condition(v1.NodeReady)
		return r != nil && r.Status == v1.ConditionTrue && n.Spec.PodCIDR != "", ""
	})
	// These pods program their node: their namespace runs at the Pod
	// Security level that allows it, as a DaemonSet's would.
	allowPrivilegedPods(t, cl, "default")
	outside, _ := network.AddHost("outside")
	wget := func(from func(time.Duration, ...string) (string, error), url string) (string, error) {
		out, err := from(10*time.Second, "busybox", "timeout", "5", "busybox", "wget", "-q", "-O", "-", url)
		return strings.TrimSpace(out), err
	}
	fromOutside := func(d time.Duration, args ...string) (string, error) { return harness.ExecIn(outside, d, args...) }

	agent := nd.PID()
	marks := map[string]string{"host": "orch-e2e-hostipc-" + strconv.Itoa(os.Getpid()), "plain": "orch-e2e-podipc-" + strconv.Itoa(os.Getpid())}
	for _, m := range marks {
		t.Cleanup(func() { os.Remove(filepath.Join("/dev/shm", m)) })
	}
	createPod(t, cl, nsPod("host", 19180, true, map[string]string{"AGENT": strconv.Itoa(agent), "MARK": marks["host"], "BODY": "host"}))
	createPod(t, cl, nsPod("plain", 8080, false, map[string]string{"AGENT": strconv.Itoa(agent), "MARK": marks["plain"], "BODY": "plain"}))
	// hostNetwork alone: the pod's two containers share an IPC namespace
	// of the pod's, not the node's.
	ipcOnly := `echo "ipc=$(readlink /proc/self/ns/ipc)"; echo "pid=$(readlink /proc/self/ns/pid)"; echo ready; exec sleep 100000`
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "netonly"}, Spec: v1.PodSpec{HostNetwork: true, TerminationGracePeriodSeconds: int64p(1),
		Containers: []v1.Container{{Name: "a", Image: "busybox:1.35", Command: []string{"sh", "-c", ipcOnly}},
			{Name: "b", Image: "busybox:1.35", Command: []string{"sh", "-c", ipcOnly}}}}})
	host, plain := waitRunning(t, cl, "host"), waitRunning(t, cl, "plain")
	hostRep, plainRep := podReport(t, cl, "host", "c"), podReport(t, cl, "plain", "c")
	netA, netB := podReport(t, cl, "netonly", "a"), podReport(t, cl, "netonly", "b")
	nodeHostname, _ := os.Hostname()

	t.Run("hostNetwork, hostPID and hostIPC share the node's namespaces", func(t *testing.T) {
		for _, kind := range []string{"net", "uts", "ipc", "pid"} {
			node := readNS(t, agent, kind)
			if hostRep[kind] != node {
				t.Errorf("host pod's %s namespace %s, want the node's %s", kind, hostRep[kind], node)
			}
			if plainRep[kind] == node {
				t.Errorf("plain pod shares the node's %s namespace %s", kind, node)
			}
		}
		if hostRep["hostname"] != nodeHostname || plainRep["hostname"] != "plain" {
			t.Errorf("hostnames: host pod %q (want the node's %q), plain pod %q", hostRep["hostname"], nodeHostname, plainRep["hostname"])
		}
		if netA["ipc"] != netB["ipc"] || netA["ipc"] == readNS(t, agent, "ipc") || netA["pid"] == readNS(t, agent, "pid") {
			t.Errorf("hostNetwork-only pod: IPC %s and %s (want one of the pod's, not the node's %s), PID %s",
				netA["ipc"], netB["ipc"], readNS(t, agent, "ipc"), netA["pid"])
		}
		// hostPID: the agent's process is visible; hostNetwork: the node's bridge.
		if hostRep["agent"] != "orchd" || plainRep["agent"] != "" {
			t.Errorf("agent process seen as %q by the host pod (want orchd), %q by the plain pod", hostRep["agent"], plainRep["agent"])
		}
		if hostRep["bridge"] != "1" || plainRep["bridge"] != "0" {
			t.Errorf("orch0 seen %s times by the host pod, %s by the plain pod", hostRep["bridge"], plainRep["bridge"])
		}
		// hostIPC: the node's /dev/shm.
		if _, err := os.Stat(filepath.Join("/dev/shm", marks["host"])); err != nil {
			t.Errorf("the host pod's /dev/shm file is not in the node's /dev/shm: %v", err)
		}
		if _, err := os.Stat(filepath.Join("/dev/shm", marks["plain"])); err == nil {
			t.Errorf("the plain pod's /dev/shm file is in the node's /dev/shm")
		}
	})

	t.Run("a hostNetwork pod has the node's IP and ports", func(t *testing.T) {
		if host.Status.PodIP != nd.IP || host.Status.HostIP != nd.IP || len(host.Status.PodIPs) != 1 || host.Status.PodIPs[0].IP != nd.IP {
			t.Errorf("host pod podIP %q podIPs %v hostIP %q, want the node's %s", host.Status.PodIP, host.Status.PodIPs, host.Status.HostIP, nd.IP)
		}
		if plain.Status.PodIP == nd.IP || plain.Status.PodIP == "" {
			t.Errorf("plain pod podIP %q", plain.Status.PodIP)
		}
		if p := host.Spec.Containers[0].Ports[0]; p.HostPort != 19180 {
			t.Errorf("hostPort not defaulted to containerPort: %+v", p)
		}
		// httpd starts after the report: poll.
		waitFor(t, 20*time.Second, "the host pod at the node's address from outside", func() (bool, string) {
			out, err := wget(fromOutside, fmt.Sprintf("http://%s:19180/", nd.IP))
			return err == nil && out == "host", fmt.Sprintf("%q %v", out, err)
		})
	})

	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "hp-a"}, Spec: v1.PodSpec{TerminationGracePeriodSeconds: int64p(1),
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", httpdCommand},
			Ports: []v1.ContainerPort{{ContainerPort: 8080, HostPort: 18080}}}}}})
	waitRunning(t, cl, "hp-a")
	hostPortURL := fmt.Sprintf("http://%s:18080/", nd.IP)

	t.Run("a hostPort is reachable at the node's address", func(t *testing.T) {
		waitFor(t, 20*time.Second, "hp-a at the node's port from outside", func() (bool, string) {
			out, err := wget(fromOutside, hostPortURL)
			return err == nil && out == "hp-a", fmt.Sprintf("%q %v", out, err)
		})
		if out, err := wget(nd.Exec, hostPortURL); err != nil || out != "hp-a" {
			t.Errorf("hp-a at the node's port from the node itself: %q %v", out, err)
		}
	})

	const noPorts = "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
	t.Run("a held host port keeps a second pod Pending", func(t *testing.T) {
		createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "hp-b"}, Spec: v1.PodSpec{TerminationGracePeriodSeconds: int64p(1),
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", httpdCommand},
				Ports: []v1.ContainerPort{{ContainerPort: 8080, HostPort: 18080, HostIP: nd.IP}}}}}})
		createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "hp-c"}, Spec: v1.PodSpec{TerminationGracePeriodSeconds: int64p(1),
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "1000"},
				Ports: []v1.ContainerPort{{ContainerPort: 80, HostPort: 19180}}}}}})
		waitUnschedulable(t, cl, "hp-b", noPorts)
		waitUnschedulable(t, cl, "hp-c", noPorts) // the port the hostNetwork pod holds
	})

	t.Run("an agent restart adopts hostNetwork pods and keeps host ports", func(t *testing.T) {
		before, err := nd.Tasks()
		if err != nil || len(before) != 5 {
			t.Fatalf("tasks before: %v %v", before, err)
		}
		synced := func() int { return strings.Count(nd.Log(2000), "host port rules synced") }
		syncedBefore := synced()
		nd.Kill()
		nd.Start()
		waitFor(t, 30*time.Second, "the restarted agent adopted its pods", func() (bool, string) {
			return strings.Contains(nd.Log(200), "found containers to adopt"), ""
		})
		// The new agent rewrites the rules from the pods it lists.
		waitFor(t, 30*time.Second, "the restarted agent synced the host port rules", func() (bool, string) {
			return synced() > syncedBefore, ""
		})
		waitFor(t, 30*time.Second, "node heartbeat after the restart", func() (bool, string) {
			var n v1.Node
			if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", nd.Name, &n); err != nil {
				return false, err.Error()
			}
			hb := n.Status.Condition(v1.NodeReady)
			return hb != nil && time.Since(hb.LastHeartbeatTime.Time) < 3*time.Second, ""
		})
		if after, err := nd.Tasks(); err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
			t.Fatalf("tasks changed across the agent restart: before %v, after %v (%v)", before, after, err)
		}
		for _, pc := range [][2]string{{"host", "c"}, {"plain", "c"}, {"hp-a", "c"}, {"netonly", "a"}, {"netonly", "b"}} {
			if cs := containerStatus(getPod(t, cl, pc[0]), pc[1]); cs == nil || cs.RestartCount != 0 || cs.State.Running == nil {
				t.Errorf("%s/%s after the agent restart: %+v", pc[0], pc[1], cs)
			}
		}
		if p := getPod(t, cl, "host"); p.Status.PodIP != nd.IP {
			t.Errorf("host pod's podIP after the restart: %q", p.Status.PodIP)
		}
		if out, err := wget(fromOutside, hostPortURL); err != nil || out != "hp-a" {
			t.Errorf("hp-a's host port after the agent restart: %q %v", out, err)
		}
		if out, err := wget(fromOutside, fmt.Sprintf("http://%s:19180/", nd.IP)); err != nil || out != "host" {
			t.Errorf("the host pod after the agent restart: %q %v", out, err)
		}
	})

	t.Run("a freed host port goes to the waiting pod", func(t *testing.T) {
		if _, err := cl.Delete(ctxT(t, 5*time.Second), "pods", "default", "hp-a", nil); err != nil {
			t.Fatal(err)
		}
		waitRunning(t, cl, "hp-b")
		waitFor(t, 30*time.Second, "hp-b at the node's port", func() (bool, string) {
			out, err := wget(fromOutside, hostPortURL)
			return err == nil && out == "hp-b", fmt.Sprintf("%q %v", out, err)
		})
	})

	t.Run("the node rejects a pod bound to it whose host port is taken", func(t *testing.T) {
		createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "hp-direct"}, Spec: v1.PodSpec{NodeName: nd.Name,
			TerminationGracePeriodSeconds: int64p(1),
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", httpdCommand},
				Ports: []v1.ContainerPort{{ContainerPort: 8080, HostPort: 18080}}}}}})
		const want = "Pod was rejected: Predicate NodePorts failed: node(s) didn't have free ports for the requested pod ports"
		waitFor(t, 30*time.Second, "hp-direct rejected", func() (bool, string) {
			p := getPod(t, cl, "hp-direct")
			return p.Status.Phase == v1.PodFailed && p.Status.Reason == "NodePorts" && p.Status.Message == want,
				p.Status.Phase + " " + p.Status.Reason + " " + p.Status.Message
		})
		if out, err := wget(fromOutside, hostPortURL); err != nil || out != "hp-b" {
			t.Errorf("hp-b after the rejected pod: %q %v", out, err)
		}
	})

	t.Run("node reset removes the host port rules", func(t *testing.T) {
		nd.Kill()
		out, err := exec.Command("nsenter", "--net=/run/netns/"+nd.NetNS, "--", bins.Orchd, "node", "reset",
			"--state-dir", nd.StateDir, "--cgroup-root", nd.CgroupRoot).CombinedOutput()
		if err != nil {
			t.Fatalf("orchd node reset: %v\n%s", err, out)
		}
		rules, err := nd.Exec(10*time.Second, "iptables-save", "-t", "nat")
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(rules, "ORCH-HOSTPORTS") {
			t.Errorf("host port rules left after node reset:\n%s", rules)
		}
	})
}
