package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
)

var testNow = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func ago(d time.Duration) v1.Time { return v1.NewTime(testNow.Add(-d)) }

func runningPod(name string, ready bool, restarts int32) *v1.Pod {
	p := &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: ago(5 * time.Minute)},
		Spec:       v1.PodSpec{NodeName: "node1", Containers: []v1.Container{{Name: "web", Image: "nginx"}}},
		Status: v1.PodStatus{Phase: v1.PodRunning, PodIP: "10.244.1.5", ContainerStatuses: []v1.ContainerStatus{{
			Name: "web", Ready: ready, RestartCount: restarts,
			State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: ago(time.Minute)}},
		}}},
	}
	if restarts > 0 {
		p.Status.ContainerStatuses[0].LastState.Terminated = &v1.ContainerStateTerminated{ExitCode: 1, FinishedAt: ago(90 * time.Second)}
	}
	return p
}

func TestPodSummary(t *testing.T) {
	deleting := runningPod("d", true, 0)
	dt := ago(time.Second)
	deleting.DeletionTimestamp = &dt
	waiting := runningPod("w", false, 3)
	waiting.Status.ContainerStatuses[0].State = v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
	exited := runningPod("e", false, 0)
	exited.Status.ContainerStatuses[0].State = v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 2}}
	pending := &v1.Pod{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a"}, {Name: "b"}}}}
	initPod := func(name string, initialized bool, app v1.ContainerState, inits ...v1.ContainerStatus) *v1.Pod {
		p := runningPod(name, false, 0)
		p.Status.Phase = v1.PodPending
		p.Status.ContainerStatuses[0].State = app
		p.Status.InitContainerStatuses = inits
		for i := range inits {
			p.Spec.InitContainers = append(p.Spec.InitContainers, v1.Container{Name: inits[i].Name})
		}
		st := v1.ConditionFalse
		if initialized {
			st = v1.ConditionTrue
		}
		p.Status.Conditions = []v1.PodCondition{{Type: v1.PodInitialized, Status: st}}
		return p
	}
	podInitializing := v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "PodInitializing"}}
	done := v1.ContainerStatus{Name: "a", State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{Reason: "Completed"}}}
	runningInit := v1.ContainerStatus{Name: "b", State: v1.ContainerState{Running: &v1.ContainerStateRunning{}}}
	notYet := v1.ContainerStatus{Name: "b", State: podInitializing}
	failed := v1.ContainerStatus{Name: "b", State: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1, Reason: "Error"}}}
	looping := v1.ContainerStatus{Name: "b", RestartCount: 2,
		State:     v1.ContainerState{Waiting: &v1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
		LastState: v1.ContainerState{Terminated: &v1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", FinishedAt: ago(30 * time.Second)}}}
	tests := []struct {
		pod                    *v1.Pod
		ready, status, restart string
	}{
		{initPod("i1", false, podInitializing, done, runningInit), "0/1", "Init:1/2", "0"},
		{initPod("i0", false, podInitializing, notYet, notYet), "0/1", "Init:0/2", "0"},
		{initPod("ie", false, podInitializing, done, failed), "0/1", "Init:Error", "0"},
		{initPod("ic", false, podInitializing, done, looping), "0/1", "Init:CrashLoopBackOff", "2 (30s ago)"},
		{initPod("pi", true, podInitializing, done, done), "0/1", "PodInitializing", "0"},
		{runningPod("r", true, 0), "1/1", "Running", "0"},
		{waiting, "0/1", "CrashLoopBackOff", "3 (90s ago)"},
		{exited, "0/1", "ExitCode:2", "0"},
		{deleting, "1/1", "Terminating", "0"},
		{pending, "0/2", "Pending", "0"},
	}
	for _, tt := range tests {
		ready, total, status, restarts := podSummary(tt.pod, testNow)
		got := strings.Join([]string{itoa(int32(ready)) + "/" + itoa(int32(total)), status, restarts}, " ")
		want := strings.Join([]string{tt.ready, tt.status, tt.restart}, " ")
		if got != want {
			t.Errorf("pod %q: got %q, want %q", tt.pod.Name, got, want)
		}
	}
}

func TestPodTable(t *testing.T) {
	pods := []v1.Object{runningPod("web-1", true, 0), runningPod("web-22", false, 3)}
	var b bytes.Buffer
	if err := writeTable(&b, buildTable(mustResource("pods"), pods, tableOptions{now: testNow}), false); err != nil {
		t.Fatal(err)
	}
	want := `NAME     READY   STATUS    RESTARTS      AGE
web-1    1/1     Running   0             5m
web-22   0/1     Running   3 (90s ago)   5m
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}

	b.Reset()
	o := tableOptions{now: testNow, wide: true, withNamespace: true, showLabels: true}
	pods[0].GetObjectMeta().Labels = map[string]string{"b": "2", "a": "1"}
	if err := writeTable(&b, buildTable(mustResource("pods"), pods[:1], o), true); err != nil {
		t.Fatal(err)
	}
	want = "default   web-1   1/1   Running   0   5m   10.244.1.5   node1   a=1,b=2\n"
	if b.String() != want {
		t.Fatalf("wide got:\n%q\nwant:\n%q", b.String(), want)
	}
}

func TestTablesOfOtherKinds(t *testing.T) {
	three := int32(3)
	created := ago(50 * time.Hour)
	tests := []struct {
		res  string
		obj  v1.Object
		wide bool
		want []string
	}{
		{"rc", &v1.ReplicationController{
			ObjectMeta: v1.ObjectMeta{Name: "web", CreationTimestamp: created},
			Spec: v1.ReplicationControllerSpec{Replicas: &three, Selector: map[string]string{"app": "web"},
				Template: &v1.PodTemplateSpec{Spec: v1.PodSpec{Containers: []v1.Container{{Name: "web", Image: "nginx:1"}}}}},
			Status: v1.ReplicationControllerStatus{Replicas: 3, ReadyReplicas: 2},
		}, true, []string{"web", "3", "3", "2", "2d2h", "web", "nginx:1", "app=web"}},
		{"svc", &v1.Service{
			ObjectMeta: v1.ObjectMeta{Name: "web", CreationTimestamp: created},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeNodePort, ClusterIP: "10.96.0.10", Ports: []v1.ServicePort{
				{Port: 80, NodePort: 30080, TargetPort: intstr.FromInt32(8080)}, {Port: 53, Protocol: "UDP"}}},
		}, false, []string{"web", "NodePort", "10.96.0.10", "80:30080/TCP,53/UDP", "2d2h"}},
		{"ep", &v1.Endpoints{
			ObjectMeta: v1.ObjectMeta{Name: "web", CreationTimestamp: created},
			Subsets: []v1.EndpointSubset{{
				Addresses: []v1.EndpointAddress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}, {IP: "10.0.0.3"}, {IP: "10.0.0.4"}},
				Ports:     []v1.EndpointPort{{Port: 80}},
			}},
		}, false, []string{"web", "10.0.0.1:80,10.0.0.2:80,10.0.0.3:80 + 1 more...", "2d2h"}},
		{"ep", &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Name: "empty"}}, false, []string{"empty", "<none>", "<unknown>"}},
		{"ns", &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "prod", CreationTimestamp: created},
			Status: v1.NamespaceStatus{Phase: "Terminating"}}, false, []string{"prod", "Terminating", "2d2h"}},
		{"no", &v1.Node{
			ObjectMeta: v1.ObjectMeta{Name: "n1", CreationTimestamp: created},
			Spec:       v1.NodeSpec{PodCIDR: "10.244.1.0/24", Unschedulable: true},
			Status: v1.NodeStatus{Conditions: []v1.NodeCondition{{Type: "Ready", Status: "True"}},
				Addresses: []v1.NodeAddress{{Type: "Hostname", Address: "n1"}, {Type: "InternalIP", Address: "192.168.1.10"}}},
		}, true, []string{"n1", "Ready,SchedulingDisabled", "2d2h", "192.168.1.10", "10.244.1.0/24"}},
		{"no", &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n2"}}, false, []string{"n2", "Unknown", "<unknown>"}},
	}
	for _, tt := range tests {
		r := mustResource(tt.res)
		o := tableOptions{now: testNow, wide: tt.wide}
		got := tableRow(r, tt.obj, o)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("%s row = %q, want %q", tt.res, got, tt.want)
		}
		if h := tableHeaders(r, o); len(h) != len(got) {
			t.Errorf("%s: %d headers %v for %d cells", tt.res, len(h), h, len(got))
		}
	}
	if h := strings.Join(tableHeaders(mustResource("svc"), tableOptions{}), " "); h != "NAME TYPE CLUSTER-IP PORT(S) AGE" {
		t.Errorf("service headers = %s", h)
	}
	if h := strings.Join(tableHeaders(mustResource("rc"), tableOptions{withNamespace: true}), " "); h != "NAMESPACE NAME DESIRED CURRENT READY AGE" {
		t.Errorf("rc headers = %s", h)
	}
	if h := strings.Join(tableHeaders(mustResource("no"), tableOptions{withNamespace: true}), " "); h != "NAME STATUS AGE" {
		t.Errorf("node headers with -A = %s", h)
	}
}

// TestStreamTableMatchesTabwriter: rows printed one by one during a watch
// line up exactly as the tabwriter lays out the same rows at once.
func TestStreamTableMatchesTabwriter(t *testing.T) {
	tbl := &table{headers: []string{"NAME", "READY", "STATUS"}, rows: [][]string{
		{"a", "1/1", "Running"}, {"longer-name", "0/1", "Pending"}, {"é", "1/1", "Running"},
	}}
	var whole bytes.Buffer
	if err := writeTable(&whole, tbl, false); err != nil {
		t.Fatal(err)
	}
	var streamed bytes.Buffer
	s := &streamTable{w: &streamed}
	if err := s.print(tbl.headers, tbl.rows[:2]); err != nil {
		t.Fatal(err)
	}
	if err := s.print(tbl.headers, tbl.rows[2:]); err != nil {
		t.Fatal(err)
	}
	if whole.String() != streamed.String() {
		t.Fatalf("tabwriter:\n%s\nstreamed:\n%s", whole.String(), streamed.String())
	}
}

func TestHumanDuration(t *testing.T) {
	tests := map[time.Duration]string{
		-5 * time.Second:                     "<invalid>",
		0:                                    "0s",
		119 * time.Second:                    "119s",
		5*time.Minute + 30*time.Second:       "5m30s",
		7 * time.Minute:                      "7m",
		42 * time.Minute:                     "42m",
		3*time.Hour + 10*time.Minute:         "3h10m",
		20 * time.Hour:                       "20h",
		76 * time.Hour:                       "3d4h",
		120 * 24 * time.Hour:                 "120d",
		(2*365 + 30) * 24 * time.Hour:        "2y30d",
		9 * 365 * 24 * time.Hour:             "9y",
		8*time.Hour + 59*time.Minute:         "8h",
		4*24*time.Hour + 30*time.Minute:      "4d",
		3*time.Hour + 59*time.Second:         "3h",
		9*time.Minute + 59*time.Second:       "9m59s",
		2*time.Minute + 500*time.Millisecond: "2m",
	}
	for d, want := range tests {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestMembersTable(t *testing.T) {
	var b bytes.Buffer
	m := membersFixture()
	if err := writeTable(&b, membersTable(m), false); err != nil {
		t.Fatal(err)
	}
	want := `NAME   RAFT-ADDRESS     API-ADDRESS      STATE      VOTER   LAST-INDEX
m1     127.0.0.1:7001   127.0.0.1:6443   leader     true    123
m2     127.0.0.1:7002   127.0.0.1:6444   follower   true    -
`
	if b.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", b.String(), want)
	}
}
