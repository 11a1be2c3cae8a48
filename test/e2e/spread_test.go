package e2e

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// zonedNodes registers a simulated node per zone given, node-i in
// zones[i] (without a zone label for ""), keeps them Ready with
// heartbeats and returns their names.
func zonedNodes(t *testing.T, cl *client.Client, zones []string) []string {
	t.Helper()
	var names []string
	for i, z := range zones {
		name := fmt.Sprintf("node-%d", i)
		n := affinityNode(name, z, nil)
		if z == "" {
			delete(n.Labels, zoneLabel)
		}
		if err := cl.Create(ctxT(t, 10*time.Second), n); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
	}
	startHeartbeats(t, cl, names, time.Second)
	return names
}

// Issue 15, done-when 7: required anti-affinity on the zone spreads 5
// replicas over 5 of 10 nodes (one per zone, two nodes per zone) and
// leaves the sixth Pending with Kubernetes' reason.
func TestAntiAffinitySpreadsFiveReplicasOverTenNodes(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	var zones []string
	for i := range 10 {
		zones = append(zones, fmt.Sprintf("zone-%d", i/2))
	}
	zonedNodes(t, cl, zones)
	apart := map[string]string{"app": "apart"}
	rc := rcOf("apart", 5)
	rc.Spec.Template.Spec.Affinity = &v1.Affinity{PodAntiAffinity: &v1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []v1.PodAffinityTerm{
		{LabelSelector: &metav1.LabelSelector{MatchLabels: apart}, TopologyKey: zoneLabel}}}}
	if err := cl.Create(ctxT(t, 10*time.Second), rc); err != nil {
		t.Fatal(err)
	}
	zoneOf := func(node string) string {
		var i int
		fmt.Sscanf(node, "node-%d", &i)
		return zones[i]
	}
	eventually(t, 30*time.Second, "5 replicas on 5 nodes in 5 zones", func() error {
		per, err := podsByNode(t, cl, "app=apart")
		if err != nil {
			return err
		}
		inZone := map[string]int{}
		for n, pods := range per {
			if n == "" || len(pods) != 1 {
				return fmt.Errorf("per node %v", per)
			}
			inZone[zoneOf(n)]++
		}
		if len(per) != 5 || len(inZone) != 5 {
			return fmt.Errorf("%d nodes, zones %v", len(per), inZone)
		}
		return nil
	})
	if err := cl.Scale(ctxT(t, 10*time.Second), "default", "apart", 6); err != nil {
		t.Fatal(err)
	}
	const msg = "0/10 nodes are available: 10 node(s) didn't match pod anti-affinity rules."
	eventually(t, 30*time.Second, "the sixth replica Pending with the reason", func() error {
		per, err := podsByNode(t, cl, "app=apart")
		if err != nil {
			return err
		}
		if len(per[""]) != 1 || len(per) != 6 {
			return fmt.Errorf("per node %v", per)
		}
		p := per[""][0]
		c := p.Status.Condition(v1.PodScheduled)
		if p.Status.Phase != v1.PodPending || c == nil || c.Status != v1.ConditionFalse || c.Reason != "Unschedulable" || c.Message != msg {
			return fmt.Errorf("phase %q, condition %+v", p.Status.Phase, c)
		}
		return nil
	})
}

