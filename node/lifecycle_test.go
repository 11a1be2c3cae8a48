package node

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/podnet"
	"orch.io/orch/node/credentialprovider"
)

// scriptRuntime is a Runtime for unit tests of the pod worker: it records
// the containers started and stopped; exits are delivered by the test
// through the worker's handle, so every step is deterministic.
type scriptRuntime struct {
	fakeRuntime
	mu      sync.Mutex
	started []string // container IDs in start order (name-attempt)
	stopped []string
}

func (r *scriptRuntime) EnsureImage(context.Context, string, string, []credentialprovider.AuthConfig) (ImageInfo, error) {
	return ImageInfo{Digest: "sha256:0"}, nil
}

func (r *scriptRuntime) StartContainer(_ context.Context, s *ContainerSpec) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	id := fmt.Sprintf("%s-%d", s.Name, s.Attempt)
	r.started = append(r.started, id)
	return id, nil
}

func (r *scriptRuntime) StopContainer(_ context.Context, id string, _ time.Duration) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = append(r.stopped, id)
	return nil
}

func (r *scriptRuntime) startedIDs() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.started, ",")
}

// lifecycleWorker is a worker on a scripted runtime with a clock the test moves.
type lifecycleWorker struct {
	*podWorker
	rt  *scriptRuntime
	now time.Time
}

func newLifecycleWorker(t *testing.T, exec func([]string) (int, []byte, error)) *lifecycleWorker {
	t.Helper()
	lw := &lifecycleWorker{rt: &scriptRuntime{fakeRuntime: fakeRuntime{exec: exec}}, now: time.Unix(1000, 0)}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := &Agent{cfg: Config{NodeIP: "192.0.2.10", StateDir: t.TempDir(), Runtime: lw.rt,
		BackoffInitial: 10 * time.Second, BackoffMax: 40 * time.Second, ResyncInterval: 10 * time.Second,
		EmptyDirCheckInterval: 10 * time.Second,
		Now:                   func() time.Time { return lw.now }}, log: log}
	a.status = newStatusManager(nil, log)
	a.prober = &prober{rt: lw.rt}
	lw.podWorker = &podWorker{a: a, uid: "u", log: log, containers: map[string]*containerState{},
		events:  make(chan workerEvent, 16),
		sandbox: &podnet.Sandbox{IP: net.ParseIP("10.244.1.5")}}
	return lw
}

// exit reports that the named container's current process ended.
func (lw *lifecycleWorker) exit(name string, code int) {
	lw.handle(workerEvent{containerID: lw.containers[name].id, exit: &ExitStatus{Code: code, FinishedAt: lw.now}})
}

func initPod(policy string, inits ...string) *v1.Pod {
	p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"},
		Spec: v1.PodSpec{RestartPolicy: policy, Containers: []v1.Container{{Name: "app", Image: "busybox"}}}}
	for _, n := range inits {
		p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: n, Image: "busybox"})
	}
	return p
}

func initStatusOf(st v1.PodStatus) string {
	var out []string
	for _, cs := range st.InitContainerStatuses {
		switch s := cs.State; {
		case s.Running != nil:
			out = append(out, cs.Name+"=Running")
		case s.Terminated != nil:
			out = append(out, cs.Name+"=Terminated:"+s.Terminated.Reason)
		case s.Waiting != nil:
			out = append(out, cs.Name+"=Waiting:"+s.Waiting.Reason)
		}
	}
	return strings.Join(out, " ")
}

func condOf(st v1.PodStatus, typ string) v1.PodCondition {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return v1.PodCondition{}
}

