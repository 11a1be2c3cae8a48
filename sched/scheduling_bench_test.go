package sched

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime/pprof"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// schedulingFigureNodes is the simulated nodes of orchbench's scheduling
// figure, with the labels and capacity orchbench registers them with.
func schedulingFigureNodes(n int) []*v1.Node {
	nodes := make([]*v1.Node, 0, n)
	for i := range n {
		name := fmt.Sprintf("sim-%04d", i)
		nodes = append(nodes, &v1.Node{ObjectMeta: v1.ObjectMeta{Name: name, UID: "uid-" + name, Labels: map[string]string{v1.LabelHostname: name}},
			Status: v1.NodeStatus{
				Capacity: v1.ResourceList{v1.ResourceCPU: resource.MustParse("32"), v1.ResourceMemory: resource.MustParse("128Gi"),
					v1.ResourcePods: resource.MustParse("110")},
				Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}}}})
	}
	return nodes
}

// schedulingFigureRC is orchbench's scheduling figure's RC of replicas pods.
func schedulingFigureRC(replicas int32) *v1.ReplicationController {
	return &v1.ReplicationController{
		ObjectMeta: v1.ObjectMeta{Name: "sched", Namespace: "default", UID: "uid-rc-sched"},
		Spec: v1.ReplicationControllerSpec{Replicas: &replicas, Selector: map[string]string{"app": "sched"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "sched"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
					Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"),
						v1.ResourceMemory: resource.MustParse("64Mi")}}}}}}},
	}
}

// BenchmarkSchedulingFigure is orchbench's scheduling figure inside one
// process, without raft and the API: 1,000 nodes registered, every
// change-fed leader loop running with the scheduler's and the replication
// manager's event recorders (as cmd/orchd wires them), one RC of b.N
// replicas (run it with -benchtime 10000x for the figure's 10,000)
// created, timed until every pod is bound and every loop has passed over
// the last change. An op is one pod created and bound; cpu-ns/op is the
// process's CPU per pod (every loop and the FSM's apply, once: a real
// cluster applies every entry on each master), allocs/op every
// goroutine's allocations per pod.
func BenchmarkSchedulingFigure(b *testing.B) {
	p := newFakeProposer(b)
	probe := newPassProbe()
	ctx, cancel := context.WithCancel(withPassProbe(context.Background(), probe))
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	schedRec := NewLeaderRecorder("default-scheduler", p, events.DefaultQPS, events.DefaultBurst, slog.New(slog.DiscardHandler))
	rcRec := NewLeaderRecorder("replication-controller", p, events.DefaultQPS, events.DefaultBurst, slog.New(slog.DiscardHandler))
	for _, rec := range []*events.Recorder{schedRec, rcRec} {
		wg.Go(func() { rec.Run(ctx) })
	}
	nodes := schedulingFigureNodes(1000)
	for _, n := range nodes {
		if _, err := p.Apply(ctx, mustCreate(b, n)); err != nil {
			b.Fatal(err)
		}
	}
	loops := startLeaderLoopsWith(b, ctx, &wg, p, leaderLoopOptions{schedulerRecorder: schedRec, replicationRecorder: rcRec,
		clusterCIDR: "10.0.0.0/14"})
	// The nodes' pod CIDRs, the kubernetes Service, the root CA
	// ConfigMap, ... settle first.
	settle := settleLoops(b, ctx, p, probe, loops, 5*time.Minute)
	_, from := p.store().Feed().Window()
	stopProfile := startFigureProfile(b)
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU(b)
	if _, err := p.Apply(ctx, mustCreate(b, schedulingFigureRC(int32(b.N)))); err != nil {
		b.Fatal(err)
	}
	last := waitBound(b, ctx, p.store(), from, b.N)
	settle(last)
	b.StopTimer()
	stopProfile()
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N), "cpu-ns/op")
}

// figureProfile names the file BenchmarkSchedulingFigure writes a CPU
// profile of its timed part to (the -cpuprofile of go test covers the
// set-up too: the nodes' registration and pod CIDRs).
var figureProfile = flag.String("figure-cpuprofile", "", "write a CPU profile of BenchmarkSchedulingFigure's timed part (its last run) to this file")

// startFigureProfile starts the -figure-cpuprofile profile, if asked, and
// returns what stops it.
func startFigureProfile(tb testing.TB) func() {
	if *figureProfile == "" {
		return func() {}
	}
	f, err := os.Create(*figureProfile)
	if err != nil {
		tb.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		tb.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		if err := f.Close(); err != nil {
			tb.Error(err)
		}
	}
}

// waitBound follows the store's feed from index from until want pods were
// bound after it, and returns the index of the last binding.
func waitBound(tb testing.TB, ctx context.Context, s *fsm.Store, from uint64, want int) uint64 {
	tb.Helper()
	ctx, stop := context.WithTimeout(ctx, 5*time.Minute)
	defer stop()
	bound := 0
	for seen := from; ; {
		evs, last, wait, closed, err := s.Feed().Since(seen)
		if err != nil || closed {
			tb.Fatalf("feed after %d: closed %t, %v", seen, closed, err)
		}
		for _, ev := range evs {
			if ev.Resource == "pods" && ev.Type == v1.Modified && ev.Prev.NodeName() == "" && ev.Record.NodeName() != "" {
				if bound++; bound == want {
					return ev.Index
				}
			}
		}
		seen = last
		select {
		case <-wait:
		case <-ctx.Done():
			tb.Fatalf("%d of %d pods bound: %v", bound, want, ctx.Err())
		}
	}
}
