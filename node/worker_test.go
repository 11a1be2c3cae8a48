package node

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/podnet"
	"orch.io/orch/node/credentialprovider"
)

// fakeRuntime is a Runtime for unit tests of this package: Exec answers
// from a table; everything else is unused here.
type fakeRuntime struct {
	exec       func(cmd []string) (int, []byte, error)
	execStream func(id string, cmd []string, sio StreamIO) (int, error)
}

func (f *fakeRuntime) EnsureImage(context.Context, string, string, []credentialprovider.AuthConfig) (ImageInfo, error) {
	return ImageInfo{}, errors.New("unused")
}
func (f *fakeRuntime) ImportImages(context.Context, io.Reader) ([]string, error) { return nil, nil }
func (f *fakeRuntime) StartContainer(context.Context, *ContainerSpec) (string, error) {
	return "", errors.New("unused")
}
func (f *fakeRuntime) Wait(context.Context, string) (<-chan ExitStatus, error) { return nil, nil }
func (f *fakeRuntime) StopContainer(context.Context, string, time.Duration) error {
	return nil
}
func (f *fakeRuntime) RemoveContainer(context.Context, string) error       { return nil }
func (f *fakeRuntime) ListContainers(context.Context) ([]Container, error) { return nil, nil }
func (f *fakeRuntime) RemovePod(context.Context, string) error             { return nil }
func (f *fakeRuntime) Exec(_ context.Context, _ string, cmd []string) (int, []byte, error) {
	return f.exec(cmd)
}

func testWorker(t *testing.T) *podWorker {
	t.Helper()
	a := &Agent{cfg: Config{NodeIP: "192.0.2.10", BackoffInitial: 10 * time.Second, BackoffMax: 40 * time.Second,
		Now: func() time.Time { return time.Unix(1000, 0) }}}
	return &podWorker{a: a, containers: map[string]*containerState{},
		sandbox: &podnet.Sandbox{IP: net.ParseIP("10.244.1.5")}}
}

func TestBackoff(t *testing.T) {
	w := testWorker(t)
	st := &containerState{startedAt: time.Unix(0, 0), finishedAt: time.Unix(1, 0)}
	var got []time.Duration
	for i := 0; i < 6; i++ {
		got = append(got, w.backoff(st))
	}
	want := []time.Duration{0, 10 * time.Second, 20 * time.Second, 40 * time.Second, 40 * time.Second, 40 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff sequence %v, want %v", got, want)
		}
	}
	// A container that ran for twice the maximum starts over.
	st.startedAt, st.finishedAt = time.Unix(0, 0), time.Unix(100, 0)
	if d := w.backoff(st); d != 0 {
		t.Errorf("after a long run the delay is %v, want 0", d)
	}
}

func TestShouldRestart(t *testing.T) {
	for _, tc := range []struct {
		policy string
		code   int
		want   bool
	}{
		{v1.RestartAlways, 0, true}, {v1.RestartAlways, 1, true}, {"", 0, true},
		{v1.RestartOnFailure, 0, false}, {v1.RestartOnFailure, 137, true},
		{v1.RestartNever, 0, false}, {v1.RestartNever, 2, false},
	} {
		if got := shouldRestart(tc.policy, tc.code); got != tc.want {
			t.Errorf("shouldRestart(%q, %d) = %v", tc.policy, tc.code, got)
		}
	}
}