func TestInitContainersRunInOrder(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newLifecycleWorker(t, nil)
	w.pod = initPod(v1.RestartAlways, "one", "two")
	steps := []struct {
		do        func()
		started   string
		inits     string
		phase     string
		init      string // Initialized condition status
		appWait   string // the app container's waiting reason, "" when running
		initReady bool   // the first init container is ready
	}{
		{func() {}, "one-0", "one=Running two=Waiting:PodInitializing", v1.PodPending, v1.ConditionFalse, "PodInitializing", false},
		{func() { w.exit("one", 0) }, "one-0,two-0", "one=Terminated:Completed two=Running", v1.PodPending, v1.ConditionFalse, "PodInitializing", true},
		{func() { w.exit("two", 0) }, "one-0,two-0,app-0", "one=Terminated:Completed two=Terminated:Completed", v1.PodRunning, v1.ConditionTrue, "", true},
		// Init containers never run again, even when the app restarts.
		{func() { w.exit("app", 1) }, "one-0,two-0,app-0,app-1", "one=Terminated:Completed two=Terminated:Completed", v1.PodRunning, v1.ConditionTrue, "", true},
	}
	for i, s := range steps {
		s.do()
		w.sync(ctx)
		if got := w.rt.startedIDs(); got != s.started {
			t.Fatalf("step %d: started %s, want %s", i, got, s.started)
		}
		st := w.podStatus(w.pod)
		if got := initStatusOf(st); got != s.inits {
			t.Errorf("step %d: init statuses %s, want %s", i, got, s.inits)
		}
		if st.Phase != s.phase {
			t.Errorf("step %d: phase %s, want %s", i, st.Phase, s.phase)
		}
		c := condOf(st, v1.PodInitialized)
		if c.Status != s.init {
			t.Errorf("step %d: Initialized %s, want %s", i, c.Status, s.init)
		}
		if c.Status == v1.ConditionFalse && (c.Reason != "ContainersNotInitialized" || !strings.Contains(c.Message, "containers with incomplete status: [")) {
			t.Errorf("step %d: Initialized condition %+v", i, c)
		}
		app := st.ContainerStatuses[0]
		if got := ""; app.State.Waiting != nil {
			got = app.State.Waiting.Reason
			if got != s.appWait {
				t.Errorf("step %d: app waiting on %q, want %q", i, got, s.appWait)
			}
		} else if s.appWait != "" {
			t.Errorf("step %d: app state %+v, want waiting on %s", i, app.State, s.appWait)
		}
		if st.InitContainerStatuses[0].Ready != s.initReady {
			t.Errorf("step %d: first init container ready %v", i, st.InitContainerStatuses[0].Ready)
		}
	}
}

func TestFailingInitContainer(t *testing.T) {
	for _, tc := range []struct {
		policy string
		// after the second failure
		phase, inits string
		restarted    bool
	}{
		{v1.RestartAlways, v1.PodPending, "init=Waiting:CrashLoopBackOff", true},
		{v1.RestartOnFailure, v1.PodPending, "init=Waiting:CrashLoopBackOff", true},
		{v1.RestartNever, v1.PodFailed, "init=Terminated:Error", false},
	} {
		t.Run(tc.policy, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := newLifecycleWorker(t, nil)
			w.pod = initPod(tc.policy, "init")
			w.sync(ctx)
			w.exit("init", 1)
			// Before the worker acts on the exit, the status shows Init:Error.
			if got := initStatusOf(w.podStatus(w.pod)); got != "init=Terminated:Error" {
				t.Errorf("after the first failure: %s", got)
			}
			w.sync(ctx) // the first restart has no back-off
			if tc.restarted {
				w.now = w.now.Add(time.Second)
				w.exit("init", 1)
				w.sync(ctx)
			}
			want := "init-0"
			if tc.restarted {
				want = "init-0,init-1"
			}
			if got := w.rt.startedIDs(); got != want {
				t.Fatalf("started %s, want %s (the app must never start)", got, want)
			}
			st := w.podStatus(w.pod)
			if st.Phase != tc.phase || initStatusOf(st) != tc.inits {
				t.Errorf("phase %s inits %s, want %s %s", st.Phase, initStatusOf(st), tc.phase, tc.inits)
			}
			if !tc.restarted {
				return
			}
			if rc := st.InitContainerStatuses[0].RestartCount; rc != 1 {
				t.Errorf("restartCount %d, want 1", rc)
			}
			// The back-off ends: the init container runs again.
			w.now = w.now.Add(11 * time.Second)
			w.sync(ctx)
			if got := w.rt.startedIDs(); got != "init-0,init-1,init-2" {
				t.Errorf("after the back-off started %s", got)
			}
		})
	}
}

func TestAdoptedPodDoesNotRerunInit(t *testing.T) {
	for _, tc := range []struct {
		name    string
		adopted []Container
		inits   string
	}{
		{"init containers kept", []Container{
			{ID: "init-0", State: StateExited, Labels: map[string]string{LabelContainer: "init", LabelAttempt: "0"}},
			{ID: "app-0", State: StateRunning, Labels: map[string]string{LabelContainer: "app", LabelAttempt: "0"}},
		}, "init=Terminated:Completed"},
		{"init containers removed", []Container{
			{ID: "app-0", State: StateRunning, Labels: map[string]string{LabelContainer: "app", LabelAttempt: "0"}},
		}, "init=Terminated:Completed"},
		{"app exited", []Container{
			{ID: "app-0", State: StateExited, ExitCode: 0, Labels: map[string]string{LabelContainer: "app", LabelAttempt: "0"}},
		}, "init=Terminated:Completed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := newLifecycleWorker(t, nil)
			w.adopt(tc.adopted)
			w.pod = initPod(v1.RestartOnFailure, "init")
			// What the previous agent reported.
			w.pod.Status.InitContainerStatuses = []v1.ContainerStatus{{Name: "init", ContainerID: "containerd://init-0",
				State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{Reason: "Completed"}}}}
			w.sync(ctx)
			if got := w.rt.startedIDs(); got != "" {
				t.Errorf("started %s on adoption, want nothing", got)
			}
			st := w.podStatus(w.pod)
			if c := condOf(st, v1.PodInitialized); c.Status != v1.ConditionTrue {
				t.Errorf("Initialized %+v", c)
			}
			if got := initStatusOf(st); got != tc.inits {
				t.Errorf("init statuses %s, want %s", got, tc.inits)
			}
		})
	}
}

