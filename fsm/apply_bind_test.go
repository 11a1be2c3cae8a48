package fsm

import (
	"encoding/json"
	"fmt"
	"reflect"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

// usagePods are pods whose requests and phase read differently: requests
// and limits, init containers above and below the containers, extended
// resources, finished phases, none at all.
func usagePods() map[string]*v1.Pod {
	q := resource.MustParse
	res := func(req, lim v1.ResourceList) v1.ResourceRequirements {
		return v1.ResourceRequirements{Requests: req, Limits: lim}
	}
	return map[string]*v1.Pod{
		"no resources": {Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "b"}}}},
		"requests": {Spec: v1.PodSpec{Containers: []v1.Container{
			{Name: "a", Image: "b", Resources: res(v1.ResourceList{v1.ResourceCPU: q("250m"), v1.ResourceMemory: q("64Mi")}, nil)},
			{Name: "b", Image: "b", Resources: res(v1.ResourceList{v1.ResourceCPU: q("1.5")}, nil)}}}},
		"limits only": {Spec: v1.PodSpec{Containers: []v1.Container{
			{Name: "a", Image: "b", Resources: res(nil, v1.ResourceList{v1.ResourceCPU: q("2"), v1.ResourceMemory: q("1Gi")})}}}},
		"init containers larger": {Spec: v1.PodSpec{
			InitContainers: []v1.Container{{Name: "i", Image: "b", Resources: res(v1.ResourceList{v1.ResourceCPU: q("3"), "example.com/gpu": q("2")},
				v1.ResourceList{"example.com/gpu": q("2")})}},
			Containers: []v1.Container{{Name: "a", Image: "b", Resources: res(v1.ResourceList{v1.ResourceCPU: q("1"), v1.ResourceMemory: q("2Gi"),
				"example.com/gpu": q("1")}, v1.ResourceList{"example.com/gpu": q("1")})}}}},
		"succeeded": {Spec: v1.PodSpec{Containers: []v1.Container{
			{Name: "a", Image: "b", Resources: res(v1.ResourceList{v1.ResourceCPU: q("100m")}, nil)}}},
			Status: v1.PodStatus{Phase: v1.PodSucceeded}},
		"failed": {Spec: v1.PodSpec{Containers: []v1.Container{{Name: "a", Image: "b"}}}, Status: v1.PodStatus{Phase: v1.PodFailed}},
		"running, with much else": {ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"a": "b"}},
			Spec: v1.PodSpec{NodeName: "n1", Containers: []v1.Container{{Name: "a", Image: "b", Command: []string{"sh"},
				Ports:     []v1.ContainerPort{{ContainerPort: 80, HostPort: 8080, Protocol: "TCP"}},
				Resources: res(v1.ResourceList{v1.ResourceMemory: q("100M")}, v1.ResourceList{v1.ResourceMemory: q("200M")})}}},
			Status: v1.PodStatus{Phase: v1.PodRunning, Conditions: []v1.PodCondition{{Type: v1.PodReady, Status: v1.ConditionTrue}}}},
	}
}

// The pod read for a binding's fit check asks for what the decoded pod
// asks for and has finished when it has.
func TestReadPodUsageMatchesTheDecodedPod(t *testing.T) {
	for name, p := range usagePods() {
		t.Run(name, func(t *testing.T) {
			p.Name, p.Namespace = "p", "default"
			v1.SetTypeMeta(p)
			raw, err := json.Marshal(p)
			if err != nil {
				t.Fatal(err)
			}
			full := &v1.Pod{}
			if err := json.Unmarshal(raw, full); err != nil {
				t.Fatal(err)
			}
			got := &v1.Pod{}
			if !readPodUsage(raw, got) {
				t.Fatalf("did not read %s", raw)
			}
			if want, have := v1.PodRequests(full), v1.PodRequests(got); !reflect.DeepEqual(want, have) {
				t.Fatalf("requests %+v, the decoded pod's %+v", have, want)
			}
			if got.Terminal() != full.Terminal() {
				t.Fatalf("terminal %t, the decoded pod's %t", got.Terminal(), full.Terminal())
			}
		})
	}
}

// Bytes that do not read as a pod are left to the full decode.
func TestReadPodUsageRefusesWhatIsNotAPod(t *testing.T) {
	for _, raw := range []string{``, `{`, `[]`, `{"spec":{"containers":[{"resources":{"requests":{"cpu":"1"}}}]}}`,
		`{"kind":"Node","spec":{}}`, `{"kind":"Pod","spec":{"containers":[{"resources":{"requests":{"cpu":"x"}}}]}}`,
		`{"kind":"Pod","spec":{"containers":{}}}`} {
		if readPodUsage([]byte(raw), &v1.Pod{}) {
			t.Errorf("%q read as a pod", raw)
		}
	}
}

