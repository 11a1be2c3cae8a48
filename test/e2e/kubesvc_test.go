package e2e

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/auth/rbac"
	"orch.io/orch/test/harness"
)

// kubernetesEndpoints are the IPs of the kubernetes Service's Endpoints
// and of its EndpointSlice's ready endpoints, and the ports they name.
func kubernetesEndpoints(t *testing.T, cl *client.Client) (ep, slice []string, err error) {
	t.Helper()
	var e v1.Endpoints
	if err := cl.Get(ctxT(t, 5*time.Second), "endpoints", "default", "kubernetes", &e); err != nil {
		return nil, nil, err
	}
	for _, s := range e.Subsets {
		for _, a := range s.Addresses {
			for _, p := range s.Ports {
				ep = append(ep, fmt.Sprintf("%s:%d", a.IP, p.Port))
			}
		}
	}
	var s v1.EndpointSlice
	if err := cl.Get(ctxT(t, 5*time.Second), "endpointslices", "default", "kubernetes", &s); err != nil {
		return nil, nil, err
	}
	for _, e := range s.Endpoints {
		if e.Conditions.Ready == nil || !*e.Conditions.Ready {
			continue
		}
		for _, p := range s.Ports {
			slice = append(slice, fmt.Sprintf("%s:%d", e.Addresses[0], *p.Port))
		}
	}
	slices.Sort(ep)
	slices.Sort(slice)
	return ep, slice, nil
}

// waitKubernetesEndpoints waits until the Endpoints and the EndpointSlice
// of the kubernetes Service hold exactly the API addresses of masters.
func waitKubernetesEndpoints(t *testing.T, cl *client.Client, masters ...*harness.Master) {
	t.Helper()
	var want []string
	for _, m := range masters {
		want = append(want, m.APIAddr)
	}
	slices.Sort(want)
	waitFor(t, 30*time.Second, fmt.Sprintf("kubernetes endpoints %v", want), func() (bool, string) {
		ep, slice, err := kubernetesEndpoints(t, cl)
		if err != nil {
			return false, err.Error()
		}
		return slices.Equal(ep, want) && slices.Equal(slice, want), fmt.Sprintf("endpoints %v, slice %v", ep, slice)
	})
}

