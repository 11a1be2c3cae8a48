package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// An RC of 50 on 10 simulated nodes: 50 bound pods, spread within ±1 per
// node; scaled to 80 and back to 20, it converges, and while it grows the
// count of its live pods never exceeds the replicas asked for.
func TestReplicationControllerScalesAcrossSimulatedNodes(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	for i := 0; i < 10; i++ {
		if err := cl.Create(ctxT(t, 10*time.Second), simulatedNode(fmt.Sprintf("node-%02d", i), "16")); err != nil {
			t.Fatal(err)
		}
	}
	replicas := int32(50)
	rc := &v1.ReplicationController{
		ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1.ReplicationControllerSpec{Replicas: &replicas, Selector: map[string]string{"app": "rc-web"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "rc-web"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.35"}}}}},
	}
	if err := cl.Create(ctxT(t, 10*time.Second), rc); err != nil {
		t.Fatal(err)
	}
	// live returns the RC's pods that are not being deleted, by node.
	live := func() (int, map[string]int, error) {
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default",
			client.ListOptions{LabelSelector: "app=rc-web"})
		if err != nil {
			return 0, nil, err
		}
		n, per := 0, map[string]int{}
		for _, p := range pods {
			if p.DeletionTimestamp == nil {
				n++
				per[p.Spec.NodeName]++
			}
		}
		return n, per, nil
	}
	converge := func(want int, spread bool) {
		t.Helper()
		eventually(t, 30*time.Second, fmt.Sprintf("%d live pods", want), func() error {
			n, per, err := live()
			if err != nil {
				return err
			}
			if n > want && spread {
				t.Fatalf("%d live pods while growing to %d", n, want)
			}
			if n != want || per[""] != 0 {
				return fmt.Errorf("%d live, %d unbound", n, per[""])
			}
			if spread {
				lo, hi := want, 0
				for i := 0; i < 10; i++ {
					k := per[fmt.Sprintf("node-%02d", i)]
					lo, hi = min(lo, k), max(hi, k)
				}
				if hi-lo > 1 {
					return fmt.Errorf("spread %v", per)
				}
			}
			return nil
		})
	}
	converge(50, true)
	if err := cl.Scale(ctxT(t, 10*time.Second), "default", "web", 80); err != nil {
		t.Fatal(err)
	}
	converge(80, true)
	if err := cl.Scale(ctxT(t, 10*time.Second), "default", "web", 20); err != nil {
		t.Fatal(err)
	}
	converge(20, false)
	// The RC reports what it has.
	eventually(t, 15*time.Second, "rc status", func() error {
		var got v1.ReplicationController
		if err := cl.Get(context.Background(), "replicationcontrollers", "default", "web", &got); err != nil {
			return err
		}
		if got.Status.Replicas != 20 || got.Status.ObservedGeneration != got.Generation {
			return fmt.Errorf("status %+v generation %d", got.Status, got.Generation)
		}
		return nil
	})
}

// Killing the leader in the middle of a scale-up: the new leader finishes it
// and never creates a pod too many.
func TestScaleUpSurvivesALeaderKillWithoutExtraPods(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	for i := 0; i < 10; i++ {
		if err := cl.Create(ctxT(t, 10*time.Second), simulatedNode(fmt.Sprintf("node-%02d", i), "64")); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Create(ctxT(t, 10*time.Second), rcOf("burst", 0)); err != nil {
		t.Fatal(err)
	}
	const want = 5000 // ten passes of the replication manager's burst of 500
	count := func() (int, error) {
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default",
			client.ListOptions{LabelSelector: "app=burst"})
		return len(pods), err
	}
	// Watch the ceiling for the whole test.
	stop := make(chan struct{})
	over := make(chan int, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(over)
				return
			default:
			}
			if n, err := count(); err == nil && n > want {
				over <- n
				close(over)
				return
			}
		}
	}()
	leader := c.WaitLeader(10 * time.Second)
	if err := cl.Scale(ctxT(t, 10*time.Second), "default", "burst", want); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "the scale-up under way", func() error {
		if n, err := count(); err != nil || n == 0 {
			return fmt.Errorf("%d pods (%v)", n, err)
		}
		return nil
	})
	c.Kill(leader)
	atKill, err := c.Client().List(ctxT(t, 10*time.Second), "pods", "default", client.ListOptions{LabelSelector: "app=burst", Stale: true})
	if err == nil {
		t.Logf("%d pods on a survivor right after the kill", len(atKill.Items))
		if len(atKill.Items) >= want {
			t.Fatalf("the scale-up had finished before the kill; the test proves nothing")
		}
	}
	c.WaitLeader(15 * time.Second)
	eventually(t, 90*time.Second, fmt.Sprintf("%d pods", want), func() error {
		n, err := count()
		if err != nil || n != want {
			return fmt.Errorf("%d pods (%v)", n, err)
		}
		return nil
	})
	close(stop)
	if n, ok := <-over; ok {
		t.Fatalf("%d pods observed, more than the %d asked for", n, want)
	}
}
