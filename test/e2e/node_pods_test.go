package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

func int64p(v int64) *int64 { return &v }

func createPod(t *testing.T, cl *client.Client, p *v1.Pod) {
	t.Helper()
	if p.Namespace == "" {
		p.Namespace = "default"
	}
	if err := cl.Create(ctxT(t, 5*time.Second), p); err != nil {
		t.Fatalf("create pod %s: %v", p.Name, err)
	}
}

func containerStatus(p *v1.Pod, name string) *v1.ContainerStatus {
	for i := range p.Status.ContainerStatuses {
		if p.Status.ContainerStatuses[i].Name == name {
			return &p.Status.ContainerStatuses[i]
		}
	}
	return nil
}

// containerID strips the runtime prefix of a status' containerID.
func containerID(cs *v1.ContainerStatus) string {
	_, id, _ := strings.Cut(cs.ContainerID, "://")
	return id
}

// Done when 2: a killed container is restarted with restartCount 1 and its
// exit in lastState; a container that always fails reaches CrashLoopBackOff
// with growing delays.
func TestNodeRestartsContainers(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil, "--restart-backoff", "1s", "--restart-backoff-max", "8s")
	cl, nd := c.Client(), nodes[0]
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "victim"}, Spec: v1.PodSpec{
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"}}}}})
	var id string
	waitFor(t, 60*time.Second, "victim running", func() (bool, string) {
		p := getPod(t, cl, "victim")
		cs := containerStatus(p, "c")
		if cs == nil || cs.State.Running == nil {
			return false, p.Status.Phase
		}
		id = containerID(cs)
		return true, ""
	})
	tasks, err := nd.Tasks()
	if err != nil || tasks[id] == 0 {
		t.Fatalf("no task for container %s: %v %v", id, tasks, err)
	}
	if err := syscall.Kill(tasks[id], syscall.SIGKILL); err != nil {
		t.Fatalf("kill the container's process %d: %v", tasks[id], err)
	}
	waitFor(t, 30*time.Second, "victim restarted", func() (bool, string) {
		cs := containerStatus(getPod(t, cl, "victim"), "c")
		if cs == nil || cs.RestartCount != 1 || cs.State.Running == nil || cs.LastState.Terminated == nil {
			return false, fmt.Sprintf("%+v", cs)
		}
		if cs.LastState.Terminated.ExitCode != 137 || containerID(cs) == id {
			t.Fatalf("after the kill: lastState %+v, containerID %s (was %s)", cs.LastState.Terminated, cs.ContainerID, id)
		}
		return true, ""
	})

	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "crasher"}, Spec: v1.PodSpec{
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", "echo crashing; exit 3"}}}}})
	// Record when each restart is first seen: the gaps must grow (1 s, 2 s, 4 s).
	seen := map[int32]time.Time{}
	sawBackOff := false
	waitFor(t, 90*time.Second, "crasher restarted 4 times", func() (bool, string) {
		cs := containerStatus(getPod(t, cl, "crasher"), "c")
		if cs == nil {
			return false, "no status"
		}
		if _, ok := seen[cs.RestartCount]; !ok {
			seen[cs.RestartCount] = time.Now()
		}
		if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			sawBackOff = true
		}
		if t := cs.LastState.Terminated; cs.RestartCount > 0 && (t == nil || t.ExitCode != 3) {
			return false, fmt.Sprintf("lastState %+v", t)
		}
		return cs.RestartCount >= 4, fmt.Sprintf("restarts %d", cs.RestartCount)
	})
	if !sawBackOff {
		t.Errorf("never saw the waiting reason CrashLoopBackOff")
	}
	gap := func(n int32) time.Duration { return seen[n+1].Sub(seen[n]) }
	if seen[1].IsZero() || seen[2].IsZero() || seen[3].IsZero() || seen[4].IsZero() {
		t.Fatalf("restarts seen at %v", seen)
	}
	if gap(3) < gap(1)+time.Second || gap(3) < 3*time.Second {
		t.Errorf("restart delays do not grow: 1→2 %v, 2→3 %v, 3→4 %v", gap(1), gap(2), gap(3))
	}
}

