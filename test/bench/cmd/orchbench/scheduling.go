package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// schedulingSection takes the scheduling figures, each on a fresh cluster
// of o.schedNodes simulated nodes: an RC of o.schedPods plain replicas,
// then one whose replicas prefer (weight 100) not to share a node with
// each other (preferred pod anti-affinity on kubernetes.io/hostname), the
// affinity rate beside the plain one.
func schedulingSection(ctx context.Context, t *runT, bins harness.Binaries, o options, cidr string, rep *results) (string, error) {
	before, err := takeTree()
	if err != nil {
		return "", err
	}
	take := func(a *v1.Affinity) (string, float64, error) {
		sc := harness.StartCluster(t, bins, harness.Options{MasterArgs: []string{"--cluster-cidr", cidr}})
		defer func() {
			for i := range sc.Masters {
				sc.Kill(i) // idle masters holding 10,000 pods must not weigh on the next figures
			}
		}()
		return schedulingRun(ctx, sc, o, a)
	}
	plain, plainRate, err := take(nil)
	if err != nil {
		return "", err
	}
	anti := &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []v1.WeightedPodAffinityTerm{{
		Weight: 100, PodAffinityTerm: v1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "sched"}},
			TopologyKey: v1.LabelHostname}}}}}
	aff, affRate, err := take(anti)
	if err != nil {
		return "", fmt.Errorf("with affinity: %w", err)
	}
	after, err := takeTree()
	if err != nil {
		return "", err
	}
	noisy := after.use(before).Noisy()
	rep.goal("scheduling rate", fmt.Sprintf("%.0f pods/s (%d nodes, %d pods)", plainRate, o.schedNodes, o.schedPods), ">= 2,000 pods/s", plainRate >= 2000, noisy)
	rep.goal("scheduling rate with pod anti-affinity / plain", fmt.Sprintf("%.2f", affRate/plainRate), ">= 0.50", affRate/plainRate >= 0.5, noisy)
	return fmt.Sprintf("%s\n%s; %.2f of the plain figure (goal >= 0.50)", plain, aff, affRate/plainRate), nil
}

// schedulingRun registers o.schedNodes simulated nodes (with the hostname
// label nodes register), creates one RC of o.schedPods replicas whose
// template has the affinity a (nil for none) and times until every pod is
// created, bound and committed, with the masters' CPU seconds over that
// time. It returns the figure's line and its pods/s.
func schedulingRun(ctx context.Context, c *harness.Cluster, o options, a *v1.Affinity) (string, float64, error) {
	cl := c.Client()
	err := forEach(ctx, o.clients, o.schedNodes, func(ctx context.Context, i int) error {
		name := fmt.Sprintf("sim-%04d", i)
		n := &v1.Node{ObjectMeta: v1.ObjectMeta{Name: name, Labels: map[string]string{v1.LabelHostname: name}},
			Status: v1.NodeStatus{
				Capacity: v1.ResourceList{v1.ResourceCPU: resource.MustParse("32"), v1.ResourceMemory: resource.MustParse("128Gi"),
					v1.ResourcePods: resource.MustParse("110")},
				Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, LastHeartbeatTime: v1.NewTime(time.Now())}}}}
		return cl.Create(ctx, n)
	})
	if err != nil {
		return "", 0, fmt.Errorf("register %d simulated nodes: %w", o.schedNodes, err)
	}
	replicas := int32(o.schedPods)
	rc := &v1.ReplicationController{
		ObjectMeta: v1.ObjectMeta{Name: "sched", Namespace: "default"},
		Spec: v1.ReplicationControllerSpec{Replicas: &replicas, Selector: map[string]string{"app": "sched"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "sched"}},
				Spec: v1.PodSpec{Affinity: a, Containers: []v1.Container{{Name: "c", Image: "busybox:1.35",
					Resources: v1.ResourceRequirements{Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("100m"),
						v1.ResourceMemory: resource.MustParse("64Mi")}}}}}}},
	}
	var pids []int
	var names []string
	for _, m := range c.Masters {
		pids, names = append(pids, m.PID()), append(names, m.Name)
	}
	before, err := takeCPU(pids)
	if err != nil {
		return "", 0, err
	}
	profiled := profileScheduling(ctx, c, o, a)
	start := time.Now()
	if err := cl.Create(ctx, rc); err != nil {
		return "", 0, fmt.Errorf("create the RC: %w", err)
	}
	for {
		var got v1.ReplicationController
		if err := cl.Get(ctx, "replicationcontrollers", "default", "sched", &got); err != nil {
			return "", 0, err
		}
		if got.Status.Replicas == replicas {
			unbound, err := cl.List(ctx, "pods", "default", client.ListOptions{FieldSelector: "spec.nodeName="})
			if err != nil {
				return "", 0, err
			}
			if len(unbound.Items) == 0 {
				break
			}
		}
		if time.Since(start) > 5*time.Minute {
			return "", 0, fmt.Errorf("scheduling %d pods did not finish in 5 minutes", o.schedPods)
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil { // polling cadence of the progress check
			return "", 0, err
		}
	}
	took := time.Since(start)
	after, err := takeCPU(pids)
	if err != nil {
		return "", 0, err
	}
	if err := profiled(); err != nil {
		return "", 0, err
	}
	var cpu float64
	for i := range pids {
		cpu += (after.procs[i].Procs - before.procs[i].Procs).Seconds()
	}
	rate := float64(o.schedPods) / took.Seconds()
	what, goal := "scheduling", "goal >= 2,000"
	if a != nil {
		what, goal = "scheduling with affinity in use (preferred pod anti-affinity per node)", "goal: no worse than half the plain figure"
	}
	return fmt.Sprintf("%s: %d simulated nodes, RC of %d: all bound and committed in %v = %.0f pods/s (%s); masters used %.1f CPU-seconds (%s)",
		what, o.schedNodes, o.schedPods, took.Round(time.Millisecond), rate, goal, cpu, after.since(before, names)), rate, nil
}

// profileScheduling starts, with -profile and for the plain figure only
// (a nil affinity), a CPU profile of every master over the figure's
// expected time on a loaded machine (3 s per 1,000 pods, at least 2 s;
// the figure is timed and its CPU taken before waiting for it), written to
// <dir>/<master>.sched.cpu.pprof; the function it returns waits for them.
func profileScheduling(ctx context.Context, c *harness.Cluster, o options, a *v1.Affinity) func() error {
	if o.profileDir == "" || a != nil {
		return func() error { return nil }
	}
	window := max(2*time.Second, time.Duration(o.schedPods)*3*time.Millisecond)
	var wg sync.WaitGroup
	errs := make([]error, len(c.Masters))
	for i, m := range c.Masters {
		wg.Go(func() {
			if err := profile(ctx, c.Client(i), 0, window, filepath.Join(o.profileDir, m.Name+".sched.cpu.pprof")); err != nil {
				errs[i] = fmt.Errorf("profile %s: %w", m.Name, err)
			}
		})
	}
	return func() error {
		wg.Wait()
		return errors.Join(errs...)
	}
}
