package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// unscheduled names a scheduler that does not exist: the storage tests' pods
// stay exactly as written (the leader's scheduler leaves them alone).
const unscheduled = "e2e-no-scheduler"

func testPod(name string) *v1.Pod {
	return &v1.Pod{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "web"}},
		Spec: v1.PodSpec{SchedulerName: unscheduled,
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"httpd", "-f"}}}},
	}
}

// podsManifest returns n pod documents of about 1 KiB each as multi-document YAML.
func podsManifest(prefix string, n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, `---
apiVersion: v1
kind: Pod
metadata:
  name: %s-%03d
  labels: {app: web, index: "%d"}
  annotations: {note: "%s"}
spec:
  schedulerName: %s
  containers:
  - name: web
    image: busybox:1.35
    command: ["httpd", "-f", "-p", "8080"]
    ports: [{containerPort: 8080, name: http}]
    resources: {requests: {cpu: 100m, memory: 32Mi}}
`, prefix, i, i, strings.Repeat("x", 400), unscheduled)
	}
	return b.String()
}

// listKeys returns "ns/name@rv" of every object of a resource, sorted: a
// linearizable list, or with stale the answering master's own copy.
func listKeys(t *testing.T, c *client.Client, resource string, stale bool) []string {
	t.Helper()
	l, err := c.List(ctxT(t, 5*time.Second), resource, "", client.ListOptions{Stale: stale})
	if err != nil {
		t.Fatalf("list %s: %v", resource, err)
	}
	var out []string
	for _, raw := range l.Items {
		var m struct {
			Metadata v1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatal(err)
		}
		out = append(out, m.Metadata.Namespace+"/"+m.Metadata.Name+"@"+m.Metadata.ResourceVersion)
	}
	sort.Strings(out)
	return out
}

// eventually polls cond until it returns nil or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = cond(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not true within %v: %v", what, timeout, err)
}

func equalStrings(a, b []string) error {
	if len(a) != len(b) {
		return fmt.Errorf("%d items vs %d", len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			return fmt.Errorf("item %d: %s vs %s", i, a[i], b[i])
		}
	}
	return nil
}

// startCluster starts three masters with 1 s Raft timeouts (raft's own
// defaults; orchd's are 300 ms, which `make bench` measures): the suite
// checks behaviour across failures, and a CI host that is short of CPU must
// not add elections of its own.
func startCluster(t *testing.T, opts harness.Options) *harness.Cluster {
	t.Helper()
	opts.MasterArgs = append([]string{"--heartbeat-timeout=1s", "--election-timeout=1s", "--leader-lease-timeout=500ms"}, opts.MasterArgs...)
	return harness.StartCluster(t, bins, opts)
}

// allowPrivilegedPods labels a namespace with the privileged Pod Security
// level, so pods that program their node (host namespaces, hostPath,
// privileged containers) are admitted there, as a DaemonSet's would be.
func allowPrivilegedPods(t *testing.T, cl *client.Client, namespace string) {
	t.Helper()
	var ns v1.Namespace
	if err := cl.Get(ctxT(t, 5*time.Second), "namespaces", "", namespace, &ns); err != nil {
		t.Fatalf("get namespace %s: %v", namespace, err)
	}
	if ns.Labels == nil {
		ns.Labels = map[string]string{}
	}
	for _, mode := range []string{"enforce", "warn", "audit"} {
		ns.Labels["pod-security.kubernetes.io/"+mode] = "privileged"
	}
	if err := cl.Update(ctxT(t, 5*time.Second), &ns); err != nil {
		t.Fatalf("label namespace %s privileged: %v", namespace, err)
	}
}
