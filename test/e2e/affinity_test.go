package e2e

import (
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

const zoneLabel = "topology.kubernetes.io/zone"

// affinityNode is a simulated node with the labels a node agent registers
// (hostname, os, arch) and a zone.
func affinityNode(name, zone string, extra map[string]string) *v1.Node {
	n := simulatedNode(name, "4")
	n.Labels = map[string]string{v1.LabelHostname: name, v1.LabelOS: "linux", v1.LabelArch: "amd64", zoneLabel: zone}
	for k, v := range extra {
		n.Labels[k] = v
	}
	return n
}

// scheduledPod is a pod for the default scheduler with labels.
func scheduledPod(name string, labels map[string]string) *v1.Pod {
	p := testPod(name)
	p.Spec.SchedulerName = ""
	p.Labels = labels
	return p
}

func onHost(p *v1.Pod, node string) *v1.Pod {
	p.Spec.NodeSelector = map[string]string{v1.LabelHostname: node}
	return p
}

func zoneIn(zones ...string) *v1.NodeAffinity {
	return &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{NodeSelectorTerms: []v1.NodeSelectorTerm{
		{MatchExpressions: []v1.NodeSelectorRequirement{{Key: zoneLabel, Operator: v1.NodeSelectorOpIn, Values: zones}}}}}}
}

func antiOnHost(labels map[string]string) *v1.PodAntiAffinity {
	return &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{
		{LabelSelector: &metav1.LabelSelector{MatchLabels: labels}, TopologyKey: v1.LabelHostname}}}
}

