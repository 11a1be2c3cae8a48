package sched

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// memoryPods is how many pods the memory tests hold: enough that the
// per-pod figure is not the maps' first buckets, few enough for -race.
const memoryPods = 5000

// memoryPod is the i-th pod of the memory tests, as a controller's replica
// on a cluster of 50 nodes holds one: owned by one of 50 replication
// controllers, two labels, one container with a port, a 420-byte
// annotation (the API benchmark's pod), bound to node-<i%50>.
func memoryPod(i int) *v1.Pod {
	rc := fmt.Sprintf("rc-%d", i%50)
	return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("%s-%06d", rc, i), Namespace: "default",
		UID:         fmt.Sprintf("9f1c3e2a-0000-4000-8000-%012d", i),
		Labels:      map[string]string{"app": rc, "tier": "web"},
		Annotations: map[string]string{"note": strings.Repeat("x", 420)},
		OwnerReferences: []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: rc,
			UID: fmt.Sprintf("9f1c3e2a-1111-4000-8000-%012d", i%50), Controller: ptrTo(true)}}},
		Spec: v1.PodSpec{NodeName: fmt.Sprintf("node-%d", i%50), Containers: []v1.Container{{Name: "web", Image: "busybox:1.35",
			Command: []string{"httpd", "-f", "-p", "8080"}, Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}
}

// memoryStore returns a store holding memoryPods pods (memoryPod) on 50
// registered nodes.
func memoryStore(t *testing.T) *fsm.Store {
	t.Helper()
	return memoryProposer(t).store()
}

// memoryProposer is memoryStore's proposer, to write more beside the pods.
func memoryProposer(t *testing.T) *fakeProposer {
	t.Helper()
	p := newFakeProposer(t)
	for i := range 50 {
		name := fmt.Sprintf("node-%d", i)
		p.create(t, readyNode(name, "64", "256Gi", map[string]string{v1.LabelHostname: name}))
	}
	p.createPods(t, memoryPods, memoryPod)
	return p
}

// liveHeap returns the bytes of live heap objects after full GCs (the
// second collects what the first left for weak pointers' cleanups).
func liveHeap() int64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// The leader's caches of pods hold a few hundred bytes per pod besides the
// store (counting what a record keeps once it was decoded), not the pods'
// decoded objects (several KB each): the informer its index keys, the
// scheduler cache what placing other pods reads of a bound pod. A master at 150,000 pods holds them within its 1 GB (issue 17).
// The bounds are about 1.4 times what was measured when they were set
// (informer 163 B, scheduler cache 484 B per pod; the informer takes 97 B
// since its large sets are bitmaps, and took 245 B
// while it kept a slice of its sets per pod, 1,000 B before it held each
// value once and its keys by number, and the cache 3,274 B before it held
// its pods by one stand-in per group).
func TestLeaderCachesMemoryPerPod(t *testing.T) {
	tests := []struct {
		name  string
		bound int64
		// build syncs a new cache to s and returns it, to be kept alive
		// while the heap is read.
		build func(t *testing.T, s *fsm.Store) any
	}{
		{"pod informer", 220, func(t *testing.T, s *fsm.Store) any {
			inf := NewInformer("pods", nil)
			if err := inf.Sync(s); err != nil {
				t.Fatal(err)
			}
			return inf
		}},
		{"scheduler cache", 680, func(t *testing.T, s *fsm.Store) any {
			c := &schedulerCache{}
			if err := c.sync(s); err != nil {
				t.Fatal(err)
			}
			if len(c.pods) != memoryPods {
				t.Fatalf("the cache holds %d pods, want %d", len(c.pods), memoryPods)
			}
			return c
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := memoryStore(t)
			before := liveHeap()
			cache := tt.build(t, s)
			perPod := (liveHeap() - before) / memoryPods
			runtime.KeepAlive(cache)
			runtime.KeepAlive(s)
			t.Logf("%s: %d B per pod (bound %d B)", tt.name, perPod, tt.bound)
			if perPod > tt.bound {
				t.Fatalf("%s holds %d B per pod after a GC, more than %d B", tt.name, perPod, tt.bound)
			}
		})
	}
}

// allocatedBy returns the bytes of heap f allocated, after a full GC that
// drops the objects records hold only weakly (as a leader's are between
// two resyncs minutes apart).
func allocatedBy(f func()) int64 {
	runtime.GC()
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return int64(after.TotalAlloc - before.TotalAlloc)
}

// The full passes (resyncs) of the endpoints and endpoint slice
// controllers read each selector service's pods through the pod informer,
// so they decode the pods their services select, not every pod of the
// store: a service selecting 100 of 5,000 pods costs a pass ~1/50 of
// decoding them all. The bound is per pod of the store; decoding every
// pod at once took ~4.7 KB per pod (~700 MB at 150,000 pods between the
// two passes, all held until the pass ended).
func TestServiceFullPassesAllocatePerSelectedPod(t *testing.T) {
	const bound = 400
	tests := []struct {
		name string
		// pass makes a controller that reads pods through inf and
		// returns its full pass.
		pass func(p *fakeProposer, inf *Informer) func(context.Context, *fsm.Store) (int, error)
	}{
		{"endpoints", func(p *fakeProposer, inf *Informer) func(context.Context, *fsm.Store) (int, error) {
			return NewEndpointsController(EndpointsConfig{Store: p.store, Proposer: p, Pods: inf}).Pass
		}},
		{"endpoint slices", func(p *fakeProposer, inf *Informer) func(context.Context, *fsm.Store) (int, error) {
			return NewEndpointSliceController(EndpointSliceConfig{Store: p.store, Proposer: p, Pods: inf}).Pass
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := memoryProposer(t)
			svc := epService("rc-0", httpPort())
			svc.Spec.Selector = map[string]string{"app": "rc-0"}
			p.create(t, svc)
			inf := NewInformer("pods", nil)
			if err := inf.Sync(p.store()); err != nil {
				t.Fatal(err)
			}
			pass := tt.pass(p, inf)
			ctx := context.Background()
			if n, err := pass(ctx, p.store()); err != nil || n == 0 {
				t.Fatalf("first pass: %d writes, %v; want the service's objects written", n, err)
			}
			var n int
			var err error
			perPod := allocatedBy(func() { n, err = pass(ctx, p.store()) }) / memoryPods
			if err != nil || n != 0 {
				t.Fatalf("resync: %d writes, %v; want none", n, err)
			}
			t.Logf("%s: a resync allocated %d B per pod of the store (bound %d B)", tt.name, perPod, bound)
			if perPod > bound {
				t.Fatalf("%s: a resync allocated %d B per pod of the store, more than %d B", tt.name, perPod, bound)
			}
		})
	}
}
