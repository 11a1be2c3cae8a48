package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

func initContainerStatus(p *v1.Pod, name string) *v1.ContainerStatus {
	for i := range p.Status.InitContainerStatuses {
		if p.Status.InitContainerStatuses[i].Name == name {
			return &p.Status.InitContainerStatuses[i]
		}
	}
	return nil
}

// statusWatch follows `orchctl get pods -w` and records every STATUS
// column printed per pod name.
type statusWatch struct {
	mu   sync.Mutex
	seen map[string][]string
}

func watchPodStatuses(t *testing.T, config string) *statusWatch {
	t.Helper()
	sw := &statusWatch{seen: map[string][]string{}}
	cmd := exec.Command(bins.Orchctl, "--config", config, "get", "pods", "-w", "--no-headers")
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			f := strings.Fields(sc.Text()) // NAME READY STATUS RESTARTS ...
			if len(f) < 3 {
				continue
			}
			sw.mu.Lock()
			sw.seen[f[0]] = append(sw.seen[f[0]], f[2])
			sw.mu.Unlock()
		}
	}()
	return sw
}

func (sw *statusWatch) statuses(pod string) []string {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	return append([]string(nil), sw.seen[pod]...)
}

// Init containers, activeDeadlineSeconds and Memory emptyDirs on a real
// node, one pod each, in one cluster.
func TestPodLifecycle(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil, "--restart-backoff", "2s", "--restart-backoff-max", "4s")
	cl, nd := c.Client(), nodes[0]
	watch := watchPodStatuses(t, c.ConfigPath())
	workdir := []v1.VolumeMount{{Name: "workdir", MountPath: "/work-dir"}}

	// (a) The Kubernetes docs' init-containers example: init containers
	// write index.html into an emptyDir (the second checks the first ran
	// before it), the app serves it with httpd.
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "init-demo"}, Spec: v1.PodSpec{
		Volumes: []v1.Volume{{Name: "workdir", EmptyDir: &v1.EmptyDirVolumeSource{}}},
		InitContainers: []v1.Container{
			{Name: "install", Image: "busybox:1.35", VolumeMounts: workdir,
				Command: []string{"sh", "-c", "echo written by the init container $(hostname) >> /work-dir/index.html"}},
			{Name: "second", Image: "busybox:1.35", VolumeMounts: workdir,
				Command: []string{"sh", "-c", "test -f /work-dir/index.html && echo second init container ran after the first >> /work-dir/index.html"}},
		},
		Containers: []v1.Container{{Name: "web", Image: "busybox:1.35", VolumeMounts: workdir,
			Command: []string{"httpd", "-f", "-p", "8080", "-h", "/work-dir"}}}}})

	// (b) A failing init container blocks the app.
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "bad-init"}, Spec: v1.PodSpec{
		InitContainers: []v1.Container{{Name: "fail", Image: "busybox:1.35", Command: []string{"sh", "-c", "echo failing; exit 1"}}},
		Containers:     []v1.Container{{Name: "app", Image: "busybox:1.35", Command: []string{"sleep", "100000"}}}}})

	// (c) activeDeadlineSeconds.
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "deadline"}, Spec: v1.PodSpec{
		ActiveDeadlineSeconds: int64p(3), TerminationGracePeriodSeconds: int64p(1),
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"}}}}})

	// (d) A Memory emptyDir is a tmpfs of the sizeLimit.
	limit := resource.MustParse("16Mi")
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "memdir"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Volumes:                       []v1.Volume{{Name: "cache", EmptyDir: &v1.EmptyDirVolumeSource{Medium: v1.MediumMemory, SizeLimit: &limit}}},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", VolumeMounts: []v1.VolumeMount{{Name: "cache", MountPath: "/cache"}},
			Command: []string{"sh", "-c", "grep ' /cache ' /proc/mounts; " +
				"dd if=/dev/zero of=/cache/fill bs=1M count=32 2>/dev/null || echo cache full at $(du -k /cache/fill | cut -f1)k; sleep 100000"}}}}})

	// (e) A disk emptyDir over its sizeLimit gets the pod evicted.
	small := resource.MustParse("1Mi")
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "hog"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Volumes:                       []v1.Volume{{Name: "scratch", EmptyDir: &v1.EmptyDirVolumeSource{SizeLimit: &small}}},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", VolumeMounts: []v1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}},
			Command: []string{"sh", "-c", "dd if=/dev/urandom of=/scratch/big bs=1M count=3 2>/dev/null; sleep 100000"}}}}})

	// (f) Startup probes: liveness waits for startup; a failing startup
	// probe restarts the container.
	execProbe := func(cmd string, failures int32) *v1.Probe {
		return &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"sh", "-c", cmd}}},
			PeriodSeconds: 1, TimeoutSeconds: 3, FailureThreshold: failures}
	}
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "slow-start"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
			Command:       []string{"sh", "-c", "sleep 3; touch /tmp/started; exec sleep 100000"},
			StartupProbe:  execProbe("test -f /tmp/started", 30),
			LivenessProbe: execProbe("test -f /tmp/started", 1)}}}})
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "never-starts"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1),
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"},
			StartupProbe: execProbe("false", 2)}}}})

	t.Run("init containers", func(t *testing.T) {
		var p *v1.Pod
		waitFor(t, 60*time.Second, "init-demo running", func() (bool, string) {
			p = getPod(t, cl, "init-demo")
			return p.Status.Phase == v1.PodRunning && p.Status.PodIP != "", p.Status.Phase
		})
		out, err := httpGet(nd, "http://"+p.Status.PodIP+":8080/index.html")
		want := "written by the init container init-demo\nsecond init container ran after the first\n"
		if err != nil || out != want {
			t.Errorf("the app served %q (%v), want %q", out, err, want)
		}
		for _, name := range []string{"install", "second"} {
			cs := initContainerStatus(p, name)
			if cs == nil || cs.State.Terminated == nil || cs.State.Terminated.Reason != "Completed" || !cs.Ready {
				t.Errorf("init container %s: %+v", name, cs)
			}
		}
		if cond := p.Status.Condition(v1.PodInitialized); cond == nil || cond.Status != v1.ConditionTrue {
			t.Errorf("Initialized %+v", cond)
		}
		if s := watch.statuses("init-demo"); !contains(s, "Running") {
			t.Errorf("orchctl get pods -w printed %v", s)
		}

		// A restarted agent adopts the pod and never runs its init
		// containers again (they append to index.html).
		webID := containerID(containerStatus(p, "web"))
		nd.Kill()
		nd.Start()
		createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "after-restart"}, Spec: v1.PodSpec{
			TerminationGracePeriodSeconds: int64p(1),
			Containers:                    []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"}}}}})
		waitFor(t, 60*time.Second, "a pod started by the restarted agent", func() (bool, string) {
			q := getPod(t, cl, "after-restart")
			return q.Status.Phase == v1.PodRunning, q.Status.Phase
		})
		out, err = httpGet(nd, "http://"+p.Status.PodIP+":8080/index.html")
		if err != nil || out != want {
			t.Errorf("after the agent restart the app served %q (%v), want %q", out, err, want)
		}
		q := getPod(t, cl, "init-demo")
		if cs := containerStatus(q, "web"); containerID(cs) != webID || cs.RestartCount != 0 {
			t.Errorf("after the agent restart the app container is %+v, want %s still running", cs, webID)
		}
		for i, cs := range q.Status.InitContainerStatuses {
			if cs.ContainerID != p.Status.InitContainerStatuses[i].ContainerID || cs.RestartCount != 0 {
				t.Errorf("after the agent restart init container %s is %+v", cs.Name, cs)
			}
		}
	})

	t.Run("failing init container", func(t *testing.T) {
		waitFor(t, 60*time.Second, "Init:CrashLoopBackOff in orchctl get pods", func() (bool, string) {
			s := watch.statuses("bad-init")
			return contains(s, "Init:CrashLoopBackOff"), strings.Join(s, " ")
		})
		out, stderr, err := c.Orchctl("", "get", "pods", "bad-init", "--no-headers")
		if err != nil || !strings.Contains(out, "Init:") {
			t.Errorf("orchctl get pods bad-init: %q %s %v", out, stderr, err)
		}
		s := watch.statuses("bad-init")
		if !contains(s, "Init:Error") {
			t.Errorf("never printed Init:Error: %v", s)
		}
		p := getPod(t, cl, "bad-init")
		app := containerStatus(p, "app")
		if app == nil || app.ContainerID != "" || app.State.Waiting == nil || app.State.Waiting.Reason != "PodInitializing" {
			t.Errorf("the app container of bad-init: %+v", app)
		}
		if p.Status.Phase != v1.PodPending {
			t.Errorf("phase %s, want Pending", p.Status.Phase)
		}
		if cond := p.Status.Condition(v1.PodInitialized); cond == nil || cond.Status != v1.ConditionFalse || cond.Reason != "ContainersNotInitialized" {
			t.Errorf("Initialized %+v", cond)
		}
		if cs := initContainerStatus(p, "fail"); cs == nil || cs.RestartCount < 1 {
			t.Errorf("init container status %+v", cs)
		}
	})

	t.Run("activeDeadlineSeconds", func(t *testing.T) {
		var p *v1.Pod
		waitFor(t, 60*time.Second, "deadline Failed", func() (bool, string) {
			p = getPod(t, cl, "deadline")
			return p.Status.Phase == v1.PodFailed, p.Status.Phase
		})
		if p.Status.Reason != "DeadlineExceeded" || p.Status.Message != "Pod was active on the node longer than the specified deadline" {
			t.Errorf("reason %q message %q", p.Status.Reason, p.Status.Message)
		}
		var cs *v1.ContainerStatus
		waitFor(t, 30*time.Second, "the container stopped", func() (bool, string) {
			cs = containerStatus(getPod(t, cl, "deadline"), "c")
			return cs != nil && cs.State.Terminated != nil && cs.RestartCount == 0, fmt.Sprintf("%+v", cs)
		})
		// The container is stopped once the deadline has passed since
		// the pod's start (whether or not it was Ready by then: on a
		// loaded machine it may not have been).
		if took := cs.State.Terminated.FinishedAt.Sub(p.Status.StartTime.Time); took < 3*time.Second {
			t.Errorf("stopped %v after the start, before the 3 s deadline", took)
		}
	})

	t.Run("memory emptyDir", func(t *testing.T) {
		var out string
		waitFor(t, 60*time.Second, "memdir logs", func() (bool, string) {
			var stderr string
			var err error
			out, stderr, err = c.Orchctl("", "logs", "memdir")
			return err == nil && strings.Contains(out, "cache full"), out + stderr
		})
		if !strings.Contains(out, "tmpfs /cache tmpfs") || !strings.Contains(out, "size=16384k") {
			t.Errorf("/cache is not a 16 MiB tmpfs: %q", out)
		}
		// Deleting the pod unmounts its tmpfs from the node.
		uid := getPod(t, cl, "memdir").UID
		mounted := func() bool {
			b, err := os.ReadFile("/proc/self/mounts")
			if err != nil {
				t.Fatal(err)
			}
			return strings.Contains(string(b), uid+"/volumes/cache")
		}
		if !mounted() {
			t.Fatalf("no tmpfs of pod %s in the node's mounts", uid)
		}
		if _, err := cl.Delete(ctxT(t, 5*time.Second), "pods", "default", "memdir", nil); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 60*time.Second, "memdir deleted", func() (bool, string) {
			var q v1.Pod
			err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "memdir", &q)
			return v1.IsNotFound(err), fmt.Sprint(err)
		})
		if mounted() {
			t.Errorf("the tmpfs of the deleted pod %s is still mounted", uid)
		}
		var kb int
		if _, after, ok := strings.Cut(out, "cache full at "); !ok {
			t.Errorf("no dd result: %q", out)
		} else if fmt.Sscanf(after, "%dk", &kb); kb < 15<<10 || kb > 16<<10 {
			t.Errorf("writing 32 MiB into the 16 MiB tmpfs stopped at %d KiB: %q", kb, out)
		}
	})

	t.Run("emptyDir sizeLimit", func(t *testing.T) {
		var p *v1.Pod
		// The node measures every 10 s.
		waitFor(t, 60*time.Second, "hog evicted", func() (bool, string) {
			p = getPod(t, cl, "hog")
			return p.Status.Phase == v1.PodFailed, p.Status.Phase
		})
		want := `Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". `
		if p.Status.Reason != "Evicted" || p.Status.Message != want {
			t.Errorf("reason %q message %q, want Evicted %q", p.Status.Reason, p.Status.Message, want)
		}
	})

	t.Run("startup probe", func(t *testing.T) {
		waitFor(t, 60*time.Second, "slow-start started and ready", func() (bool, string) {
			cs := containerStatus(getPod(t, cl, "slow-start"), "c")
			return cs != nil && cs.Started != nil && *cs.Started && cs.Ready, fmt.Sprintf("%+v", cs)
		})
		// The liveness probe (one failure kills) did not run before startup.
		if cs := containerStatus(getPod(t, cl, "slow-start"), "c"); cs.RestartCount != 0 {
			t.Errorf("slow-start was restarted %d times: its liveness probe ran before the startup probe succeeded", cs.RestartCount)
		}
		waitFor(t, 60*time.Second, "never-starts restarted by its startup probe", func() (bool, string) {
			cs := containerStatus(getPod(t, cl, "never-starts"), "c")
			return cs != nil && cs.RestartCount >= 1 && cs.LastState.Terminated != nil, fmt.Sprintf("%+v", cs)
		})
		if cs := containerStatus(getPod(t, cl, "never-starts"), "c"); cs.Started == nil || *cs.Started || cs.Ready {
			t.Errorf("never-starts reports started %v ready %v", cs.Started, cs.Ready)
		}
	})
}
