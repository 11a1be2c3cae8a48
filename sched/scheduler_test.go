package sched

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

func readyNode(name, cpu, mem string, labels map[string]string) *v1.Node {
	return &v1.Node{
		ObjectMeta: v1.ObjectMeta{Name: name, Labels: labels},
		Status: v1.NodeStatus{
			Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse(mem),
				v1.ResourcePods: resource.MustParse("110")},
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
}

func pendingPod(name, cpu string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox",
			Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}}}}},
	}
}

func owned(p *v1.Pod, uid string) *v1.Pod {
	yes := true
	p.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "rc", UID: uid, Controller: &yes}}
	return p
}

// gpus makes p ask for n example.com/gpu (an extended resource: limit = request).
func gpus(p *v1.Pod, n string) *v1.Pod {
	q := resource.MustParse(n)
	p.Spec.Containers[0].Resources.Limits = v1.ResourceList{"example.com/gpu": q}
	p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = q
	return p
}

// gpuNode is a ready node reporting n example.com/gpu.
func gpuNode(n string) *v1.Node {
	node := readyNode("n", "4", "8Gi", nil)
	node.Status.Allocatable["example.com/gpu"] = resource.MustParse(n)
	return node
}

func seeded() *rand.Rand { return rand.New(rand.NewPCG(1, 2)) }

func TestFiltersSayWhyANodeIsRefused(t *testing.T) {
	notReady := readyNode("n", "4", "8Gi", nil)
	notReady.Status.Conditions[0].Status = v1.ConditionUnknown
	cordoned := readyNode("n", "4", "8Gi", nil)
	cordoned.Spec.Unschedulable = true
	tainted := readyNode("n", "4", "8Gi", nil)
	tainted.Spec.Taints = []v1.Taint{{Key: "node.orch.io/unreachable", Effect: v1.TaintNoSchedule}}
	soft := readyNode("n", "4", "8Gi", nil)
	soft.Spec.Taints = []v1.Taint{{Key: "k", Effect: v1.TaintPreferNoSchedule}}
	full := readyNode("n", "1", "8Gi", nil)
	withPort := func(p *v1.Pod) *v1.Pod {
		p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: "TCP"}}
		return p
	}
	selecting := func(p *v1.Pod) *v1.Pod { p.Spec.NodeSelector = map[string]string{"disk": "ssd"}; return p }
	tolerating := func(p *v1.Pod, tol v1.Toleration) *v1.Pod { p.Spec.Tolerations = []v1.Toleration{tol}; return p }

	tests := []struct {
		name  string
		node  *v1.Node
		bound []*v1.Pod
		pod   *v1.Pod
		want  string // "" = schedulable
	}{
		{"fits", readyNode("n", "4", "8Gi", nil), nil, pendingPod("p", "1"), ""},
		{"not ready", notReady, nil, pendingPod("p", "1"), "node(s) were not ready"},
		{"no ready condition", &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n"}}, nil, pendingPod("p", "1"), "node(s) were not ready"},
		{"cordoned", cordoned, nil, pendingPod("p", "1"), "node(s) were unschedulable"},
		{"cordoned, unschedulable tolerated (a daemon pod)", cordoned, nil, tolerating(pendingPod("p", "1"),
			v1.Toleration{Key: "node.kubernetes.io/unschedulable", Operator: "Exists", Effect: v1.TaintNoSchedule}), ""},
		{"cordoned, another taint tolerated", cordoned, nil, tolerating(pendingPod("p", "1"),
			v1.Toleration{Key: "node.kubernetes.io/not-ready", Operator: "Exists"}), "node(s) were unschedulable"},
		{"NoSchedule taint", tainted, nil, pendingPod("p", "1"), "node(s) had untolerated taints"},
		{"tolerated by Exists", tainted, nil, tolerating(pendingPod("p", "1"), v1.Toleration{Key: "node.orch.io/unreachable", Operator: "Exists"}), ""},
		{"tolerated by empty-key Exists", tainted, nil, tolerating(pendingPod("p", "1"), v1.Toleration{Operator: "Exists"}), ""},
		{"wrong effect tolerated", tainted, nil, tolerating(pendingPod("p", "1"), v1.Toleration{Key: "node.orch.io/unreachable", Operator: "Exists", Effect: v1.TaintNoExecute}), "node(s) had untolerated taints"},
		{"PreferNoSchedule does not filter", soft, nil, pendingPod("p", "1"), ""},
		{"selector mismatch", readyNode("n", "4", "8Gi", map[string]string{"disk": "hdd"}), nil, selecting(pendingPod("p", "1")), "node(s) didn't match Pod's node affinity/selector"},
		{"selector match", readyNode("n", "4", "8Gi", map[string]string{"disk": "ssd"}), nil, selecting(pendingPod("p", "1")), ""},
		{"cpu", full, []*v1.Pod{pendingPod("b", "800m")}, pendingPod("p", "201m"), "Insufficient cpu"},
		{"cpu exactly full", full, []*v1.Pod{pendingPod("b", "800m")}, pendingPod("p", "200m"), ""},
		{"finished pods free their share", full, []*v1.Pod{func() *v1.Pod { p := pendingPod("b", "1"); p.Status.Phase = v1.PodSucceeded; return p }()}, pendingPod("p", "1"), ""},
		{"host port taken", readyNode("n", "4", "8Gi", nil), []*v1.Pod{withPort(pendingPod("b", "1"))}, withPort(pendingPod("p", "1")), "node(s) didn't have free ports for the requested pod ports"},
		{"extended resource the node lacks", readyNode("n", "4", "8Gi", nil), nil, gpus(pendingPod("p", "1"), "1"), "Insufficient example.com/gpu"},
		{"extended resource fits", gpuNode("2"), []*v1.Pod{gpus(pendingPod("b", "1"), "1")}, gpus(pendingPod("p", "1"), "1"), ""},
		{"extended resource used up", gpuNode("2"), []*v1.Pod{gpus(pendingPod("b", "1"), "2")}, gpus(pendingPod("p", "1"), "1"), "Insufficient example.com/gpu"},
		{"huge cpu request saturates, never wraps", readyNode("n", "4", "8Gi", nil), []*v1.Pod{pendingPod("b", "1000000")}, pendingPod("p", "1000000"), "Insufficient cpu"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, b := range tt.bound {
				b.Spec.NodeName = tt.node.Name
			}
			plan := Schedule(NewSnapshot([]*v1.Node{tt.node}, tt.bound), []*v1.Pod{tt.pod}, seeded())
			msg, refused := plan.Unschedulable["default/p"]
			switch {
			case tt.want == "" && (refused || len(plan.Bindings) != 1):
				t.Fatalf("refused: %q", msg)
			case tt.want != "" && msg != "0/1 nodes are available: 1 "+tt.want+".":
				t.Fatalf("message %q, want reason %q", msg, tt.want)
			}
		})
	}
}