// podLines are the lines a pod's container logged (none while its log
// cannot be read).
func podLines(t *testing.T, cl *client.Client, pod string) []string {
	t.Helper()
	rc, err := cl.Logs(ctxT(t, 10*time.Second), "default", pod, client.LogOptions{})
	if err != nil {
		return nil
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// waitReaching waits until the in-cluster client of pod has listed the
// pods n times in a row since the log had `after` lines.
func waitReaching(t *testing.T, cl *client.Client, pod string, after, n int) int {
	t.Helper()
	lines := 0
	waitFor(t, 90*time.Second, fmt.Sprintf("%s lists the pods %d times in a row", pod, n), func() (bool, string) {
		all := podLines(t, cl, pod)
		lines = len(all)
		if len(all) < after+n {
			return false, fmt.Sprintf("%d lines", len(all))
		}
		for _, l := range all[len(all)-n:] {
			if !strings.HasPrefix(l, "OK ") {
				return false, l
			}
		}
		return true, ""
	})
	return lines
}

// Done when 6 of issue 16: the kubernetes Service in default has the
// first ClusterIP of the service CIDR and port https 443 to the masters'
// API port; its Endpoints and EndpointSlice hold the masters and follow a
// membership change (a master removed, another added) and a master's
// death; a pod on a node finds the API through
// KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT with client-go's
// in-cluster config throughout.
func TestKubernetesServiceInCluster(t *testing.T) {
	parallel(t)
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network, Spare: 1})
	nd := c.StartNode(network, "node-1", "--heartbeat-interval", "1s", "--resync-interval", "2s")
	cl := c.Client()

	var svc v1.Service
	waitFor(t, 30*time.Second, "the kubernetes service", func() (bool, string) {
		err := cl.Get(ctxT(t, 5*time.Second), "services", "default", "kubernetes", &svc)
		return err == nil, fmt.Sprint(err)
	})
	if svc.Spec.ClusterIP != "10.96.0.1" || len(svc.Spec.Selector) != 0 || svc.Labels["component"] != "apiserver" ||
		svc.Labels["provider"] != "kubernetes" || len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "https" ||
		svc.Spec.Ports[0].Port != 443 || svc.Spec.Ports[0].TargetPort.IntValue() != 6443 {
		t.Fatalf("kubernetes service %+v", svc)
	}
	waitKubernetesEndpoints(t, cl, c.Masters...)

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
	// (the spare too, before it starts) routes the pod CIDR through the node.
	for _, m := range append(append([]*harness.Master(nil), c.Masters...), c.SpareMasters()...) {
		if out, err := harness.ExecIn(m.NetNS, 10*time.Second, "ip", "route", "add", podCIDR, "via", nd.IP); err != nil {
			t.Fatalf("route to the pod CIDR on %s: %v %s", m.Name, err, out)
		}
	}
	loadLspods(t, c)
	ctx := ctxT(t, 30*time.Second)
	if err := cl.Create(ctx, &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "reader", Namespace: "default"}}); err != nil {
		t.Fatalf("create service account reader: %v", err)
	}
	if err := cl.Create(ctx, &v1.RoleBinding{ObjectMeta: v1.ObjectMeta{Name: "reader-view", Namespace: "default"},
		RoleRef:  v1.RoleRef{APIGroup: v1.RBACGroup, Kind: "ClusterRole", Name: rbac.View},
		Subjects: []v1.Subject{{Kind: "ServiceAccount", Name: "reader", Namespace: "default"}}}); err != nil {
		t.Fatalf("bind reader to view: %v", err)
	}
	createPod(t, cl, &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "in-cluster"}, Spec: v1.PodSpec{ServiceAccountName: "reader",
		Containers: []v1.Container{{Name: "c", Image: lspodsImage, ImagePullPolicy: v1.PullNever,
			Command: []string{"sh", "-c", `echo "API $KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT"; exec lspods`}}}}})
	lines := waitReaching(t, cl, "in-cluster", 1, 3)
	if first := podLines(t, cl, "in-cluster")[0]; first != "API 10.96.0.1:443" {
		t.Fatalf("the pod's first line %q, want the kubernetes service's address", first)
	}

	// m3 leaves the cluster and stops: the endpoints drop it, the client
	// keeps reaching the API.
	if out, stderr, err := c.Orchctl("", "cluster", "remove-master", "m3"); err != nil {
		t.Fatalf("remove-master: %v\n%s%s", err, out, stderr)
	}
	c.Stop(2)
	waitKubernetesEndpoints(t, cl, c.Masters[0], c.Masters[1])
	lines = waitReaching(t, cl, "in-cluster", lines, 5)

	// m4 joins: the endpoints gain it.
	i := c.AddMaster()
	m4 := c.Masters[i]
	if out, stderr, err := c.Orchctl("", "cluster", "add-master", m4.Name, m4.RaftAddr); err != nil {
		t.Fatalf("add-master: %v\n%s%s", err, out, stderr)
	}
	waitKubernetesEndpoints(t, cl, c.Masters[0], c.Masters[1], m4)
	lines = waitReaching(t, cl, "in-cluster", lines, 5)

	// m1 dies (still a member): once its API has not answered for the
	// leader's grace, the endpoints drop it, and the client reaches m2 or m4.
	c.Kill(0)
	cl = c.Client(1, i)
	waitKubernetesEndpoints(t, cl, c.Masters[1], m4)
	waitReaching(t, cl, "in-cluster", lines, 5)

	// The service deleted: the leader makes it again, same address.
	if _, err := cl.Delete(ctxT(t, 10*time.Second), "services", "default", "kubernetes", nil); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the kubernetes service made again", func() (bool, string) {
		var again v1.Service
		err := cl.Get(ctxT(t, 5*time.Second), "services", "default", "kubernetes", &again)
		return err == nil && again.UID != svc.UID && again.Spec.ClusterIP == "10.96.0.1", fmt.Sprint(err, again.Spec.ClusterIP)
	})
}

