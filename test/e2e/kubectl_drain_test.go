package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

const drainRC = `apiVersion: v1
kind: ReplicationController
metadata:
  name: drained
spec:
  replicas: 2
  selector: {app: drained}
  template:
    metadata:
      labels: {app: drained}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: c
        image: busybox:1.35
        command: [sleep, "100000"]
`

const drainPDB = `apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: drained
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: drained}
`

// Issue 14: kubectl drain is blocked by a PodDisruptionBudget that allows
// no disruption (it retries its evictions until its timeout and fails with
// the budget's message; the pods stay), then, once the budget allows one,
// cordons the node and evicts its pods, which the replication controller
// makes again on the other node.
func TestKubectlDrainWithPDB(t *testing.T) {
	t.Parallel()
	c, _ := nodeCluster(t, 2, false, nil)
	cl := c.Client()
	kubectl := func(stdin string, args ...string) (string, string, error) {
		cmd := c.KubectlCommand(args...)
		cmd.Stdin = strings.NewReader(stdin)
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		return out.String(), errb.String(), err
	}
	mustKubectl := func(stdin string, args ...string) string {
		t.Helper()
		out, errOut, err := kubectl(stdin, args...)
		if err != nil {
			t.Fatalf("kubectl %s: %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), err, out, errOut)
		}
		return out
	}
	mustKubectl(drainRC, "apply", "-f", "-")
	mustKubectl(drainPDB, "apply", "-f", "-")

	var pods []v1.Pod
	waitFor(t, 90*time.Second, "2 pods Ready", func() (bool, string) {
		pods = readyPods(t, cl, "app=drained")
		return len(pods) == 2, fmt.Sprintf("%d ready", len(pods))
	})
	waitFor(t, 30*time.Second, "the budget computed", func() (bool, string) {
		var pdb v1.PodDisruptionBudget
		if err := cl.Get(ctxT(t, 5*time.Second), "poddisruptionbudgets", "default", "drained", &pdb); err != nil {
			return false, err.Error()
		}
		st := pdb.Status
		return st.CurrentHealthy == 2 && st.DesiredHealthy == 2 && st.ExpectedPods == 2 && st.DisruptionsAllowed == 0,
			fmt.Sprintf("%+v", st)
	})
	out := mustKubectl("", "get", "pdb", "drained")
	if !strings.Contains(out, "MIN AVAILABLE") || !strings.Contains(out, "ALLOWED DISRUPTIONS") {
		t.Errorf("kubectl get pdb:\n%s", out)
	}
	node := pods[0].Spec.NodeName
	before := map[string]bool{}
	for _, p := range pods {
		before[p.Name] = true
	}

	out, errOut, err := kubectl("", "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=15s")
	if err == nil {
		t.Fatalf("drain with a budget allowing no disruption succeeded:\n%s\n%s", out, errOut)
	}
	if !strings.Contains(errOut, "Cannot evict pod as it would violate the pod's disruption budget.") {
		t.Errorf("drain's error does not name the budget:\n%s", errOut)
	}
	now := readyPods(t, cl, "app=drained")
	if len(now) != 2 || !before[now[0].Name] || !before[now[1].Name] {
		t.Fatalf("pods changed while the drain was blocked: %v", podNames(now))
	}
	var nd v1.Node
	if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", node, &nd); err != nil || !nd.Spec.Unschedulable {
		t.Fatalf("node %s not cordoned by the drain: %v", node, err)
	}

	mustKubectl("", "patch", "pdb", "drained", "--type=merge", "-p", `{"spec":{"minAvailable":1}}`)
	out = mustKubectl("", "drain", node, "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=150s")
	if !strings.Contains(out, "drained") {
		t.Errorf("drain output:\n%s", out)
	}
	waitFor(t, 90*time.Second, "2 pods Ready off the drained node", func() (bool, string) {
		ps := readyPods(t, cl, "app=drained")
		for _, p := range ps {
			if p.Spec.NodeName == node {
				return false, fmt.Sprintf("%s still on %s", p.Name, node)
			}
		}
		return len(ps) == 2, fmt.Sprintf("%d ready", len(ps))
	})
	all, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "app=drained"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range all {
		if p.Spec.NodeName == node {
			t.Errorf("pod %s still bound to the drained node", p.Name)
		}
	}
}

// readyPods lists the live Ready pods matching selector.
func readyPods(t *testing.T, cl *client.Client, selector string) []v1.Pod {
	pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil
	}
	var out []v1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.IsReady() {
			out = append(out, p)
		}
	}
	return out
}

func podNames(pods []v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}
