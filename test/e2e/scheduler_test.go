package e2e

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// simulatedNode is a Node registered through the API as a node agent would,
// Ready, with room for pods; no containers run anywhere.
func simulatedNode(name, cpu string) *v1.Node {
	return &v1.Node{
		ObjectMeta: v1.ObjectMeta{Name: name},
		Status: v1.NodeStatus{
			Capacity: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse("8Gi"),
				v1.ResourcePods: resource.MustParse("110")},
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue}},
		},
	}
}

func podRequesting(name, cpu string) *v1.Pod {
	p := testPod(name)
	p.Spec.SchedulerName = "" // the default scheduler's
	p.Spec.Containers[0].Resources.Requests = v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu)}
	return p
}

// The leader's scheduler binds pods to simulated nodes, explains the ones
// that fit nowhere, and keeps working after the leader is killed.
func TestSchedulerBindsPodsOnTheLeader(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	for i := 0; i < 3; i++ {
		if err := cl.Create(ctxT(t, 10*time.Second), simulatedNode(fmt.Sprintf("node-%d", i), "2")); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 9; i++ {
		if err := cl.Create(ctxT(t, 10*time.Second), podRequesting(fmt.Sprintf("web-%d", i), "500m")); err != nil {
			t.Fatal(err)
		}
	}
	if err := cl.Create(ctxT(t, 10*time.Second), podRequesting("huge", "8")); err != nil {
		t.Fatal(err)
	}
	perNode := func() (map[string]int, map[string]*v1.Pod, error) {
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{})
		if err != nil {
			return nil, nil, err
		}
		per, byName := map[string]int{}, map[string]*v1.Pod{}
		for i := range pods {
			per[pods[i].Spec.NodeName]++
			byName[pods[i].Name] = &pods[i]
		}
		return per, byName, nil
	}
	eventually(t, 15*time.Second, "9 pods bound, 3 per node, huge explained", func() error {
		per, byName, err := perNode()
		if err != nil {
			return err
		}
		for i := 0; i < 3; i++ {
			if n := per[fmt.Sprintf("node-%d", i)]; n != 3 {
				return fmt.Errorf("per node %v", per)
			}
		}
		c := byName["huge"].Status.Condition(v1.PodScheduled)
		if byName["huge"].Spec.NodeName != "" || c == nil || c.Message != "0/3 nodes are available: 3 Insufficient cpu." {
			return fmt.Errorf("huge: node %q condition %+v", byName["huge"].Spec.NodeName, c)
		}
		return nil
	})

	leader := c.WaitLeader(10 * time.Second)
	c.Kill(leader)
	c.WaitLeader(15 * time.Second)
	var survivors []int
	for i := range c.Masters {
		if i != leader {
			survivors = append(survivors, i)
		}
	}
	cl = c.Client(survivors...)
	if err := cl.Create(ctxT(t, 10*time.Second), simulatedNode("node-big", "16")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the new leader schedules huge on node-big", func() error {
		var p v1.Pod
		if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "huge", &p); err != nil {
			return err
		}
		if p.Spec.NodeName != "node-big" {
			return fmt.Errorf("huge on %q", p.Spec.NodeName)
		}
		return nil
	})
}
