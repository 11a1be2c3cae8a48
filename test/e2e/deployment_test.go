package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

const deploymentManifest = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: default
spec:
  replicas: 30
  selector:
    matchLabels:
      app: deploy-web
  strategy:
    type: RollingUpdate
    rollingUpdate:
      maxSurge: 25%
      maxUnavailable: 25%
  template:
    metadata:
      labels:
        app: deploy-web
    spec:
      containers:
      - name: web
        image: busybox:1.35
`

// startSimKubelet serves n simulated nodes for the test's lifetime.
func startSimKubelet(t *testing.T, cl *client.Client, n int) *harness.SimKubelet {
	t.Helper()
	var names []string
	for i := 0; i < n; i++ {
		names = append(names, fmt.Sprintf("sim-%02d", i))
	}
	k, err := harness.StartSimKubelet(ctxT(t, 30*time.Second), cl, names, harness.SimKubeletOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		k.Stop()
		if err := k.Err(); err != nil {
			t.Errorf("simulated kubelet: %v", err)
		}
	})
	return k
}

// podBounds polls a selector's pods every 50 ms and keeps the fewest
// available (Ready, not terminating) and the most pods (not terminating)
// it saw; a poll that fails (during a leader's kill) observes nothing.
type podBounds struct {
	mu                  sync.Mutex
	minAvail, maxPods   int
	polls               int
	cancel              context.CancelFunc
	done                chan struct{}
	minAvailAt, maxAtAt string
}

func watchPodBounds(t *testing.T, cl *client.Client, selector string) *podBounds {
	ctx, cancel := context.WithCancel(context.Background())
	b := &podBounds{minAvail: 1 << 30, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(b.done)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			lctx, lcancel := context.WithTimeout(ctx, 2*time.Second)
			pods, rv, err := client.ListTyped[v1.Pod](lctx, cl, "pods", "default", client.ListOptions{LabelSelector: selector})
			lcancel()
			if err == nil {
				n, avail := 0, 0
				for _, p := range podsOf(pods) {
					n++
					if p.IsReady() {
						avail++
					}
				}
				b.mu.Lock()
				b.polls++
				if avail < b.minAvail {
					b.minAvail, b.minAvailAt = avail, rv
				}
				if n > b.maxPods {
					b.maxPods, b.maxAtAt = n, rv
				}
				b.mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(b.stop)
	return b
}

// podsOf returns the pods that are not terminating.
func podsOf(pods []v1.Pod) []v1.Pod {
	var out []v1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out
}

func (b *podBounds) stop() {
	b.cancel()
	<-b.done
}

func (b *podBounds) get() (minAvail, maxPods, polls int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.minAvail, b.maxPods, b.polls
}

// rolloutStatus runs kubectl rollout status until the rollout ends.
func rolloutStatus(t *testing.T, k *kubectlCLI, target string) string {
	t.Helper()
	return k.ok(t, "", "rollout", "status", target, "--timeout=80s")
}

// deploymentSets returns the deployment's ReplicaSets by name.
func deploymentSets(t *testing.T, cl *client.Client, selector string) map[string]v1.ReplicaSet {
	t.Helper()
	rss, _, err := client.ListTyped[v1.ReplicaSet](ctxT(t, 5*time.Second), cl, "replicasets", "default", client.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]v1.ReplicaSet{}
	for _, rs := range rss {
		out[rs.Name] = rs
	}
	return out
}

// Issue 15, Done-when 2: a 3-master cluster with 10 simulated nodes; a
// Deployment of 30 rolled to a new image with maxSurge 25% and
// maxUnavailable 25% never has fewer than 23 available or more than 38
// pods at any observed moment (polled every 50 ms), also while its
// leader is killed mid-rollout; it finishes, and `kubectl rollout undo`
// restores the old template with a new revision. Pause, resume and
// restart work through kubectl, and a rollout that cannot progress
// reports ProgressDeadlineExceeded.
func TestDeploymentRollingUpdateKeepsBounds(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	leader := c.WaitLeader(30 * time.Second)
	survivor := (leader + 1) % len(c.Masters)
	cl := c.Client()
	startSimKubelet(t, cl, 10)
	// kubectl talks to a master that stays up.
	k := newKubectl(t, c.Kubeconfig(survivor))
	if out := k.ok(t, "", "apply", "-f", manifest(t, "deploy.yaml", deploymentManifest)); !strings.Contains(out, "deployment.apps/web created") {
		t.Fatalf("kubectl apply said %q", out)
	}
	if out := rolloutStatus(t, k, "deployment/web"); !strings.Contains(out, `deployment "web" successfully rolled out`) {
		t.Fatalf("rollout status said %q", out)
	}
	first := deploymentSets(t, cl, "app=deploy-web")
	if len(first) != 1 {
		t.Fatalf("after the first rollout: sets %v", first)
	}
	var firstSet v1.ReplicaSet
	for _, rs := range first {
		firstSet = rs
	}
	hash := firstSet.Labels[v1.DefaultDeploymentUniqueLabelKey]
	if hash == "" || firstSet.Name != "web-"+hash || firstSet.Annotations[v1.RevisionAnnotation] != "1" ||
		firstSet.ControllerRef() == nil || firstSet.ControllerRef().Kind != "Deployment" {
		t.Fatalf("first set %s: labels %v annotations %v owners %v", firstSet.Name, firstSet.Labels, firstSet.Annotations, firstSet.OwnerReferences)
	}
	table := parseKubectlTable(t, k.ok(t, "", "get", "deploy", "web"))
	if row := table.row(t, "web"); row["READY"] != "30/30" || row["UP-TO-DATE"] != "30" || row["AVAILABLE"] != "30" {
		t.Fatalf("kubectl get deploy: %v", row)
	}

	// New pods count as available 2 s after they are ready from here on:
	// the simulated nodes make pods ready at once, and a rollout took
	// about half a second, short enough for the 50 ms polls below to miss
	// its middle on a quiet machine; at a wave per 2 s it lasts seconds.
	// (A change of minReadySeconds alone starts no rollout.)
	k.ok(t, "", "patch", "deployment/web", "--type=merge", "-p", `{"spec":{"minReadySeconds":2}}`)
	bounds := watchPodBounds(t, cl, "app=deploy-web")
	k.ok(t, "", "set", "image", "deployment/web", "web=busybox:1.36")
	// Kill the leader once the new set has pods but the rollout is not done.
	eventually(t, 60*time.Second, "a rollout half way", func() error {
		var d v1.Deployment
		if err := cl.Get(ctxT(t, 5*time.Second), "deployments", "default", "web", &d); err != nil {
			return err
		}
		if d.Status.UpdatedReplicas == 0 || d.Status.UpdatedReplicas >= 20 {
			return fmt.Errorf("updated %d", d.Status.UpdatedReplicas)
		}
		return nil
	})
	c.Kill(leader)
	if out := rolloutStatus(t, k, "deployment/web"); !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status said %q", out)
	}
	bounds.stop()
	minAvail, maxPods, polls := bounds.get()
	t.Logf("rollout across a leader kill: %d polls, at least %d available, at most %d pods", polls, minAvail, maxPods)
	if minAvail < 23 || maxPods > 38 {
		t.Fatalf("bounds broken: %d available at rv %s (min 23), %d pods at rv %s (max 38)", minAvail, bounds.minAvailAt, maxPods, bounds.maxAtAt)
	}
	// The rollout takes seconds (minReadySeconds): a few polls are
	// enough to have watched it.
	if polls < 5 {
		t.Fatalf("only %d polls observed the rollout", polls)
	}
	c.Start(leader)

	history := k.ok(t, "", "rollout", "history", "deployment/web")
	if !strings.Contains(history, "1 ") || !strings.Contains(history, "2 ") {
		t.Fatalf("rollout history:\n%s", history)
	}
	// Undo, through orchctl (kubectl's rollout embedded): the old set
	// comes back with the next revision.
	bounds = watchPodBounds(t, cl, "app=deploy-web")
	if out, errOut, err := c.Orchctl("", "rollout", "undo", "deployment/web"); err != nil || !strings.Contains(out, "rolled back") {
		t.Fatalf("orchctl rollout undo: %v\n%s%s", err, out, errOut)
	}
	rolloutStatus(t, k, "deployment/web")
	bounds.stop()
	if minAvail, maxPods, _ := bounds.get(); minAvail < 23 || maxPods > 38 {
		t.Fatalf("undo broke the bounds: %d available, %d pods", minAvail, maxPods)
	}
	var d v1.Deployment
	if err := cl.Get(ctxT(t, 5*time.Second), "deployments", "default", "web", &d); err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "busybox:1.35" || d.Annotations[v1.RevisionAnnotation] != "3" {
		t.Fatalf("after undo: image %q revision %q", img, d.Annotations[v1.RevisionAnnotation])
	}
	sets := deploymentSets(t, cl, "app=deploy-web")
	if rs, ok := sets[firstSet.Name]; !ok || rs.Annotations[v1.RevisionAnnotation] != "3" || rs.Annotations[v1.RevisionHistoryAnnotation] != "1" ||
		rs.Spec.Replicas == nil || *rs.Spec.Replicas != 30 || len(sets) != 2 {
		t.Fatalf("after undo: sets %v", sets)
	}

	if out := k.ok(t, "", "rollout", "history", "deployment/web", "--revision=2"); !strings.Contains(out, "busybox:1.36") || !strings.Contains(out, "pod-template-hash=") {
		t.Fatalf("rollout history --revision=2:\n%s", out)
	}
	if out := k.ok(t, "", "describe", "deployment", "web"); !strings.Contains(out, "NewReplicaSet:") || !strings.Contains(out, firstSet.Name+" (30/30 replicas created)") ||
		!strings.Contains(out, "MinimumReplicasAvailable") || !strings.Contains(out, "ScalingReplicaSet") {
		t.Fatalf("kubectl describe deployment:\n%s", out)
	}

	// Paused: a new template makes no set; resumed, it rolls out.
	k.ok(t, "", "rollout", "pause", "deployment/web")
	k.ok(t, "", "set", "image", "deployment/web", "web=busybox:1.37")
	eventually(t, 20*time.Second, "the paused condition", func() error {
		if err := cl.Get(ctxT(t, 5*time.Second), "deployments", "default", "web", &d); err != nil {
			return err
		}
		for _, c := range d.Status.Conditions {
			if c.Type == v1.DeploymentProgressing && c.Reason == "DeploymentPaused" && d.Status.ObservedGeneration == d.Generation {
				return nil
			}
		}
		return fmt.Errorf("conditions %+v", d.Status.Conditions)
	})
	if sets := deploymentSets(t, cl, "app=deploy-web"); len(sets) != 2 {
		t.Fatalf("a paused deployment made a set: %v", sets)
	}
	k.ok(t, "", "rollout", "resume", "deployment/web")
	rolloutStatus(t, k, "deployment/web")
	if sets := deploymentSets(t, cl, "app=deploy-web"); len(sets) != 3 {
		t.Fatalf("after resume: %d sets", len(sets))
	}
	// Restart: a restartedAt annotation in the template, a fourth set.
	k.ok(t, "", "rollout", "restart", "deployment/web")
	rolloutStatus(t, k, "deployment/web")
	if err := cl.Get(ctxT(t, 5*time.Second), "deployments", "default", "web", &d); err != nil {
		t.Fatal(err)
	}
	if d.Spec.Template.Annotations["kubectl.kubernetes.io/restartedAt"] == "" || len(deploymentSets(t, cl, "app=deploy-web")) != 4 {
		t.Fatalf("after restart: template annotations %v", d.Spec.Template.Annotations)
	}

	// A rollout that cannot progress (its pods fit no node) times out.
	k.ok(t, "", "patch", "deployment/web", "--type=merge", "-p",
		`{"spec":{"progressDeadlineSeconds":5,"template":{"spec":{"nodeSelector":{"no-such":"node"}}}}}`)
	out, errOut, code := k.run(t, "", "rollout", "status", "deployment/web", "--timeout=60s")
	if code == 0 || !strings.Contains(errOut, `deployment "web" exceeded its progress deadline`) {
		t.Fatalf("rollout status of a stuck rollout: exit %d\n%s%s", code, out, errOut)
	}
	if err := cl.Get(ctxT(t, 5*time.Second), "deployments", "default", "web", &d); err != nil {
		t.Fatal(err)
	}
	var progressing *v1.DeploymentCondition
	for i := range d.Status.Conditions {
		if d.Status.Conditions[i].Type == v1.DeploymentProgressing {
			progressing = &d.Status.Conditions[i]
		}
	}
	if progressing == nil || progressing.Status != v1.ConditionFalse || progressing.Reason != "ProgressDeadlineExceeded" {
		t.Fatalf("progressing condition %+v", progressing)
	}
}

// Issue 15, Done-when 6: foreground deletion of a Deployment removes its
// pods, then its ReplicaSets, then itself (each observed gone in that
// order). The docs' example Deployments apply unchanged through kubectl
// with validation on and roll out.
func TestDeploymentForegroundDeletionOrder(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	startSimKubelet(t, cl, 3)
	k := adminKubectl(t, c)
	for _, ns := range []string{"docs-a", "docs-b"} {
		k.ok(t, "", "create", "namespace", ns)
	}
	k.ok(t, "", "apply", "-n", "docs-a", "-f", "testdata/docs/nginx-deployment.yaml")
	k.ok(t, "", "apply", "-n", "docs-b", "-f", "testdata/docs/application-deployment.yaml")
	k.ok(t, "", "rollout", "status", "-n", "docs-a", "deployment/nginx-deployment", "--timeout=60s")
	k.ok(t, "", "rollout", "status", "-n", "docs-b", "deployment/nginx-deployment", "--timeout=60s")
	if out := k.ok(t, "", "get", "deploy", "-n", "docs-a", "-o", "wide"); !strings.Contains(out, "3/3") || !strings.Contains(out, "nginx:1.14.2") {
		t.Fatalf("kubectl get deploy -o wide:\n%s", out)
	}

	k.ok(t, "", "apply", "-f", manifest(t, "deploy.yaml", strings.Replace(deploymentManifest, "replicas: 30", "replicas: 4", 1)))
	rolloutStatus(t, k, "deployment/web")
	if out := k.ok(t, "", "get", "all"); !strings.Contains(out, "deployment.apps/web") {
		t.Fatalf("kubectl get all does not list the deployment:\n%s", out)
	}
	// The removals are ordered by their resourceVersions (the raft index
	// of each delete), seen by watches started before the delete.
	var d v1.Deployment
	if err := cl.Get(ctxT(t, 5*time.Second), "deployments", "default", "web", &d); err != nil {
		t.Fatal(err)
	}
	pods, rv, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "app=deploy-web"})
	if err != nil || len(pods) != 4 {
		t.Fatalf("pods %d: %v", len(pods), err)
	}
	sets := deploymentSets(t, cl, "app=deploy-web")
	wctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	removed := func(resource, selector string, want int) <-chan []uint64 {
		out := make(chan []uint64, 1)
		w, err := cl.Watch(wctx, resource, "default", client.WatchOptions{ResourceVersion: rv, ListOptions: client.ListOptions{LabelSelector: selector}})
		if err != nil {
			t.Fatalf("watch %s: %v", resource, err)
		}
		go func() {
			defer w.Stop()
			var rvs []uint64
			for ev := range w.Events() {
				if ev.Type != v1.Deleted {
					continue
				}
				n, _ := strconv.ParseUint(ev.ResourceVersion, 10, 64)
				if rvs = append(rvs, n); len(rvs) == want {
					break
				}
			}
			out <- rvs
		}()
		return out
	}
	podsGone := removed("pods", "app=deploy-web", len(pods))
	setsGone := removed("replicasets", "app=deploy-web", len(sets))
	deployGone := removed("deployments", "", 1)
	k.ok(t, "", "delete", "deployment/web", "--cascade=foreground", "--wait=false")
	podRVs, setRVs, deployRVs := <-podsGone, <-setsGone, <-deployGone
	if len(podRVs) != len(pods) || len(setRVs) != len(sets) || len(deployRVs) != 1 {
		t.Fatalf("removals seen: pods %v, sets %v, deployment %v", podRVs, setRVs, deployRVs)
	}
	if slices.Max(podRVs) >= slices.Min(setRVs) || slices.Max(setRVs) >= deployRVs[0] {
		t.Fatalf("removed out of order: pods at %v, sets at %v, deployment at %v", podRVs, setRVs, deployRVs)
	}
	t.Logf("removed: pods at %v, sets at %v, deployment at %v", podRVs, setRVs, deployRVs)
}