// The default scheduler honours spec.affinity on one cluster of three
// simulated nodes in three zones: the documentation's examples are
// admitted (by kubectl, which validates them against orch's OpenAPI) and
// placed where their rules say, anti-affinity spreads a controller's pods
// one per node, an existing pod's anti-affinity keeps others away, and a
// pod that fits nowhere waits with Kubernetes' message until a node fits.
func TestSchedulerAffinity(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	nodes := []*v1.Node{
		affinityNode("node-0", "antarctica-east1", nil),
		affinityNode("node-1", "antarctica-west1", map[string]string{"another-node-label-key": "another-node-label-value"}),
		affinityNode("node-2", "arctic-north1", nil),
	}
	for _, n := range nodes {
		if err := cl.Create(ctxT(t, 10*time.Second), n); err != nil {
			t.Fatal(err)
		}
	}
	startHeartbeats(t, cl, []string{"node-0", "node-1", "node-2"}, time.Second)
	k := adminKubectl(t, c)

	podOn := func(name string) (*v1.Pod, error) {
		var p v1.Pod
		if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", name, &p); err != nil {
			return nil, err
		}
		return &p, nil
	}
	waitOn := func(t *testing.T, name, node string) {
		t.Helper()
		eventually(t, 20*time.Second, name+" bound to "+node, func() error {
			p, err := podOn(name)
			if err != nil {
				return err
			}
			if p.Spec.NodeName != node {
				return fmt.Errorf("%s is on %q", name, p.Spec.NodeName)
			}
			return nil
		})
	}
	waitPending := func(t *testing.T, name, msg string) {
		t.Helper()
		eventually(t, 20*time.Second, name+" pending with the message", func() error {
			p, err := podOn(name)
			if err != nil {
				return err
			}
			c := p.Status.Condition(v1.PodScheduled)
			if p.Spec.NodeName != "" || c == nil || c.Status != v1.ConditionFalse || c.Reason != "Unschedulable" || c.Message != msg {
				return fmt.Errorf("%s: node %q, condition %+v", name, p.Spec.NodeName, c)
			}
			return nil
		})
	}
	create := func(t *testing.T, p *v1.Pod) {
		t.Helper()
		if err := cl.Create(ctxT(t, 10*time.Second), p); err != nil {
			t.Fatalf("create %s: %v", p.Name, err)
		}
	}

	t.Run("documentation node affinity", func(t *testing.T) {
		// Required: zone east1 or west1 (node-0, node-1); preferred:
		// another-node-label-key (node-1).
		k.ok(t, "", "create", "-f", "testdata/affinity/pod-with-node-affinity.yaml")
		waitOn(t, "with-node-affinity", "node-1")
	})

	t.Run("documentation pod affinity", func(t *testing.T) {
		// Required: the zone of a security=S1 pod, which runs on node-0.
		create(t, onHost(scheduledPod("s1", map[string]string{"security": "S1"}), "node-0"))
		waitOn(t, "s1", "node-0")
		k.ok(t, "", "create", "-f", "testdata/affinity/pod-with-pod-affinity.yaml")
		waitOn(t, "with-pod-affinity", "node-0")
		var got v1.Pod
		if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", "with-pod-affinity", &got); err != nil {
			t.Fatal(err)
		}
		if a := got.Spec.Affinity; a == nil || a.PodAntiAffinity == nil || len(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution) != 1 ||
			a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].Weight != 100 {
			t.Fatalf("stored affinity %+v", got.Spec.Affinity)
		}
	})

	t.Run("matchFields names the node", func(t *testing.T) {
		// As a DaemonSet's pods name their node.
		p := scheduledPod("by-name", nil)
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: &v1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &v1.NodeSelector{
			NodeSelectorTerms: []v1.NodeSelectorTerm{{MatchFields: []v1.NodeSelectorRequirement{
				{Key: "metadata.name", Operator: v1.NodeSelectorOpIn, Values: []string{"node-2"}}}}}}}}
		create(t, p)
		waitOn(t, "by-name", "node-2")
	})

	front := map[string]string{"tier": "front"}
	t.Run("anti-affinity spreads a controller's pods one per node", func(t *testing.T) {
		rc := rcOf("spread", 3)
		rc.Spec.Template.Labels["tier"] = "front"
		rc.Spec.Template.Spec.Affinity = &v1.Affinity{PodAntiAffinity: antiOnHost(front)}
		if err := cl.Create(ctxT(t, 10*time.Second), rc); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "3 replicas, one per node", func() error {
			per, err := podsByNode(t, cl, "app=spread")
			if err != nil {
				return err
			}
			var used []string
			for n, pods := range per {
				if n == "" || len(pods) != 1 {
					return fmt.Errorf("per node %v", per)
				}
				used = append(used, n)
			}
			if slices.Sort(used); !slices.Equal(used, []string{"node-0", "node-1", "node-2"}) {
				return fmt.Errorf("on %v", used)
			}
			return nil
		})
		if err := cl.Scale(ctxT(t, 10*time.Second), "default", "spread", 4); err != nil {
			t.Fatal(err)
		}
		const msg = "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules."
		eventually(t, 20*time.Second, "the fourth replica waits with the message", func() error {
			per, err := podsByNode(t, cl, "app=spread")
			if err != nil {
				return err
			}
			if len(per[""]) != 1 {
				return fmt.Errorf("per node %v", per)
			}
			c := per[""][0].Status.Condition(v1.PodScheduled)
			if c == nil || c.Status != v1.ConditionFalse || c.Message != msg {
				return fmt.Errorf("condition %+v", c)
			}
			return nil
		})
	})

	t.Run("an existing pod's anti-affinity keeps a pod away", func(t *testing.T) {
		// The spread replicas refuse tier=front pods on their nodes; this
		// one may only go to node-0 or node-1 by its own node affinity.
		p := scheduledPod("crowd", front)
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: zoneIn("antarctica-east1", "antarctica-west1")}
		create(t, p)
		waitPending(t, "crowd", "0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, "+
			"2 node(s) didn't satisfy existing pods anti-affinity rules.")
	})

	t.Run("an unsatisfiable node affinity waits until a node fits", func(t *testing.T) {
		p := scheduledPod("nowhere", nil)
		p.Spec.Affinity = &v1.Affinity{NodeAffinity: zoneIn("mars-1")}
		create(t, p)
		waitPending(t, "nowhere", "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.")
		patch := []byte(`{"metadata":{"labels":{"` + zoneLabel + `":"mars-1"}}}`)
		if err := cl.Patch(ctxT(t, 10*time.Second), "nodes", "", "node-2", patch, &v1.Node{}); err != nil {
			t.Fatal(err)
		}
		waitOn(t, "nowhere", "node-2")
	})

	t.Run("matchLabelKeys is merged into the selector", func(t *testing.T) {
		// Kubernetes' API server adds tier In (front) to the selector
		// when the pod is created; the spread replicas then keep it away.
		p := scheduledPod("keys", front)
		anti := antiOnHost(map[string]string{})
		anti.RequiredDuringSchedulingIgnoredDuringExecution[0].MatchLabelKeys = []string{"tier"}
		p.Spec.Affinity = &v1.Affinity{PodAntiAffinity: anti}
		create(t, p)
		got, err := podOn("keys")
		if err != nil {
			t.Fatal(err)
		}
		sel := got.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector
		if sel == nil || len(sel.MatchExpressions) != 1 || sel.MatchExpressions[0].Key != "tier" ||
			sel.MatchExpressions[0].Operator != metav1.LabelSelectorOpIn || !slices.Equal(sel.MatchExpressions[0].Values, []string{"front"}) {
			t.Fatalf("stored selector %+v", sel)
		}
		waitPending(t, "keys", "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules.")
	})
}