// A pod whose httpd serves /tmp/www with CGI scripts that break its probes.
func probedPod(name string) *v1.Pod {
	script := `mkdir -p /tmp/www/cgi-bin && echo ok > /tmp/www/healthy.html && echo ok > /tmp/www/ready.html
for f in sick:healthy unready:ready; do
  printf '#!/bin/sh\necho Content-Type: text/plain\necho\nrm -f /tmp/www/%s.html\necho done\n' "${f#*:}" > /tmp/www/cgi-bin/${f%%:*}
  chmod +x /tmp/www/cgi-bin/${f%%:*}
done
exec httpd -f -p 8080 -h /tmp/www`
	// Three failures in a row, each with 3 s to answer: a busy CI host does
	// not fail a healthy probe.
	probe := func(path string) *v1.Probe {
		return &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: path, Port: intOrStr("http")}},
			PeriodSeconds: 1, FailureThreshold: 3, TimeoutSeconds: 3}
	}
	return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Containers: []v1.Container{{Name: "web", Image: "busybox:1.35", Command: []string{"sh", "-c", script},
			Ports:          []v1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			LivenessProbe:  probe("/healthy.html"),
			ReadinessProbe: probe("/ready.html")}}}}
}

// Done when 3: a failing liveness probe restarts the container; a failing
// readiness probe marks the pod not ready and moves it out of Endpoints.
func TestNodeProbes(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil)
	cl, nd := c.Client(), nodes[0]
	createPod(t, cl, probedPod("probed"))
	svc := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "probed", Namespace: "default"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "probed"}, Ports: []v1.ServicePort{{Port: 80, TargetPort: intOrStr("http")}}}}
	if err := cl.Create(ctxT(t, 5*time.Second), svc); err != nil {
		t.Fatal(err)
	}
	var ip string
	waitFor(t, 60*time.Second, "probed Ready and in Endpoints", func() (bool, string) {
		p := getPod(t, cl, "probed")
		r := p.Status.Condition(v1.PodReady)
		if r == nil || r.Status != v1.ConditionTrue {
			return false, "not ready"
		}
		ip = p.Status.PodIP
		var ep v1.Endpoints
		if err := cl.Get(ctxT(t, 5*time.Second), "endpoints", "default", "probed", &ep); err != nil {
			return false, err.Error()
		}
		return len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 1 && ep.Subsets[0].Addresses[0].IP == ip, fmt.Sprintf("%+v", ep.Subsets)
	})

	// Readiness: the pod turns not ready and its address moves to notReadyAddresses.
	if out, err := httpGet(nd, "http://"+ip+":8080/cgi-bin/unready"); err != nil || !strings.Contains(out, "done") {
		t.Fatalf("unready: %q %v", out, err)
	}
	waitFor(t, 30*time.Second, "probed not ready and out of Endpoints", func() (bool, string) {
		p := getPod(t, cl, "probed")
		r := p.Status.Condition(v1.PodReady)
		var ep v1.Endpoints
		if err := cl.Get(ctxT(t, 5*time.Second), "endpoints", "default", "probed", &ep); err != nil {
			return false, err.Error()
		}
		out := len(ep.Subsets) == 1 && len(ep.Subsets[0].Addresses) == 0 && len(ep.Subsets[0].NotReadyAddresses) == 1
		cs := containerStatus(p, "web")
		return r != nil && r.Status == v1.ConditionFalse && out && cs.RestartCount == 0, fmt.Sprintf("ready %+v endpoints %+v", r, ep.Subsets)
	})

	// Liveness: the container is restarted (and, fresh, is ready again).
	if out, err := httpGet(nd, "http://"+ip+":8080/cgi-bin/sick"); err != nil || !strings.Contains(out, "done") {
		t.Fatalf("sick: %q %v", out, err)
	}
	waitFor(t, 30*time.Second, "probed restarted by its liveness probe and ready again", func() (bool, string) {
		p := getPod(t, cl, "probed")
		cs := containerStatus(p, "web")
		r := p.Status.Condition(v1.PodReady)
		return cs != nil && cs.RestartCount == 1 && cs.State.Running != nil && r != nil && r.Status == v1.ConditionTrue,
			fmt.Sprintf("%+v", cs)
	})
}