func TestUnschedulableMessageCountsReasons(t *testing.T) {
	var nodes []*v1.Node
	for i := 0; i < 3; i++ {
		nodes = append(nodes, readyNode(fmt.Sprintf("small%d", i), "1", "8Gi", map[string]string{"disk": "ssd"}))
	}
	for i := 0; i < 2; i++ {
		nodes = append(nodes, readyNode(fmt.Sprintf("hdd%d", i), "64", "8Gi", map[string]string{"disk": "hdd"}))
	}
	p := pendingPod("big", "8")
	p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
	plan := Schedule(NewSnapshot(nodes, nil), []*v1.Pod{p}, seeded())
	want := "0/5 nodes are available: 2 node(s) didn't match Pod's node affinity/selector, 3 Insufficient cpu."
	if got := plan.Unschedulable["default/big"]; got != want {
		t.Fatalf("message\n got  %q\n want %q", got, want)
	}
	if len(plan.Bindings) != 0 {
		t.Fatalf("bound %v", plan.Bindings)
	}
}

func TestSpreadsAControllersPodsWithinOne(t *testing.T) {
	var nodes []*v1.Node
	for i := 0; i < 10; i++ {
		nodes = append(nodes, readyNode(fmt.Sprintf("n%02d", i), "16", "64Gi", nil))
	}
	var pods []*v1.Pod
	for i := 0; i < 50; i++ {
		pods = append(pods, owned(pendingPod(fmt.Sprintf("p%02d", i), "100m"), "rc-1"))
	}
	// Another controller already crowds two nodes: spreading is per controller.
	var bound []*v1.Pod
	for i := 0; i < 6; i++ {
		p := owned(pendingPod(fmt.Sprintf("other%d", i), "100m"), "rc-2")
		p.Spec.NodeName = fmt.Sprintf("n%02d", i%2)
		bound = append(bound, p)
	}
	plan := Schedule(NewSnapshot(nodes, bound), pods, seeded())
	if len(plan.Bindings) != 50 {
		t.Fatalf("bound %d of 50: %v", len(plan.Bindings), plan.Unschedulable)
	}
	per := map[string]int{}
	for _, b := range plan.Bindings {
		per[b.Node]++
	}
	lo, hi := 50, 0
	for _, n := range nodes {
		lo, hi = min(lo, per[n.Name]), max(hi, per[n.Name])
	}
	if hi-lo > 1 {
		t.Fatalf("spread %v: min %d max %d", per, lo, hi)
	}
}