func TestActiveDeadline(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newLifecycleWorker(t, nil)
	w.pod = initPod(v1.RestartAlways)
	w.pod.Spec.ActiveDeadlineSeconds = new(int64(5))
	if d := w.sync(ctx); d != 5*time.Second {
		t.Errorf("sync wants to run again in %v, want the 5s left", d)
	}
	w.now = w.now.Add(4 * time.Second)
	w.sync(ctx)
	if st := w.podStatus(w.pod); st.Phase != v1.PodRunning || len(w.rt.stopped) != 0 {
		t.Fatalf("before the deadline: phase %s, stopped %v", st.Phase, w.rt.stopped)
	}
	w.now = w.now.Add(time.Second)
	w.sync(ctx)
	if strings.Join(w.rt.stopped, ",") != "app-0" {
		t.Fatalf("stopped %v, want app-0", w.rt.stopped)
	}
	w.exit("app", 137)
	w.now = w.now.Add(time.Minute)
	w.sync(ctx)
	st := w.podStatus(w.pod)
	if st.Phase != v1.PodFailed || st.Reason != "DeadlineExceeded" || st.Message != "Pod was active on the node longer than the specified deadline" {
		t.Errorf("status %s %s %q", st.Phase, st.Reason, st.Message)
	}
	if got := w.rt.startedIDs(); got != "app-0" {
		t.Errorf("the ended pod restarted: %s", got)
	}
	if cs := st.ContainerStatuses[0]; cs.State.Terminated == nil {
		t.Errorf("container state %+v, want terminated", cs.State)
	}
	// A restarted agent reads the end from the pod's status.
	w2 := newLifecycleWorker(t, nil)
	w2.pod = initPod(v1.RestartAlways)
	w2.pod.Status = st
	w2.sync(ctx)
	if got := w2.rt.startedIDs(); got != "" {
		t.Errorf("a restarted agent started %s in an ended pod", got)
	}
}

// nextEvent waits for the worker's next event (a probe's) with a deadline.
func nextEvent(t *testing.T, w *lifecycleWorker) workerEvent {
	t.Helper()
	select {
	case ev := <-w.events:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no probe event within 10s")
	}
	return workerEvent{}
}

func TestStartupProbe(t *testing.T) {
	for _, tc := range []struct {
		name     string
		exitCode int // of the startup probe's command
		policy   string
		started  string // containers started after the verdict
	}{
		{"succeeds", 0, v1.RestartAlways, "app-0"},
		{"fails, restarted", 1, v1.RestartAlways, "app-0,app-1"},
		{"fails, never restarted", 1, v1.RestartNever, "app-0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var mu sync.Mutex
			var probed []string
			w := newLifecycleWorker(t, func(cmd []string) (int, []byte, error) {
				mu.Lock()
				defer mu.Unlock()
				probed = append(probed, cmd[0])
				if cmd[0] == "startup" {
					return tc.exitCode, nil, nil
				}
				return 0, nil, nil
			})
			w.pod = initPod(tc.policy)
			c := &w.pod.Spec.Containers[0]
			probe := func(cmd string) *v1.Probe {
				return &v1.Probe{ProbeHandler: v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{cmd}}},
					TimeoutSeconds: 1, PeriodSeconds: 1, SuccessThreshold: 1, FailureThreshold: 1}
			}
			c.StartupProbe, c.LivenessProbe = probe("startup"), probe("liveness")
			w.sync(ctx)
			cs := w.podStatus(w.pod).ContainerStatuses[0]
			if cs.Started == nil || *cs.Started || cs.Ready {
				t.Fatalf("before the startup probe: started %v ready %v", cs.Started, cs.Ready)
			}
			ev := nextEvent(t, w)
			w.handle(ev)
			mu.Lock()
			first := append([]string(nil), probed...)
			mu.Unlock()
			if len(first) == 0 || first[0] != "startup" {
				t.Errorf("probes ran %v; the startup probe must come first", first)
			}
			if tc.exitCode == 0 {
				cs := w.podStatus(w.pod).ContainerStatuses[0]
				if !ev.started || !*cs.Started || !cs.Ready {
					t.Errorf("after the startup probe: event %+v started %v ready %v", ev, *cs.Started, cs.Ready)
				}
				// The liveness probe runs only now.
				deadline := time.Now().Add(10 * time.Second)
				for {
					mu.Lock()
					n := len(probed)
					last := probed[n-1]
					mu.Unlock()
					if last == "liveness" {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the liveness probe never ran after startup succeeded")
					}
					time.Sleep(10 * time.Millisecond)
				}
			} else if ev.startup == "" {
				t.Fatalf("event %+v, want a startup failure", ev)
			}
			w.sync(ctx)
			if tc.exitCode != 0 && strings.Join(w.rt.stopped, ",") != "app-0" {
				t.Errorf("stopped %v, want app-0 killed by its startup probe", w.rt.stopped)
			}
			if got := w.rt.startedIDs(); got != tc.started {
				t.Errorf("started %s, want %s", got, tc.started)
			}
			w.stopAllProbes()
		})
	}
}