// Real nodes register the labels the topology keys name, and required
// anti-affinity on kubernetes.io/hostname runs a controller's pods one per
// node; the replica left over waits with Kubernetes' message.
func TestAntiAffinityOnRealNodes(t *testing.T) {
	parallel(t)
	c, _ := nodeCluster(t, 2, false, nil)
	cl := c.Client()
	nodes, _, err := client.ListTyped[v1.Node](ctxT(t, 5*time.Second), cl, "nodes", "", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		want := map[string]string{v1.LabelHostname: n.Name, v1.LabelOS: "linux", v1.LabelArch: runtime.GOARCH}
		for k, v := range want {
			if n.Labels[k] != v {
				t.Errorf("node %s label %s = %q, want %q", n.Name, k, n.Labels[k], v)
			}
		}
	}
	apart := map[string]string{"app": "apart"}
	rc := rcOf("apart", 2)
	rc.Spec.Template.Spec.Containers[0].Command = []string{"sh", "-c", httpdCommand}
	rc.Spec.Template.Spec.Affinity = &v1.Affinity{PodAntiAffinity: antiOnHost(apart)}
	if err := cl.Create(ctxT(t, 5*time.Second), rc); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "2 pods Running on 2 nodes", func() (bool, string) {
		pods := runningPods(t, cl, "app=apart")
		on := map[string]bool{}
		for _, p := range pods {
			on[p.Spec.NodeName] = true
		}
		return len(pods) == 2 && len(on) == 2, fmt.Sprintf("%d running on %v", len(pods), on)
	})
	if err := cl.Scale(ctxT(t, 10*time.Second), "default", "apart", 3); err != nil {
		t.Fatal(err)
	}
	const msg = "0/2 nodes are available: 2 node(s) didn't match pod anti-affinity rules."
	eventually(t, 20*time.Second, "the third replica waits with the message", func() error {
		per, err := podsByNode(t, cl, "app=apart")
		if err != nil {
			return err
		}
		if len(per[""]) != 1 {
			return fmt.Errorf("per node %v", per)
		}
		if c := per[""][0].Status.Condition(v1.PodScheduled); c == nil || c.Status != v1.ConditionFalse || c.Message != msg {
			return fmt.Errorf("condition %+v", c)
		}
		return nil
	})
}