// Done when 4: deleting a pod sends SIGTERM, then SIGKILL after the grace
// period; its netns, veth, cgroups, snapshot and IP are gone.
func TestNodeDeletesPods(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil)
	cl, nd := c.Client(), nodes[0]
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "stubborn"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(3),
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
			Command: []string{"sh", "-c", "trap 'echo got TERM' TERM; echo started; while true; do sleep 0.1; done"}}}}})
	var p *v1.Pod
	waitFor(t, 60*time.Second, "stubborn running", func() (bool, string) {
		p = getPod(t, cl, "stubborn")
		cs := containerStatus(p, "c")
		return cs != nil && cs.State.Running != nil, p.Status.Phase
	})
	uid, id, ip := p.UID, containerID(containerStatus(p, "c")), p.Status.PodIP
	paths := []string{
		filepath.Join(nd.StateDir, "net", "sandboxes", uid),
		filepath.Join(nd.StateDir, "net", "ipam", ip),
		filepath.Join(nd.StateDir, "pods", uid),
		filepath.Join("/sys/fs/cgroup/memory", nd.CgroupRoot, "pod"+uid),
		filepath.Join("/sys/fs/cgroup/pids", nd.CgroupRoot, "pod"+uid),
	}
	for _, path := range paths {
		if _, err := os.Stat(path); err != nil {
			t.Fatalf("before the delete %s is missing: %v", path, err)
		}
	}
	links := func() string {
		out, _ := nd.Exec(5*time.Second, "ip", "-o", "link", "show", "master", "orch0")
		return out
	}
	if n := strings.Count(links(), "\n"); n != 1 {
		t.Fatalf("the node has %d veths, want 1:\n%s", n, links())
	}

	// Follow the container's log through the API to see the SIGTERM arrive.
	follow := exec.Command(bins.Orchctl, "--config", c.ConfigPath(), "logs", "-f", "stubborn")
	stdout, _ := follow.StdoutPipe()
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { follow.Process.Kill(); follow.Wait() })
	lines := make(chan string, 16)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expectLine(t, lines, "started", 20*time.Second)

	start := time.Now()
	if _, err := cl.Delete(ctxT(t, 5*time.Second), "pods", "default", "stubborn", nil); err != nil {
		t.Fatal(err)
	}
	expectLine(t, lines, "got TERM", 10*time.Second)
	waitFor(t, 30*time.Second, "stubborn removed", func() (bool, string) {
		var q v1.Pod
		err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "stubborn", &q)
		return v1.IsNotFound(err), fmt.Sprint(err)
	})
	if took := time.Since(start); took < 3*time.Second {
		t.Errorf("the pod was gone %v after the delete: the 3 s grace was not honoured", took)
	}
	for _, path := range paths {
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("after the delete %s still exists (%v)", path, err)
		}
	}
	if l := links(); strings.TrimSpace(l) != "" {
		t.Errorf("veths left after the delete:\n%s", l)
	}
	if tasks, _ := nd.Tasks(); tasks[id] != 0 {
		t.Errorf("task %s still runs", id)
	}
	if snaps, err := nd.Snapshots(); err != nil || strings.Contains(snaps, id) {
		t.Errorf("snapshot of %s left: %v\n%s", id, err, snaps)
	}
}

func expectLine(t *testing.T, lines <-chan string, want string, timeout time.Duration) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the log stream ended before %q", want)
			}
			if strings.Contains(l, want) {
				return
			}
		case <-deadline:
			t.Fatalf("no log line %q within %v", want, timeout)
		}
	}
}