// A Secret of type kubernetes.io/service-account-token naming an account
// gets a token, ca.crt and namespace from the leader; kubectl with that
// token acts as the account; once the Secret is deleted the token is
// refused, and a Secret naming a missing account is deleted.
func TestLegacyServiceAccountTokenSecret(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	k := adminKubectl(t, c)
	k.ok(t, "", "create", "serviceaccount", "robot")
	k.ok(t, "", "create", "rolebinding", "robot-view", "--clusterrole=view", "--serviceaccount=default:robot")
	k.ok(t, `apiVersion: v1
kind: Secret
metadata:
  name: robot-token
  annotations:
    kubernetes.io/service-account.name: robot
type: kubernetes.io/service-account-token
`, "apply", "-f", "-")
	var token string
	waitFor(t, 30*time.Second, "the token secret filled", func() (bool, string) {
		out, err := k.out(t, "get", "secret", "robot-token", "-o", "jsonpath={.data.token}")
		if err != nil || out == "" {
			return false, fmt.Sprint(out, err)
		}
		b, err := base64.StdEncoding.DecodeString(out)
		token = string(b)
		return err == nil && token != "", fmt.Sprint(err)
	})
	ns, _ := k.out(t, "get", "secret", "robot-token", "-o", "jsonpath={.data.namespace}")
	ca, _ := k.out(t, "get", "secret", "robot-token", "-o", "jsonpath={.data.ca\\.crt}")
	wantCA, err := os.ReadFile(filepath.Join(c.PKIDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if ns != base64.StdEncoding.EncodeToString([]byte("default")) || ca != base64.StdEncoding.EncodeToString(wantCA) {
		t.Fatalf("namespace %q, ca.crt %q", ns, ca)
	}
	uid, _ := k.out(t, "get", "secret", "robot-token", "-o", `jsonpath={.metadata.annotations.kubernetes\.io/service-account\.uid}`)
	saUID, _ := k.out(t, "get", "serviceaccount", "robot", "-o", "jsonpath={.metadata.uid}")
	if uid == "" || uid != saUID {
		t.Fatalf("the secret's account uid %q, the account's %q", uid, saUID)
	}

	// The token acts as the account: it may list pods (view), not secrets.
	k.ok(t, "", "--token", token, "get", "pods")
	if _, stderr, code := k.run(t, "", "--token", token, "get", "secrets"); code == 0 ||
		!strings.Contains(stderr, `User "system:serviceaccount:default:robot" cannot list resource "secrets"`) {
		t.Fatalf("listing secrets with the token: exit %d %s", code, stderr)
	}

	// The Secret deleted: the token is refused on every master.
	k.ok(t, "", "delete", "secret", "robot-token")
	waitFor(t, 10*time.Second, "the token refused", func() (bool, string) {
		_, stderr, code := k.run(t, "", "--token", token, "get", "pods")
		return code != 0 && strings.Contains(stderr, "Unauthorized"), stderr
	})
	for i := range c.Masters {
		if code := listWithTokenAt(t, c, i, token); code != 401 {
			t.Fatalf("master %d answers the deleted secret's token with %d, want 401", i, code)
		}
	}

	// A Secret naming a missing account is deleted by the leader.
	k.ok(t, `apiVersion: v1
kind: Secret
metadata:
  name: ghost-token
  annotations:
    kubernetes.io/service-account.name: ghost
type: kubernetes.io/service-account-token
`, "apply", "-f", "-")
	waitFor(t, 30*time.Second, "the ghost's token secret deleted", func() (bool, string) {
		_, stderr, code := k.run(t, "", "get", "secret", "ghost-token")
		return code != 0 && strings.Contains(stderr, "NotFound"), stderr
	})
}

// listWithTokenAt lists the pods of default at master i with a bearer
// token and returns the HTTP code.
func listWithTokenAt(t *testing.T, c *harness.Cluster, i int, token string) int {
	t.Helper()
	cfg := c.Config(i)
	cfg.Token = token
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.CloseIdleConnections()
	_, err = cl.List(ctxT(t, 10*time.Second), "pods", "default", client.ListOptions{Stale: true})
	if err == nil {
		return 200
	}
	if code := v1.CodeOf(err); code != 0 {
		return code
	}
	t.Fatalf("list with a token at %s: %v", c.Masters[i].Name, err)
	return 0
}