func TestEmptyDirMemorySize(t *testing.T) {
	q := resource.MustParse
	a := &Agent{cfg: Config{Capacity: v1.ResourceList{v1.ResourceMemory: q("8Gi")}}}
	for _, tc := range []struct {
		name   string
		limits []string // memory limit per container, "" = none
		size   string
		want   int64
	}{
		{"node memory", []string{""}, "", 8 << 30},
		{"sizeLimit", []string{""}, "64Mi", 64 << 20},
		{"pod limit", []string{"100Mi", "28Mi"}, "", 128 << 20},
		{"one container without limit", []string{"100Mi", ""}, "", 8 << 30},
		{"sizeLimit over the pod limit", []string{"100Mi"}, "1Gi", 100 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := &v1.Pod{}
			for _, l := range tc.limits {
				c := v1.Container{Name: "c"}
				if l != "" {
					c.Resources.Limits = v1.ResourceList{v1.ResourceMemory: q(l)}
				}
				pod.Spec.Containers = append(pod.Spec.Containers, c)
			}
			e := &v1.EmptyDirVolumeSource{Medium: v1.MediumMemory}
			if tc.size != "" {
				s := q(tc.size)
				e.SizeLimit = &s
			}
			if got := a.emptyDirMemorySize(pod, e); got != tc.want {
				t.Errorf("size %d, want %d", got, tc.want)
			}
		})
	}
}

func TestEmptyDirSizeLimitEviction(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newLifecycleWorker(t, nil)
	w.pod = initPod(v1.RestartAlways)
	limit := resource.MustParse("1Mi")
	w.pod.Spec.Volumes = []v1.Volume{{Name: "scratch", EmptyDir: &v1.EmptyDirVolumeSource{SizeLimit: &limit}}}
	dir := filepath.Join(w.a.podDir("u"), volumesDir, "scratch")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w.sync(ctx)
	if st := w.podStatus(w.pod); st.Phase != v1.PodRunning {
		t.Fatalf("phase %s with an empty volume", st.Phase)
	}
	// 2 MiB of real blocks: over the limit.
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if used, err := dirUsage(dir); err != nil || used < 2<<20 {
		t.Fatalf("dirUsage = %d, %v; want >= 2 MiB", used, err)
	}
	w.now = w.now.Add(5 * time.Second)
	w.sync(ctx)
	if st := w.podStatus(w.pod); st.Phase != v1.PodRunning {
		t.Fatalf("measured again before the check interval: phase %s", st.Phase)
	}
	w.now = w.now.Add(5 * time.Second)
	w.sync(ctx)
	st := w.podStatus(w.pod)
	want := `Usage of EmptyDir volume "scratch" exceeds the limit "1Mi". `
	if st.Phase != v1.PodFailed || st.Reason != "Evicted" || st.Message != want {
		t.Errorf("status %s %s %q, want Failed Evicted %q", st.Phase, st.Reason, st.Message, want)
	}
	if strings.Join(w.rt.stopped, ",") != "app-0" {
		t.Errorf("stopped %v, want app-0", w.rt.stopped)
	}
}

// Every downward-API field the API accepts resolves on the node.
func TestFieldRefsResolve(t *testing.T) {
	w := newLifecycleWorker(t, nil)
	w.a.cfg.NodeIP = "192.0.2.10"
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", Namespace: "default", UID: "u"},
		Spec: v1.PodSpec{NodeName: "node-1", ServiceAccountName: "default"}}
	for _, path := range v1.SupportedFieldRefPaths() {
		if got, err := w.fieldRef(pod, path); got == "" || err != nil {
			t.Errorf("fieldRef %s resolves to %q, %v", path, got, err)
		}
	}
}
