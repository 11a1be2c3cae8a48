package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

const replicaSetManifest = `apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: web
  namespace: default
spec:
  replicas: 3
  selector:
    matchLabels:
      app: rs-web
    matchExpressions:
    - {key: tier, operator: In, values: [front, edge]}
  template:
    metadata:
      labels:
        app: rs-web
        tier: front
    spec:
      containers:
      - name: web
        image: busybox:1.35
`

// An apps/v1 ReplicaSet from a manifest with matchExpressions, on two
// simulated nodes: its pods are made and owned by it (and a pod outside
// its expression is not adopted), it scales through /scale and through
// kubectl scale, replaces a deleted pod, shows kubectl's columns, refuses a
// new selector, and its deletion takes its pods with it.
func TestReplicaSetLifecycle(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	k := adminKubectl(t, c)
	for _, n := range []string{"node-a", "node-b"} {
		if err := cl.Create(ctxT(t, 10*time.Second), simulatedNode(n, "16")); err != nil {
			t.Fatal(err)
		}
	}
	// A pod with the set's app label but a tier outside its expression.
	stranger := testPod("stranger")
	stranger.Labels = map[string]string{"app": "rs-web", "tier": "back"}
	if err := cl.Create(ctxT(t, 10*time.Second), stranger); err != nil {
		t.Fatal(err)
	}
	if out := k.ok(t, "", "apply", "-f", manifest(t, "rs.yaml", replicaSetManifest)); !strings.Contains(out, "replicaset.apps/web created") {
		t.Fatalf("kubectl apply said %q", out)
	}
	var rs v1.ReplicaSet
	if err := cl.Get(ctxT(t, 5*time.Second), "replicasets", "default", "web", &rs); err != nil {
		t.Fatal(err)
	}
	// owned lists the set's live pods (not being deleted), failing the
	// test if one is owned otherwise than as Kubernetes' ReplicaSet owns.
	owned := func() ([]string, error) {
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default",
			client.ListOptions{LabelSelector: "app=rs-web"})
		if err != nil {
			return nil, err
		}
		var names []string
		for _, p := range pods {
			ref := p.ControllerRef()
			if p.Name == "stranger" {
				if ref != nil {
					t.Fatalf("the pod outside the selector was adopted: %+v", ref)
				}
				continue
			}
			if ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" || ref.APIVersion != "apps/v1" || ref.Name != "web" {
				t.Fatalf("pod %s has controller %+v", p.Name, ref)
			}
			if p.DeletionTimestamp == nil {
				names = append(names, p.Name)
			}
		}
		slices.Sort(names)
		return names, nil
	}
	converge := func(want int) []string {
		t.Helper()
		var names []string
		eventually(t, 30*time.Second, fmt.Sprintf("%d pods of the replica set", want), func() error {
			var err error
			if names, err = owned(); err != nil {
				return err
			}
			if len(names) != want {
				return fmt.Errorf("pods %v", names)
			}
			return nil
		})
		return names
	}
	converge(3)

	// A second apply changes the template by a strategic merge patch; the
	// set keeps its pods (as Kubernetes' ReplicaSet, it does not roll them).
	applied := strings.Replace(replicaSetManifest, "image: busybox:1.35", "image: busybox:1.36", 1)
	if out := k.ok(t, "", "apply", "-f", manifest(t, "rs2.yaml", applied)); !strings.Contains(out, "replicaset.apps/web configured") {
		t.Fatalf("second kubectl apply said %q", out)
	}
	if err := cl.Get(ctxT(t, 5*time.Second), "replicasets", "default", "web", &rs); err != nil {
		t.Fatal(err)
	}
	if img := rs.Spec.Template.Spec.Containers[0].Image; img != "busybox:1.36" || rs.Generation != 2 {
		t.Fatalf("after the second apply: image %q generation %d", img, rs.Generation)
	}
	converge(3)
	if out := k.ok(t, "", "get", "all"); !strings.Contains(out, "replicaset.apps/web") {
		t.Fatalf("kubectl get all does not list the replica set:\n%s", out)
	}

	// The scale subresource: autoscaling/v1 Scale with the selector as a string.
	scalePath, err := client.ResourcePath("replicasets", "default", "web", "scale")
	if err != nil {
		t.Fatal(err)
	}
	var sc v1.Scale
	if err := cl.Do(ctxT(t, 5*time.Second), http.MethodGet, scalePath, nil, nil, &sc); err != nil {
		t.Fatal(err)
	}
	if sc.APIVersion != "autoscaling/v1" || sc.Kind != "Scale" || sc.Spec.Replicas != 3 || sc.Status.Selector != "app=rs-web,tier in (edge,front)" {
		t.Fatalf("scale %+v", sc)
	}
	sc.Spec.Replicas = 5
	if err := cl.Do(ctxT(t, 5*time.Second), http.MethodPut, scalePath, nil, &sc, &sc); err != nil {
		t.Fatal(err)
	}
	converge(5)
	if out := k.ok(t, "", "scale", "rs", "web", "--replicas=2"); !strings.Contains(out, "replicaset.apps/web scaled") {
		t.Fatalf("kubectl scale said %q", out)
	}
	before := converge(2)

	// A deleted pod is replaced.
	if _, err := cl.Delete(ctxT(t, 5*time.Second), "pods", "default", before[0], nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "a replacement pod", func() error {
		names, err := owned()
		if err != nil {
			return err
		}
		if len(names) != 2 || slices.Contains(names, before[0]) {
			return fmt.Errorf("pods %v", names)
		}
		return nil
	})

	// kubectl's columns, from the server's Table.
	eventually(t, 15*time.Second, "kubectl get rs", func() error {
		out, err := k.out(t, "get", "rs")
		if err != nil {
			return err
		}
		tab := parseKubectlTable(t, out)
		if want := []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"}; !slices.Equal(tab.header, want) {
			t.Fatalf("header %v, want %v", tab.header, want)
		}
		if row := tab.row(t, "web"); row["DESIRED"] != "2" || row["CURRENT"] != "2" || row["READY"] != "0" {
			return fmt.Errorf("row %v", row)
		}
		return nil
	})
	wide := parseKubectlTable(t, k.ok(t, "", "get", "replicasets.apps", "-o", "wide"))
	if row := wide.row(t, "web"); row["CONTAINERS"] != "web" || row["IMAGES"] != "busybox:1.36" || row["SELECTOR"] != "app=rs-web,tier in (edge,front)" {
		t.Fatalf("wide row %v", row)
	}

	// The selector is immutable in apps/v1.
	_, errOut, code := k.run(t, "", "patch", "rs", "web", "--type=merge", "-p", `{"spec":{"selector":{"matchExpressions":null}}}`)
	if code == 0 || !strings.Contains(errOut, "spec.selector: Invalid value") || !strings.Contains(errOut, "field is immutable") {
		t.Fatalf("selector patch: exit %d, %q", code, errOut)
	}

	// Deleting the set deletes its pods (as the garbage collector would).
	if out := k.ok(t, "", "delete", "rs", "web"); !strings.Contains(out, `replicaset.apps "web" deleted`) {
		t.Fatalf("kubectl delete said %q", out)
	}
	converge(0)
	var left v1.Pod
	if err := cl.Get(context.Background(), "pods", "default", "stranger", &left); err != nil {
		t.Fatalf("the pod outside the set: %v", err)
	}
}
