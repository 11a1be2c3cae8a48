package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// The rollout section measures a Deployment's rolling update on one
// 3-master cluster whose nodes are simulated (harness.SimKubelet: pods
// are marked Running and Ready as soon as they are bound, and their
// deletions confirmed at once): the Deployment of -rollout-replicas is
// created and waited for, then its image changes, and the section reports
// the seconds until the rollout completes (every replica updated and
// available, no old pod left) and the Raft entries it cost, counted from
// the leader's last index. The entries include everything the rollout
// causes: the deployment controller's, the replication manager's and the
// scheduler's writes, the simulated kubelet's pod statuses and deletion
// confirmations, and the nodes' heartbeats during the window.

// rolloutSection runs the rollout and returns the summary line.
func rolloutSection(ctx context.Context, t *runT, bins harness.Binaries, o options) (string, error) {
	cidr, err := schedClusterCIDR(o.rolloutNodes)
	if err != nil {
		return "", err
	}
	c := harness.StartCluster(t, bins, harness.Options{MasterArgs: []string{"--cluster-cidr", cidr}})
	if t.failed {
		return "", errors.New(t.msg)
	}
	defer func() {
		for i := range c.Masters {
			c.Kill(i)
		}
	}()
	cl := c.Client()
	names := make([]string, o.rolloutNodes)
	for i := range names {
		names[i] = fmt.Sprintf("roll-%04d", i)
	}
	kubelet, err := harness.StartSimKubelet(ctx, cl, names, harness.SimKubeletOptions{Workers: 32, Heartbeat: 10 * time.Second})
	if err != nil {
		return "", err
	}
	defer kubelet.Stop()
	replicas := int32(o.rolloutReplicas)
	surge, unavailable := intstr.Parse(o.rolloutSurge), intstr.FromString("25%")
	d := &v1.Deployment{
		ObjectMeta: v1.ObjectMeta{Name: "bench", Namespace: v1.DefaultNamespace},
		Spec: v1.DeploymentSpec{Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "bench"}},
			Template: v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "bench"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.35"}}}},
			Strategy: v1.DeploymentStrategy{Type: v1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &v1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}}},
	}
	if err := cl.Create(ctx, d); err != nil {
		return "", fmt.Errorf("create the deployment: %w", err)
	}
	if _, err := waitRolledOut(ctx, cl, 1, replicas); err != nil {
		return "", fmt.Errorf("first rollout: %w", err)
	}
	leader := c.WaitLeader(30 * time.Second)
	index := func() (uint64, error) {
		m, err := c.Client(leader).Members(ctx)
		if err != nil {
			return 0, err
		}
		for _, x := range m.Members {
			if x.LastIndex > 0 {
				return x.LastIndex, nil
			}
		}
		return 0, errors.New("the leader reports no last index")
	}
	i0, err := index()
	if err != nil {
		return "", err
	}
	t0 := time.Now()
	patch := []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:1.36"}]}}}}`)
	if err := cl.Patch(ctx, "deployments", v1.DefaultNamespace, "bench", patch, &v1.Deployment{}); err != nil {
		return "", fmt.Errorf("change the image: %w", err)
	}
	took, err := waitRolledOut(ctx, cl, 2, replicas)
	if err != nil {
		return "", fmt.Errorf("rollout: %w", err)
	}
	took = time.Since(t0) // from the patch
	i1, err := index()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("rollout: %d replicas on %d simulated nodes (maxSurge %s, maxUnavailable 25%%): %.1f s to complete, %d raft entries",
		replicas, o.rolloutNodes, o.rolloutSurge, took.Seconds(), i1-i0), nil
}

// waitRolledOut polls the deployment until generation gen is rolled out:
// every replica updated and available and no other pod left.
func waitRolledOut(ctx context.Context, cl *client.Client, gen int64, replicas int32) (time.Duration, error) {
	start := time.Now()
	deadline := start.Add(10 * time.Minute)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		var d v1.Deployment
		gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := cl.Get(gctx, "deployments", v1.DefaultNamespace, "bench", &d)
		cancel()
		if err == nil && d.Generation >= gen && d.Status.ObservedGeneration >= d.Generation &&
			d.Status.UpdatedReplicas == replicas && d.Status.Replicas == replicas && d.Status.AvailableReplicas == replicas {
			return time.Since(start), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("not rolled out within 10 min: %+v (last error %v)", d.Status, err)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-tick.C:
		}
	}
}