func TestOnePlanNeverOvercommitsANode(t *testing.T) {
	nodes := []*v1.Node{readyNode("n1", "1", "8Gi", nil)}
	var pods []*v1.Pod
	for i := 0; i < 10; i++ {
		pods = append(pods, pendingPod(fmt.Sprintf("p%d", i), "300m"))
	}
	plan := Schedule(NewSnapshot(nodes, nil), pods, seeded())
	if len(plan.Bindings) != 3 || len(plan.Unschedulable) != 7 {
		t.Fatalf("bound %d, unschedulable %d; want 3 and 7", len(plan.Bindings), len(plan.Unschedulable))
	}
}

func TestLeastAllocatedPrefersTheEmptierNode(t *testing.T) {
	busy := pendingPod("busy", "3")
	busy.Spec.NodeName = "a"
	nodes := []*v1.Node{readyNode("a", "4", "8Gi", nil), readyNode("b", "4", "8Gi", nil)}
	plan := Schedule(NewSnapshot(nodes, []*v1.Pod{busy}), []*v1.Pod{pendingPod("p", "500m")}, seeded())
	if len(plan.Bindings) != 1 || plan.Bindings[0].Node != "b" {
		t.Fatalf("bindings %v, want node b", plan.Bindings)
	}
}

func TestScheduleIsDeterministicForASeed(t *testing.T) {
	mk := func() (*Snapshot, []*v1.Pod) {
		var nodes []*v1.Node
		for i := 0; i < 4; i++ {
			nodes = append(nodes, readyNode(fmt.Sprintf("n%d", i), "8", "8Gi", nil))
		}
		var pods []*v1.Pod
		for i := 0; i < 7; i++ {
			pods = append(pods, pendingPod(fmt.Sprintf("p%d", i), "100m"))
		}
		return NewSnapshot(nodes, nil), pods
	}
	s1, p1 := mk()
	s2, p2 := mk()
	a, b := Schedule(s1, p1, seeded()), Schedule(s2, p2, seeded())
	if fmt.Sprint(a.Bindings) != fmt.Sprint(b.Bindings) {
		t.Fatalf("same seed, different plans:\n%v\n%v", a.Bindings, b.Bindings)
	}
}

func TestFeasibleToFind(t *testing.T) {
	for _, tt := range []struct{ nodes, want int }{{0, 0}, {10, 10}, {100, 100}, {101, 100}, {1000, 420}, {5000, 500}, {100000, 5000}} {
		if got := feasibleToFind(tt.nodes); got != tt.want {
			t.Errorf("feasibleToFind(%d) = %d, want %d", tt.nodes, got, tt.want)
		}
	}
}

func TestEarlyStopStillReachesEveryNode(t *testing.T) {
	var nodes []*v1.Node
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, readyNode(fmt.Sprintf("n%04d", i), "32", "128Gi", nil))
	}
	var pods []*v1.Pod
	for i := 0; i < 3000; i++ {
		pods = append(pods, owned(pendingPod(fmt.Sprintf("p%04d", i), "100m"), "rc-big"))
	}
	// Searches stop after 420 feasible nodes, so spreading is approximate
	// (as with Kubernetes' partial scoring): every node is reached, and none
	// gets twice its share.
	for seed := uint64(0); seed < 5; seed++ {
		plan := Schedule(NewSnapshot(nodes, nil), pods, rand.New(rand.NewPCG(seed, seed+1)))
		if len(plan.Bindings) != 3000 {
			t.Fatalf("bound %d of 3000", len(plan.Bindings))
		}
		per := map[string]int{}
		for _, b := range plan.Bindings {
			per[b.Node]++
		}
		lo, hi := 3000, 0
		for _, n := range nodes {
			lo, hi = min(lo, per[n.Name]), max(hi, per[n.Name])
		}
		if lo < 1 || hi > 6 {
			t.Fatalf("seed %d: spread over 1000 nodes: min %d max %d (3 each on average)", seed, lo, hi)
		}
		t.Logf("seed %d: min %d max %d", seed, lo, hi)
	}
}

func BenchmarkSchedule10kPodsOn1kNodes(b *testing.B) {
	var nodes []*v1.Node
	for i := 0; i < 1000; i++ {
		nodes = append(nodes, readyNode(fmt.Sprintf("n%04d", i), "32", "128Gi", nil))
	}
	var pods []*v1.Pod
	for i := 0; i < 10000; i++ {
		pods = append(pods, owned(pendingPod(fmt.Sprintf("p%05d", i), "100m"), "rc-big"))
	}
	b.ResetTimer()
	cpu := processCPU(b)
	for i := 0; i < b.N; i++ {
		Schedule(NewSnapshot(nodes, nil), pods, seeded())
	}
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op") // the process's, its garbage collection included
}
