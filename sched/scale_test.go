package sched

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// scaleSizes are the numbers of other pods the per-change cost tests compare.
var scaleSizes = []int{1000, 100000}

// scaleEnv is a store holding n other pods in namespace default (otherPod:
// 100 owners, labelled app=other-<owner>, tier=bulk) and a pod informer
// synced to it. Filling 100,000 pods takes ~30 s under -race, so each size
// is built once per test binary and shared by the per-change cost tests of
// every controller, one test at a time (useScaleEnv locks it until the test
// ends). Tests add their own objects in default under names and labels of
// their own; what earlier tests left behind is more "other" objects.
type scaleEnv struct {
	mu   sync.Mutex
	p    *fakeProposer
	pods *Informer
	n    int
}

var scaleEnvs = struct {
	sync.Mutex
	byN map[int]*scaleEnv
}{byN: map[int]*scaleEnv{}}

// useScaleEnv returns the shared store of n other pods, locked for t.
func useScaleEnv(t *testing.T, n int) *scaleEnv {
	t.Helper()
	scaleEnvs.Lock()
	e := scaleEnvs.byN[n]
	if e == nil {
		e = &scaleEnv{n: n}
		scaleEnvs.byN[n] = e
	}
	scaleEnvs.Unlock()
	e.mu.Lock()
	t.Cleanup(e.mu.Unlock)
	if e.p == nil {
		p := newFakeProposer(t)
		p.createPods(t, n, otherPod)
		inf := NewInformer("pods", nil)
		if err := inf.Sync(p.store()); err != nil {
			t.Fatal(err)
		}
		e.p, e.pods = p, inf
	}
	return e
}

// store returns the environment's store.
func (e *scaleEnv) store() *fsm.Store { return e.p.store() }

// changesSince returns the changes committed after index seen, as the
// leader loops get them between two passes.
func changesSince(t *testing.T, s *fsm.Store, seen uint64) changes {
	t.Helper()
	evs, _, _, _, err := s.Feed().Since(seen)
	if err != nil {
		t.Fatal(err)
	}
	return changes{events: evs}
}

// assertCostIndependent runs measure beside each of scaleSizes' numbers of
// other pods and fails unless every run read the same number of records:
// the work of a change does not grow with the pods it does not concern.
// measure returns the records its measured step read (see readsOf).
func assertCostIndependent(t *testing.T, measure func(t *testing.T, e *scaleEnv) uint64) {
	t.Helper()
	var reads []uint64
	for _, n := range scaleSizes {
		e := useScaleEnv(t, n)
		reads = append(reads, measure(t, e))
	}
	for _, r := range reads[1:] {
		if r != reads[0] {
			t.Fatalf("records read beside %v other pods: %v (want the same at every size)", scaleSizes, reads)
		}
	}
	t.Logf("records read beside %v other pods: %v", scaleSizes, reads)
}

// createPods creates n pods made by mk in batch entries of 1,000, the fast
// way to fill a store.
func (p *fakeProposer) createPods(t testing.TB, n int, mk func(i int) *v1.Pod) {
	t.Helper()
	for start := 0; start < n; start += 1000 {
		var items []fsm.BatchItem
		for i := start; i < min(n, start+1000); i++ {
			cmd, err := fsm.NewCreate(mk(i))
			if err != nil {
				t.Fatal(err)
			}
			items = append(items, batchItem(cmd))
		}
		cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.Apply(context.Background(), cmd)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res.(fsm.BatchResult) {
			if r.Err != nil {
				t.Fatal(r.Err)
			}
		}
	}
}

// otherPod is the i-th of a scaleEnv's other pods: in default, owned by one
// of 100 replication controllers (uid-bulk-<i%100>), labelled with it.
func otherPod(i int) *v1.Pod {
	return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("other-%06d", i), Namespace: "default",
		UID: fmt.Sprintf("uid-other-%d", i), Labels: map[string]string{"app": fmt.Sprintf("other-%d", i%100), "tier": "bulk"},
		OwnerReferences: []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: fmt.Sprintf("bulk-%d", i%100),
			UID: fmt.Sprintf("uid-bulk-%d", i%100), Controller: ptrTo(true)}}},
		Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}
}

// readsOf returns how many records f read from s.
func readsOf(s *fsm.Store, f func()) uint64 {
	before := s.RecordsRead()
	f()
	return s.RecordsRead() - before
}

// boundScaleEnvs are scaleEnvs whose other pods are bound (boundOtherPod)
// to boundScaleNodes nodes the environment registers, for the loops that
// read bound pods (the scheduler's cache); built once per size as scaleEnvs.
var boundScaleEnvs = struct {
	sync.Mutex
	byN map[int]*scaleEnv
}{byN: map[int]*scaleEnv{}}

// boundScaleNodes is how many nodes a bound scale environment's pods share.
const boundScaleNodes = 4

// useBoundScaleEnv returns the shared store of n other pods bound to
// boundScaleNodes nodes (bulk-node-<i>), locked for t.
func useBoundScaleEnv(t *testing.T, n int) *scaleEnv {
	t.Helper()
	boundScaleEnvs.Lock()
	e := boundScaleEnvs.byN[n]
	if e == nil {
		e = &scaleEnv{n: n}
		boundScaleEnvs.byN[n] = e
	}
	boundScaleEnvs.Unlock()
	e.mu.Lock()
	t.Cleanup(e.mu.Unlock)
	if e.p == nil {
		p := newFakeProposer(t)
		for i := range boundScaleNodes {
			n := readyNode(fmt.Sprintf("bulk-node-%d", i), "64", "256Gi", map[string]string{v1.LabelHostname: fmt.Sprintf("bulk-node-%d", i)})
			n.Status.Allocatable[v1.ResourcePods] = resource.MustParse("200000")
			p.create(t, n)
		}
		p.createPods(t, n, boundOtherPod)
		inf := NewInformer("pods", nil)
		if err := inf.Sync(p.store()); err != nil {
			t.Fatal(err)
		}
		e.p, e.pods = p, inf
	}
	return e
}

// boundOtherPod is otherPod bound to bulk-node-<i%boundScaleNodes>.
func boundOtherPod(i int) *v1.Pod {
	p := otherPod(i)
	p.Spec.NodeName = fmt.Sprintf("bulk-node-%d", i%boundScaleNodes)
	return p
}

// assertCostIndependentBound is assertCostIndependent beside bound other
// pods (useBoundScaleEnv).
func assertCostIndependentBound(t *testing.T, measure func(t *testing.T, e *scaleEnv) uint64) {
	t.Helper()
	var reads []uint64
	for _, n := range scaleSizes {
		e := useBoundScaleEnv(t, n)
		reads = append(reads, measure(t, e))
	}
	for _, r := range reads[1:] {
		if r != reads[0] {
			t.Fatalf("records read beside %v bound other pods: %v (want the same at every size)", scaleSizes, reads)
		}
	}
	t.Logf("records read beside %v bound other pods: %v", scaleSizes, reads)
}