// A binding counts the pods on its node from their bytes: a master that
// holds none of them decoded (a follower) decodes none to check the fit,
// and counts them all.
func TestBindCountsTheNodesPodsWithoutDecodingThem(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
	MustCreate(t, f, 2, &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n1"}, Status: v1.NodeStatus{
		Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse("1"), v1.ResourcePods: resource.MustParse("10")}}})
	// Three pods of 300m bound to n1, stored as a follower stores them:
	// records of their bytes, never decoded.
	var recs []*Record
	for i := range 3 {
		p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("on-%d", i), Namespace: "default", UID: fmt.Sprintf("u-%d", i)},
			Spec: v1.PodSpec{NodeName: "n1", Containers: []v1.Container{{Name: "c", Image: "b",
				Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("300m")}}}}}}
		v1.SetTypeMeta(p)
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		r := newKeyedRecord(mustResource(t, "pods"), raw, v1.Key(p.Namespace, p.Name), p.UID, "n1")
		recs = append(recs, r)
	}
	txn := f.Store().db.Txn(true)
	for _, r := range recs {
		if err := txn.Insert("pods", r); err != nil {
			t.Fatal(err)
		}
	}
	txn.Commit()
	w := &writeTxn{txn: f.Store().db.Txn(false)}
	used := nodeUsage(w, "n1")
	if used.MilliCPU != 900 || used.Pods != 3 {
		t.Fatalf("used %+v, want 900m and 3 pods", used)
	}
	for _, r := range recs {
		if r.decoded() {
			t.Fatalf("%s was decoded to count its requests", r.Key())
		}
	}
}

func mustResource(t *testing.T, name string) v1.Resource {
	t.Helper()
	r, ok := v1.ResourceByName(name)
	if !ok {
		t.Fatalf("no resource %s", name)
	}
	return r
}

// BenchmarkApplyBind measures what a master spends applying one binding
// of the scheduling figure (b.N replicas of 100m and 64Mi spread over
// 1,000 nodes of 32 cores, bound in entries of 500), on a store that
// holds the pods as a follower does: created from their commands' bytes
// and never decoded before their binding.
func BenchmarkApplyBind(b *testing.B) {
	const nodes, perEntry = 1000, 500
	f := NewTestFSM(b)
	MustCreate(b, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
	index := uint64(2)
	for i := range nodes {
		MustCreate(b, f, index, &v1.Node{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("sim-%04d", i)}, Status: v1.NodeStatus{
			Allocatable: v1.ResourceList{v1.ResourceCPU: resource.MustParse("32"), v1.ResourceMemory: resource.MustParse("128Gi"),
				v1.ResourcePods: resource.MustParse("110")}}})
		index++
	}
	yes := true
	var logs []*raft.Log
	for i := range b.N {
		p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("sched-%06d", i), Namespace: "default", UID: fmt.Sprintf("uid-%d", i),
			Labels:          map[string]string{"app": "sched"},
			OwnerReferences: []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "sched", UID: "uid-rc", Controller: &yes}}},
			Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Resources: v1.ResourceRequirements{
				Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"), v1.ResourceMemory: resource.MustParse("64Mi")}}}}}}
		v1.Default(p)
		cmd, err := NewCreate(p)
		if err != nil {
			b.Fatal(err)
		}
		logs = append(logs, &raft.Log{Index: index, Type: raft.LogCommand, Data: cmd})
		index++
		if len(logs) == 64 || i == b.N-1 {
			f.ApplyBatch(logs)
			logs = nil
		}
	}
	var binds [][]byte
	for start := 0; start < b.N; start += perEntry {
		var bs []Binding
		for i := start; i < min(start+perEntry, b.N); i++ {
			bs = append(bs, Binding{Namespace: "default", Name: fmt.Sprintf("sched-%06d", i), UID: fmt.Sprintf("uid-%d", i),
				Node: fmt.Sprintf("sim-%04d", i%nodes)})
		}
		cmd, err := Encode(BindCommand, BindRequest{Bindings: bs})
		if err != nil {
			b.Fatal(err)
		}
		binds = append(binds, cmd)
	}
	runtime.GC() // the set-up's garbage is not the bindings'
	b.ReportAllocs()
	b.ResetTimer()
	cpu := bindBenchCPU(b)
	for _, cmd := range binds {
		for _, r := range f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: cmd}).(BatchResult) {
			if r.Err != nil {
				b.Fatal(r.Err)
			}
		}
		index++
	}
	b.StopTimer()
	b.ReportMetric(float64(bindBenchCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// bindBenchCPU returns the CPU time the process has used (its garbage
// collection included), which a shared machine does not inflate as it
// does the time.
func bindBenchCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