// Done when 5: a SIGKILLed agent, restarted, adopts its running containers
// (same task PIDs, no restart); with every master stopped the pods keep
// running, and their status catches up when the masters return.
func TestNodeAgentRecovery(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil)
	cl, nd := c.Client(), nodes[0]
	rc := rcOf("keep", 2)
	rc.Spec.Template.Spec.Containers[0].Command = []string{"sh", "-c", httpdCommand}
	if err := cl.Create(ctxT(t, 5*time.Second), rc); err != nil {
		t.Fatal(err)
	}
	var pods []v1.Pod
	waitFor(t, 60*time.Second, "2 pods running", func() (bool, string) {
		pods = runningPods(t, cl, "app=keep")
		return len(pods) == 2, fmt.Sprint(len(pods))
	})
	before, err := nd.Tasks()
	if err != nil || len(before) != 2 {
		t.Fatalf("tasks before: %v %v", before, err)
	}

	nd.Kill()
	nd.Start()
	waitFor(t, 30*time.Second, "the restarted agent adopted its pods", func() (bool, string) {
		return strings.Contains(nd.Log(200), "found containers to adopt"), ""
	})
	// Give the agent time to act on what it adopted, then check it kept all.
	waitFor(t, 30*time.Second, "node Ready after the restart", func() (bool, string) {
		var n v1.Node
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", nd.Name, &n); err != nil {
			return false, err.Error()
		}
		hb := n.Status.Condition(v1.NodeReady)
		return hb != nil && time.Since(hb.LastHeartbeatTime.Time) < 3*time.Second, ""
	})
	after, err := nd.Tasks()
	if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("tasks changed across the agent restart: before %v, after %v (%v)", before, after, err)
	}
	for _, p := range runningPods(t, cl, "app=keep") {
		if cs := containerStatus(&p, "c"); cs.RestartCount != 0 {
			t.Errorf("pod %s restarted: %+v", p.Name, cs)
		}
	}

	// All masters down: the pods keep serving.
	for i := range c.Masters {
		c.Stop(i)
	}
	for _, p := range pods {
		if out, err := httpGet(nd, "http://"+p.Status.PodIP+":8080/"); err != nil || strings.TrimSpace(out) != p.Name {
			t.Errorf("with the masters down, pod %s answered %q %v", p.Name, out, err)
		}
	}
	// The agent restarts while no master answers: it runs its pods from the
	// specs it saved. A container dies: the agent restarts it and reports it
	// once the masters are back.
	nd.Kill()
	nd.Start()
	waitFor(t, 30*time.Second, "the agent restarted without masters", func() (bool, string) {
		return strings.Contains(nd.Log(100), "running the pods found as they were last seen"), ""
	})
	victim := pods[0]
	id := containerID(containerStatus(&victim, "c"))
	if err := syscall.Kill(after[id], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the container restarted with the masters down", func() (bool, string) {
		now, _ := nd.Tasks()
		return len(now) == 2 && now[id] == 0, fmt.Sprint(now)
	})
	for i := range c.Masters {
		c.Start(i)
	}
	c.WaitLeader(30 * time.Second)
	waitFor(t, 30*time.Second, "status caught up", func() (bool, string) {
		p := getPod(t, cl, victim.Name)
		cs := containerStatus(p, "c")
		return cs != nil && cs.RestartCount == 1 && cs.State.Running != nil && containerID(cs) != id, fmt.Sprintf("%+v", cs)
	})
}

// Done when 7: `orchctl logs -f` streams a container's output as it is written.
func TestLogsFollow(t *testing.T) {
	parallel(t)
	c, _ := nodeCluster(t, 1, false, nil)
	cl := c.Client()
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "counter"}, Spec: v1.PodSpec{
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
			Command: []string{"sh", "-c", "i=0; while true; do echo line $i; i=$((i+1)); sleep 0.3; done"}}}}})
	waitFor(t, 60*time.Second, "counter running", func() (bool, string) {
		cs := containerStatus(getPod(t, cl, "counter"), "c")
		return cs != nil && cs.State.Running != nil, ""
	})
	follow := exec.Command(bins.Orchctl, "--config", c.ConfigPath(), "logs", "-f", "counter")
	stdout, _ := follow.StdoutPipe()
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { follow.Process.Kill(); follow.Wait() })
	sc := bufio.NewScanner(stdout)
	start := time.Now()
	var got []string
	for len(got) < 10 && sc.Scan() {
		got = append(got, sc.Text())
	}
	if len(got) < 10 {
		t.Fatalf("the stream ended after %v", got)
	}
	for i := 1; i < len(got); i++ {
		var a, b int
		fmt.Sscanf(got[i-1], "line %d", &a)
		fmt.Sscanf(got[i], "line %d", &b)
		if b != a+1 {
			t.Fatalf("lines out of order: %v", got)
		}
	}
	// Ten lines 0.3 s apart cannot all have been in the file at the start:
	// they were streamed as written.
	if time.Since(start) < time.Second {
		t.Errorf("10 lines in %v: not streamed as written", time.Since(start))
	}
	// A plain `orchctl logs --tail 2` returns at once.
	out, stderr, err := c.Orchctl("", "logs", "counter", "--tail", "2")
	if err != nil || strings.Count(out, "\n") != 2 {
		t.Errorf("logs --tail 2: %q %s %v", out, stderr, err)
	}
}

func intOrStr(name string) v1.IntOrString { return v1.IntOrString{Type: 1, StrVal: name} }
