package sched

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

// resyncUnownedPods is how many pods no controller owns the resync
// benchmark's store holds (orchbench's write figure leaves ~90,000 on the
// masters; 150,000 is the target scale).
const resyncUnownedPods = 100000

// createOwnedObjects adds to p's store what the leader loops' timed passes
// have to look at beside the unowned pods: owners controllers (RCs
// resync-rc-0 and -1, ReplicaSet resync-rs) of perOwner pods each, bound
// to no node and left to another scheduler as benchPod's, and a Service
// selecting resync-rc-0's pods.
func createOwnedObjects(tb testing.TB, p *fakeProposer, perOwner int) {
	tb.Helper()
	yes := true
	replicas := int32(perOwner)
	type owner struct {
		obj               v1.Object
		apiVersion, kind  string
		name, uid, appTag string
	}
	var owners []owner
	for i := range 2 {
		name := fmt.Sprintf("resync-rc-%d", i)
		labels := map[string]string{"app": name}
		rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name},
			Spec: v1.ReplicationControllerSpec{Replicas: &replicas, Selector: labels,
				Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: labels},
					Spec: v1.PodSpec{SchedulerName: "bench-no-scheduler", Containers: []v1.Container{{Name: "web", Image: "busybox:1.35"}}}}}}
		owners = append(owners, owner{rc, "v1", "ReplicationController", name, rc.UID, name})
	}
	rsLabels := map[string]string{"app": "resync-rs"}
	rs := &v1.ReplicaSet{ObjectMeta: v1.ObjectMeta{Name: "resync-rs", Namespace: "default", UID: "uid-resync-rs"},
		Spec: v1.ReplicaSetSpec{Replicas: &replicas, Selector: &metav1.LabelSelector{MatchLabels: rsLabels},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: rsLabels},
				Spec: v1.PodSpec{SchedulerName: "bench-no-scheduler", Containers: []v1.Container{{Name: "web", Image: "busybox:1.35"}}}}}}
	owners = append(owners, owner{rs, "apps/v1", "ReplicaSet", rs.Name, rs.UID, "resync-rs"})
	for _, o := range owners {
		if _, err := p.Apply(context.Background(), mustCreate(tb, o.obj)); err != nil {
			tb.Fatal(err)
		}
		p.createPods(tb, perOwner, func(i int) *v1.Pod {
			pod := benchPod(i)
			pod.Name, pod.UID = fmt.Sprintf("%s-%04d", o.name, i), fmt.Sprintf("uid-%s-%d", o.name, i)
			pod.Labels = map[string]string{"app": o.appTag}
			pod.OwnerReferences = []v1.OwnerReference{{APIVersion: o.apiVersion, Kind: o.kind, Name: o.name, UID: o.uid,
				Controller: &yes, BlockOwnerDeletion: &yes}}
			return pod
		})
	}
	svc := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "resync-svc", Namespace: "default", UID: "uid-resync-svc"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "resync-rc-0"}, Ports: []v1.ServicePort{{Port: 80}}}}
	if _, err := p.Apply(context.Background(), mustCreate(tb, svc)); err != nil {
		tb.Fatal(err)
	}
}

// passCost is what a loop's measured passes cost together.
type passCost struct {
	passes, cpuNs, allocs, reads uint64
}

// BenchmarkLeaderResync measures the timed resync (the full pass each
// loop's resync timer starts; the probe's resyncNow stands in for the
// timer) of every change-fed leader loop, run as the leader runs them, on
// a store of resyncUnownedPods pods no controller owns and 300 owned pods
// (createOwnedObjects). Each sub-benchmark is one loop; an op is one of its
// resyncs. cpu-ns/pass is the process's CPU while the loop's pass ran
// (the passes run one at a time), allocs/pass and reads/pass the
// allocations made and store records read meanwhile; they average over
// every pass the loop ran meanwhile (a loop whose resync comes every
// second, or that wakes on its own, runs a few more).
func BenchmarkLeaderResync(b *testing.B) {
	p := newFakeProposer(b)
	p.createPods(b, resyncUnownedPods, benchPod)
	createOwnedObjects(b, p, 100)
	probe := newPassProbe()
	var mu sync.Mutex
	costs := map[int]*passCost{}
	probe.around = func(id int, pass func()) {
		mu.Lock()
		defer mu.Unlock()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		allocs, reads, start := ms.Mallocs, p.store().RecordsRead(), processCPU(b)
		pass()
		cpu := processCPU(b) - start
		reads = p.store().RecordsRead() - reads
		runtime.ReadMemStats(&ms)
		c := costs[id]
		if c == nil {
			c = &passCost{}
			costs[id] = c
		}
		c.passes++
		c.cpuNs += uint64(cpu)
		c.allocs += ms.Mallocs - allocs
		c.reads += reads
	}
	ctx, cancel := context.WithCancel(withPassProbe(context.Background(), probe))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	loops := leaderLoops(b, p, leaderLoopOptions{})
	for i, l := range loops {
		// One at a time, so loop i registers as the probe's loop i.
		wg.Add(1)
		go func() { defer wg.Done(); l.run(ctx) }()
		wctx, stop := context.WithTimeout(ctx, time.Minute)
		err := probe.wait(wctx, i+1, 0)
		stop()
		if err != nil {
			b.Fatal(err)
		}
	}
	settleLoops(b, ctx, p, probe, len(loops), 5*time.Minute)
	take := func(id int) passCost {
		mu.Lock()
		defer mu.Unlock()
		if c := costs[id]; c != nil {
			return *c
		}
		return passCost{}
	}
	for id, l := range loops {
		b.Run(l.name, func(b *testing.B) {
			before := take(id)
			passes := probe.counts()[id].passes
			b.ResetTimer()
			for range b.N {
				passes++
				probe.resyncNow(id)
				wctx, stop := context.WithTimeout(ctx, 5*time.Minute)
				err := probe.waitPasses(wctx, id, passes)
				stop()
				if err != nil {
					b.Fatal(err)
				}
				passes = probe.counts()[id].passes
			}
			b.StopTimer()
			after := take(id)
			n := after.passes - before.passes
			if n == 0 {
				b.Fatalf("loop %s: no pass measured", l.name)
			}
			b.ReportMetric(float64(after.cpuNs-before.cpuNs)/float64(n), "cpu-ns/pass")
			b.ReportMetric(float64(after.allocs-before.allocs)/float64(n), "allocs/pass")
			b.ReportMetric(float64(after.reads-before.reads)/float64(n), "reads/pass")
		})
	}
}
