package e2e

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/auth/rbac"
	"orch.io/orch/test/harness"
)

// lspodsImage is busybox plus testdata/lspods, an in-cluster client-go program.
const lspodsImage = "orch.test/lspods:1"

// Done when 3 of issue 13: a pod running a client-go program with
// rest.InClusterConfig lists the pods of its namespace when its service
// account may, gets 403 when it may not, and its token stops working as
// soon as the pod is deleted.
func TestServiceAccountInClusterClient(t *testing.T) {
	parallel(t)
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network})
	nd := c.StartNode(network, "node-1", "--heartbeat-interval", "1s", "--resync-interval", "2s")
	cl := c.Client()
	var podCIDR string
	waitFor(t, 60*time.Second, "node Ready", func() (bool, string) {
		var n v1.Node
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", nd.Name, &n); err != nil {
			return false, err.Error()
		}
		r := n.Status.Condition(v1.NodeReady)
		podCIDR = n.Spec.PodCIDR
		return r != nil && r.Status == v1.ConditionTrue && podCIDR != "", ""
	})
	// Pods reach the masters as on a host-gw network: each master's host
	// routes the node's pod CIDR through the node (the masters' network
	// namespaces, and these routes, go with the test).
	for _, m := range c.Masters {
		if out, err := harness.ExecIn(m.NetNS, 10*time.Second, "ip", "route", "add", podCIDR, "via", nd.IP); err != nil {
			t.Fatalf("route to the pod CIDR on %s: %v %s", m.Name, err, out)
		}
	}
	loadLspods(t, c)
	ctx := ctxT(t, 30*time.Second)
	if err := cl.Create(ctx, &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "reader", Namespace: "default"}}); err != nil {
		t.Fatalf("create service account reader: %v", err)
	}
	// reader may read what the ClusterRole view allows in default; the
	// account default has no binding.
	if err := cl.Create(ctx, &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Name: "reader-view", Namespace: "default"},
		RoleRef:  v1.RoleRef{APIGroup: v1.RBACGroup, Kind: "ClusterRole", Name: rbac.View},
		Subjects: []v1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: "default"}}}); err != nil {
		t.Fatalf("bind reader to view: %v", err)
	}
	pod := func(name, sa string) *v1.Pod {
		return &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name}, Spec: v1.PodSpec{ServiceAccountName: sa, TerminationGracePeriodSeconds: int64p(30),
			Containers: []v1.Container{{Name: "c", Image: lspodsImage, ImagePullPolicy: v1.PullNever, Command: []string{"lspods"}}}}}
	}
	createPod(t, cl, pod("reader", "reader"))
	createPod(t, cl, pod("plain", "")) // runs as default/default, which may not list pods

	waitFor(t, 90*time.Second, "reader lists the pods of default", func() (bool, string) {
		l := lastLine(t, cl, "reader")
		return strings.HasPrefix(l, "OK 2 ") && strings.Contains(l, "reader") && strings.Contains(l, "plain"), l
	})
	waitFor(t, 60*time.Second, "plain refused with 403", func() (bool, string) {
		l := lastLine(t, cl, "plain")
		return strings.HasPrefix(l, "ERROR 403 ") && strings.Contains(l, `User "system:serviceaccount:default:default" cannot list resource "pods"`), l
	})

	// The token the node wrote for reader, bound to the pod.
	r := getPod(t, cl, "reader")
	tokenPath := ""
	for _, v := range r.Spec.Volumes {
		if strings.HasPrefix(v.Name, "kube-api-access-") {
			tokenPath = filepath.Join(nd.StateDir, "pods", r.UID, "volumes", v.Name, "token")
		}
	}
	tok, err := os.ReadFile(tokenPath)
	if err != nil {
		t.Fatalf("the pod's token on the node: %v", err)
	}
	if code := listWithToken(t, c, string(tok)); code != http.StatusOK {
		t.Fatalf("the pod's token lists pods with %d, want 200", code)
	}

	// Deleted (gracefully: its program, ignoring SIGTERM, runs on for
	// its grace period), the pod's token no longer authenticates.
	if _, err := cl.Delete(ctx, "pods", "default", "reader", nil); err != nil {
		t.Fatal(err)
	}
	// Every master refuses it as soon as it has applied the delete.
	waitFor(t, 5*time.Second, "the deleted pod's token refused", func() (bool, string) {
		code := listWithToken(t, c, string(tok))
		return code == http.StatusUnauthorized, strconv.Itoa(code)
	})
	waitFor(t, 20*time.Second, "the deleted pod's client refused with 401", func() (bool, string) {
		l := lastLine(t, cl, "reader")
		return strings.HasPrefix(l, "ERROR 401 "), l
	})
}

// loadLspods builds testdata/lspods statically into a busybox image and
// loads it into every node.
func loadLspods(t *testing.T, c *harness.Cluster) {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "lspods")
	build := exec.Command("go", "build", "-ldflags", "-s -w", "-o", bin, "./testdata/lspods")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build lspods: %v\n%s", err, out)
	}
	img := filepath.Join(dir, "lspods.tar")
	if out, err := exec.Command(bins.Orchd, "image", "busybox", "--name", lspodsImage, "--add", bin+":bin/lspods", "-o", img).CombinedOutput(); err != nil {
		t.Fatalf("build the lspods image: %v\n%s", err, out)
	}
	if out, stderr, err := c.Orchctl("", "image", "load", img, "--all-nodes"); err != nil {
		t.Fatalf("load the lspods image: %v\n%s%s", err, out, stderr)
	}
}

// lastLine is the last line the pod's container logged ("" if none yet).
func lastLine(t *testing.T, cl *client.Client, pod string) string {
	t.Helper()
	rc, err := cl.Logs(ctxT(t, 10*time.Second), "default", pod, client.LogOptions{})
	if err != nil {
		return "logs: " + err.Error()
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return "logs: " + err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// listWithToken lists the pods of default with a bearer token and returns
// the HTTP code.
func listWithToken(t *testing.T, c *harness.Cluster, token string) int {
	t.Helper()
	cfg := c.Config()
	cfg.Token = token
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = cl.List(ctx, "pods", "default", client.ListOptions{})
	if err == nil {
		return http.StatusOK
	}
	if code := v1.CodeOf(err); code != 0 {
		return code
	}
	t.Fatalf("list with a token: %v", err)
	return 0
}