func TestContainerResources(t *testing.T) {
	q := resource.MustParse
	for _, tc := range []struct {
		name string
		res  v1.ResourceRequirements
		want Resources
	}{
		{"none", v1.ResourceRequirements{}, Resources{CPUShares: 2, PidsLimit: 4096}},
		{"requests", v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: q("250m"), v1.ResourceMemory: q("64Mi")}},
			Resources{CPUShares: 256, PidsLimit: 4096}},
		{"limits", v1.ResourceRequirements{Limits: v1.ResourceList{v1.ResourceCPU: q("1500m"), v1.ResourceMemory: q("64Mi")}},
			Resources{CPUShares: 1536, CPUQuota: 150000, CPUPeriod: 100000, MemoryLimit: 64 << 20, PidsLimit: 4096}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := containerResources(&v1.Container{Resources: tc.res}); got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestPodStatus(t *testing.T) {
	pod := func(policy string, names ...string) *v1.Pod {
		p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "p", UID: "u"}, Spec: v1.PodSpec{RestartPolicy: policy}}
		for _, n := range names {
			p.Spec.Containers = append(p.Spec.Containers, v1.Container{Name: n, Image: "busybox"})
		}
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodScheduled, Status: v1.ConditionTrue}}
		return p
	}
	running := &containerState{id: "a", running: true, startedAt: time.Unix(900, 0)}
	exited0 := &containerState{id: "b", exited: true, exitCode: 0}
	exited1 := &containerState{id: "c", exited: true, exitCode: 1}
	backoff := &containerState{id: "d", exited: true, exitCode: 1, waitReason: "CrashLoopBackOff", restarts: 3}
	for _, tc := range []struct {
		name      string
		pod       *v1.Pod
		states    map[string]*containerState
		phase     string
		ready     string
		waitingOn string
	}{
		{"not started", pod("Always", "a"), nil, v1.PodPending, v1.ConditionFalse, "ContainerCreating"},
		{"running", pod("Always", "a"), map[string]*containerState{"a": running}, v1.PodRunning, v1.ConditionTrue, ""},
		{"one of two running", pod("Always", "a", "b"), map[string]*containerState{"a": running}, v1.PodPending, v1.ConditionFalse, "ContainerCreating"},
		{"succeeded", pod("Never", "b"), map[string]*containerState{"b": exited0}, v1.PodSucceeded, v1.ConditionFalse, ""},
		{"failed", pod("Never", "c"), map[string]*containerState{"c": exited1}, v1.PodFailed, v1.ConditionFalse, ""},
		{"on failure, succeeded", pod("OnFailure", "b"), map[string]*containerState{"b": exited0}, v1.PodSucceeded, v1.ConditionFalse, ""},
		{"crash loop", pod("Always", "d"), map[string]*containerState{"d": backoff}, v1.PodRunning, v1.ConditionFalse, "CrashLoopBackOff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := testWorker(t)
			for k, v := range tc.states {
				c := *v
				w.containers[k] = &c
			}
			st := w.podStatus(tc.pod)
			if st.Phase != tc.phase {
				t.Errorf("phase %s, want %s", st.Phase, tc.phase)
			}
			if r := conditionOf(st, v1.PodReady); r != tc.ready {
				t.Errorf("Ready %s, want %s", r, tc.ready)
			}
			if conditionOf(st, v1.PodScheduled) != v1.ConditionTrue {
				t.Errorf("PodScheduled was dropped: %+v", st.Conditions)
			}
			if st.PodIP != "10.244.1.5" || st.HostIP != "192.0.2.10" {
				t.Errorf("podIP %s hostIP %s", st.PodIP, st.HostIP)
			}
			found := tc.waitingOn == ""
			for _, cs := range st.ContainerStatuses {
				if cs.State.Waiting != nil && cs.State.Waiting.Reason == tc.waitingOn {
					found = true
				}
			}
			if !found {
				t.Errorf("no container waiting on %s: %+v", tc.waitingOn, st.ContainerStatuses)
			}
		})
	}
}

func conditionOf(st v1.PodStatus, typ string) string {
	for _, c := range st.Conditions {
		if c.Type == typ {
			return c.Status
		}
	}
	return ""
}

func TestProbe(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	}))
	defer srv.Close()
	host, portStr, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	port, _ := strconv.Atoi(portStr)
	closed := httptest.NewServer(http.NotFoundHandler())
	_, closedPort, _ := net.SplitHostPort(strings.TrimPrefix(closed.URL, "http://"))
	closed.Close()
	cp, _ := strconv.Atoi(closedPort)
	c := &v1.Container{Ports: []v1.ContainerPort{{Name: "http", ContainerPort: int32(port)}}}
	p := &prober{rt: &fakeRuntime{exec: func(cmd []string) (int, []byte, error) {
		if cmd[0] == "true" {
			return 0, nil, nil
		}
		return 1, []byte("nope"), nil
	}}, http: http.DefaultClient}
	byName := v1.IntOrString{Type: 1, StrVal: "http"}
	byNum := v1.IntOrString{IntVal: int32(port)}
	for _, tc := range []struct {
		name  string
		probe v1.ProbeHandler
		want  bool
	}{
		{"exec ok", v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"true"}}}, true},
		{"exec fails", v1.ProbeHandler{Exec: &v1.ExecAction{Command: []string{"false"}}}, false},
		{"http ok by port name", v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: byName}}, true},
		{"http 503", v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/bad", Port: byNum}}, false},
		{"http unknown port name", v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Path: "/", Port: v1.IntOrString{Type: 1, StrVal: "nope"}}}, false},
		{"tcp ok", v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: byNum}}, true},
		{"tcp refused", v1.ProbeHandler{TCPSocket: &v1.TCPSocketAction{Port: v1.IntOrString{IntVal: int32(cp)}}}, false},
		{"no handler", v1.ProbeHandler{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, msg := p.probe(context.Background(), &v1.Probe{ProbeHandler: tc.probe, TimeoutSeconds: 1}, c, host, "id")
			if ok != tc.want {
				t.Errorf("probe = %v (%s), want %v", ok, msg, tc.want)
			}
			if !ok && msg == "" {
				t.Errorf("a failed probe gave no reason")
			}
		})
	}
}
func (f *fakeRuntime) ExecStream(_ context.Context, id string, cmd []string, sio StreamIO) (int, error) {
	if f.execStream == nil {
		return -1, errors.New("unused")
	}
	return f.execStream(id, cmd, sio)
}
func (f *fakeRuntime) Attach(context.Context, string, StreamIO) error { return errors.New("unused") }