// topologySpreadConstraints over zones of simulated nodes: a manifest's
// RC (applied with kubectl, validated against orch's OpenAPI) spreads six
// replicas two per zone with maxSkew 1, its matchLabelKeys merged into
// the pods' selectors; a pod that would crowd a zone, and one whose only
// node has no zone label, wait with Kubernetes' reasons; a bad
// constraint is a 422 that creates nothing.
func TestTopologySpreadOverZones(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	zones := []string{"zone-a", "zone-a", "zone-b", "zone-b", "zone-c", "zone-c", ""}
	zonedNodes(t, cl, zones)
	k := adminKubectl(t, c)
	k.ok(t, "", "apply", "-f", "testdata/spread/rc-zone-spread.yaml")

	perZone := func() (map[string]int, []v1.Pod, error) {
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "managed-by=rc"})
		if err != nil {
			return nil, nil, err
		}
		out := map[string]int{}
		for _, p := range pods {
			var i int
			if p.Spec.NodeName == "" {
				out[""]++
				continue
			}
			fmt.Sscanf(p.Spec.NodeName, "node-%d", &i)
			out[zones[i]]++
		}
		return out, pods, nil
	}
	eventually(t, 30*time.Second, "6 replicas, 2 per zone", func() error {
		got, _, err := perZone()
		if err != nil {
			return err
		}
		if got["zone-a"] != 2 || got["zone-b"] != 2 || got["zone-c"] != 2 || len(got) != 3 {
			return fmt.Errorf("per zone %v", got)
		}
		return nil
	})
	_, pods, err := perZone()
	if err != nil {
		t.Fatal(err)
	}
	sel := pods[0].Spec.TopologySpreadConstraints[0].LabelSelector
	want := metav1.LabelSelectorRequirement{Key: "revision", Operator: metav1.LabelSelectorOpIn, Values: []string{"1"}}
	if sel == nil || !slices.ContainsFunc(sel.MatchExpressions, func(r metav1.LabelSelectorRequirement) bool {
		return r.Key == want.Key && r.Operator == want.Operator && slices.Equal(r.Values, want.Values)
	}) {
		t.Fatalf("a replica's selector %+v lacks the merged %+v", sel, want)
	}

	podOn := func(name string) (*v1.Pod, error) {
		var p v1.Pod
		err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", name, &p)
		return &p, err
	}
	ignore := v1.NodeInclusionPolicyIgnore
	// Pods the RC does not own (no managed-by label) that the spread counts.
	zonal := func(name string, nodeSelector map[string]string) *v1.Pod {
		p := scheduledPod(name, map[string]string{"app": "zonal", "revision": "1"})
		p.Spec.NodeSelector = nodeSelector
		p.Spec.TopologySpreadConstraints = []v1.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: zoneLabel, WhenUnsatisfiable: v1.DoNotSchedule,
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "zonal"}}, NodeAffinityPolicy: &ignore}}
		return p
	}
	// 3/2/2 keeps the skew at 1; a fourth pod in zone-a would make it 2.
	if err := cl.Create(ctxT(t, 10*time.Second), zonal("first-in-a", map[string]string{zoneLabel: "zone-a"})); err != nil {
		t.Fatal(err)
	}
	eventually(t, 20*time.Second, "first-in-a bound in zone-a", func() error {
		p, err := podOn("first-in-a")
		if err != nil {
			return err
		}
		if p.Spec.NodeName != "node-0" && p.Spec.NodeName != "node-1" {
			return fmt.Errorf("on %q", p.Spec.NodeName)
		}
		return nil
	})
	waitPending := func(name, msg string) {
		t.Helper()
		eventually(t, 20*time.Second, name+" pending with the reason", func() error {
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
	if err := cl.Create(ctxT(t, 10*time.Second), zonal("second-in-a", map[string]string{zoneLabel: "zone-a"})); err != nil {
		t.Fatal(err)
	}
	waitPending("second-in-a", "0/7 nodes are available: 2 node(s) didn't match pod topology spread constraints, "+
		"5 node(s) didn't match Pod's node affinity/selector.")
	if err := cl.Create(ctxT(t, 10*time.Second), zonal("no-zone", map[string]string{v1.LabelHostname: "node-6"})); err != nil {
		t.Fatal(err)
	}
	waitPending("no-zone", "0/7 nodes are available: 1 node(s) didn't match pod topology spread constraints (missing required label), "+
		"6 node(s) didn't match Pod's node affinity/selector.")

	bad := zonal("bad", nil)
	bad.Spec.TopologySpreadConstraints[0].MaxSkew = 0
	err = cl.Create(ctxT(t, 10*time.Second), bad)
	const field = "spec.topologySpreadConstraints[0].maxSkew"
	if v1.CodeOf(err) != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), field) || !strings.Contains(err.Error(), "must be greater than zero") {
		t.Fatalf("create with maxSkew 0: %v (code %d), want 422 naming %s", err, v1.CodeOf(err), field)
	}
	if _, err := podOn("bad"); v1.CodeOf(err) != http.StatusNotFound {
		t.Fatalf("the refused pod exists: %v", err)
	}
}
