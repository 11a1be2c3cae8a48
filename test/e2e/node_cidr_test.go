package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/node"
	"orch.io/orch/sched"
	"orch.io/orch/test/harness"
)

// A cluster CIDR of two subnets and three nodes: the third registers, as
// Kubernetes' nodes do, without a pod CIDR, NotReady with the kubelet's
// network message and a CIDRNotAvailable event, and gets nothing
// scheduled; when a node goes, it gets the freed subnet, turns Ready and
// runs a pod in it.
func TestNodePastTheClusterCIDR(t *testing.T) {
	parallel(t)
	const cidr = "10.244.0.0/23"
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network, MasterArgs: []string{"--cluster-cidr", cidr}})
	cl := c.Client()
	nodeArgs := []string{"--heartbeat-interval", "1s", "--resync-interval", "2s", "--cluster-cidr", cidr}
	first := c.StartNode(network, "node-1", nodeArgs...)
	c.StartNode(network, "node-2", nodeArgs...)
	nodeState := func(name string) (cidr string, ready *v1.NodeCondition, err error) {
		var n v1.Node
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", name, &n); err != nil {
			return "", nil, err
		}
		return n.Spec.PodCIDR, n.Status.Condition(v1.NodeReady), nil
	}
	for _, name := range []string{"node-1", "node-2"} {
		waitFor(t, 60*time.Second, name+" Ready with a pod CIDR", func() (bool, string) {
			cidr, ready, err := nodeState(name)
			return err == nil && cidr != "" && ready != nil && ready.Status == v1.ConditionTrue, fmt.Sprint(cidr, ready, err)
		})
	}
	c.StartNode(network, "node-3", nodeArgs...)
	waitFor(t, 60*time.Second, "node-3 registered NotReady without a pod CIDR", func() (bool, string) {
		cidr, ready, err := nodeState("node-3")
		return err == nil && cidr == "" && ready != nil && ready.Status == v1.ConditionFalse && ready.Message == node.NoPodCIDRMessage,
			fmt.Sprint(cidr, ready, err)
	})
	sel := "involvedObject.kind=Node,involvedObject.name=node-3,reason=" + sched.CIDRNotAvailable
	waitFor(t, 30*time.Second, "a CIDRNotAvailable event about node-3", func() (bool, string) {
		evs, _, err := client.ListTyped[v1.Event](ctxT(t, 5*time.Second), cl, "events", "", client.ListOptions{FieldSelector: sel})
		return err == nil && len(evs) > 0 && evs[0].Message == "Node node-3 status is now: CIDRNotAvailable" &&
			evs[0].Source.Component == "cidrAllocator", fmt.Sprint(evs, err)
	})
	// Nothing lands on it meanwhile.
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "on-3"}, Spec: v1.PodSpec{
		TerminationGracePeriodSeconds: int64p(1), NodeSelector: map[string]string{v1.LabelHostname: "node-3"},
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "100000"}}}}})
	waitFor(t, 30*time.Second, "on-3 unschedulable", func() (bool, string) {
		p := getPod(t, cl, "on-3")
		cond := p.Status.Condition(v1.PodScheduled)
		return p.Spec.NodeName == "" && cond != nil && cond.Reason == "Unschedulable", fmt.Sprintf("%+v", p.Status)
	})

	// node-1 goes: its agent stops, its Node is deleted; node-3 gets the
	// subnet, turns Ready and runs the pod in it.
	freedCIDR, _, err := nodeState("node-1")
	if err != nil {
		t.Fatal(err)
	}
	first.Kill()
	if _, err := cl.Delete(ctxT(t, 5*time.Second), "nodes", "", "node-1", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "node-3 Ready in node-1's subnet", func() (bool, string) {
		cidr, ready, err := nodeState("node-3")
		return err == nil && cidr == freedCIDR && ready != nil && ready.Status == v1.ConditionTrue, fmt.Sprint(cidr, ready, err)
	})
	p := waitRunning(t, cl, "on-3")
	prefix := strings.TrimSuffix(freedCIDR, "0/24")
	if p.Spec.NodeName != "node-3" || !strings.HasPrefix(p.Status.PodIP, prefix) {
		t.Fatalf("on-3 on %s with IP %s, want node-3 in %s", p.Spec.NodeName, p.Status.PodIP, freedCIDR)
	}
}
