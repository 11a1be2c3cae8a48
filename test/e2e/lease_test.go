package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// clientGoFor is a client-go clientset of the admin on one master.
func clientGoFor(t *testing.T, c *harness.Cluster, master int) *kubernetes.Clientset {
	t.Helper()
	cfg := c.Config(master)
	rc := &rest.Config{Host: cfg.Servers[0], BearerToken: cfg.Token,
		TLSClientConfig: rest.TLSClientConfig{CAData: cfg.CertificateAuthorityData}}
	rc.ContentType, rc.AcceptContentTypes = "application/json", "application/json"
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// Two client-go leader electors on one Lease, each through another
// master: exactly one leads at a time, the Lease names it, and when it
// steps down (releasing the lease) the other takes over.
func TestLeaseLeaderElectionWithClientGo(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	type elector struct {
		id      string
		leading atomic.Bool
		cancel  context.CancelFunc
		done    chan struct{}
	}
	start := func(id string, master int) *elector {
		e := &elector{id: id, done: make(chan struct{})}
		lock := &resourcelock.LeaseLock{LeaseMeta: metav1.ObjectMeta{Name: "e2e-lock", Namespace: "default"},
			Client: clientGoFor(t, c, master).CoordinationV1(), LockConfig: resourcelock.ResourceLockConfig{Identity: id}}
		ctx, cancel := context.WithCancel(context.Background())
		e.cancel = cancel
		go func() {
			defer close(e.done)
			leaderelection.RunOrDie(ctx, leaderelection.LeaderElectionConfig{Lock: lock, ReleaseOnCancel: true,
				LeaseDuration: 6 * time.Second, RenewDeadline: 4 * time.Second, RetryPeriod: 500 * time.Millisecond,
				Callbacks: leaderelection.LeaderCallbacks{
					OnStartedLeading: func(context.Context) { e.leading.Store(true) },
					OnStoppedLeading: func() { e.leading.Store(false) },
				}})
		}()
		t.Cleanup(func() { cancel(); <-e.done })
		return e
	}
	a, b := start("elector-a", 0), start("elector-b", 1)
	lease := func() (*v1.Lease, error) {
		var l v1.Lease
		err := cl.Get(ctxT(t, 5*time.Second), "leases", "default", "e2e-lock", &l)
		return &l, err
	}
	var leader, other *elector
	eventually(t, 30*time.Second, "one elector leads and the lease names it", func() error {
		if a.leading.Load() && b.leading.Load() {
			t.Fatal("both electors lead at once")
		}
		switch {
		case a.leading.Load():
			leader, other = a, b
		case b.leading.Load():
			leader, other = b, a
		default:
			return fmt.Errorf("no leader yet")
		}
		l, err := lease()
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != leader.id || l.Spec.RenewTime == nil {
			return fmt.Errorf("lease spec %+v, want held by %s", l.Spec, leader.id)
		}
		return nil
	})
	first, err := lease()
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "the leader renews the lease", func() error {
		l, err := lease()
		if err != nil {
			return err
		}
		if !l.Spec.RenewTime.After(first.Spec.RenewTime.Time) {
			return fmt.Errorf("renewTime still %v", l.Spec.RenewTime)
		}
		if other.leading.Load() {
			t.Fatalf("%s leads while %s holds the lease", other.id, leader.id)
		}
		return nil
	})
	out, err := adminKubectl(t, c).out(t, "get", "leases", "-n", "default")
	if err != nil || !strings.Contains(out, "e2e-lock") {
		t.Fatalf("kubectl get leases: %q, %v", out, err)
	}
	leader.cancel()
	<-leader.done
	eventually(t, 30*time.Second, "the other elector takes over", func() error {
		if !other.leading.Load() {
			return fmt.Errorf("%s does not lead", other.id)
		}
		l, err := lease()
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != other.id || l.Spec.LeaseTransitions == nil || *l.Spec.LeaseTransitions < 1 {
			return fmt.Errorf("lease spec %+v, want held by %s after a transition", l.Spec, other.id)
		}
		return nil
	})
}

// A node agent renews its Lease (kube-node-lease/<node>) and leaves its
// Node alone while nothing changes; kubectl describe node shows the lease;
// once the agent is stopped, the node becomes Ready=Unknown after the grace.
func TestNodeLeaseIsTheHeartbeat(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, []string{"--node-grace", "8s", "--node-eviction-timeout", "1h"})
	cl := c.Client()
	name := nodes[0].Name
	getLease := func() (*v1.Lease, error) {
		var l v1.Lease
		err := cl.Get(ctxT(t, 5*time.Second), "leases", v1.NodeLeaseNamespace, name, &l)
		return &l, err
	}
	var first *v1.Lease
	eventually(t, 20*time.Second, "the node's lease", func() error {
		l, err := getLease()
		if err != nil {
			return err
		}
		if l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != name || l.Spec.LeaseDurationSeconds == nil ||
			*l.Spec.LeaseDurationSeconds != v1.NodeLeaseDurationSeconds || l.Spec.RenewTime == nil {
			return fmt.Errorf("lease spec %+v", l.Spec)
		}
		if len(l.OwnerReferences) != 1 || l.OwnerReferences[0].Kind != "Node" || l.OwnerReferences[0].Name != name {
			return fmt.Errorf("lease owners %+v, want the Node", l.OwnerReferences)
		}
		first = l
		return nil
	})
	// The agent renews every second (--heartbeat-interval 1s). Its first
	// status write at start is behind it after one renewal; its status
	// does not change after that, so three renewals later the Node is as
	// it was.
	last := first.Spec.RenewTime.Time
	renewals := 0
	waitRenewals := func(n int) {
		t.Helper()
		renewals = 0
		eventually(t, 30*time.Second, fmt.Sprintf("%d renewals", n), func() error {
			l, err := getLease()
			if err != nil {
				return err
			}
			if l.Spec.RenewTime.After(last) {
				renewals++
				last = l.Spec.RenewTime.Time
			}
			if renewals < n {
				return fmt.Errorf("%d renewals", renewals)
			}
			return nil
		})
	}
	waitRenewals(1)
	var node v1.Node
	if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", name, &node); err != nil {
		t.Fatal(err)
	}
	waitRenewals(3)
	var after v1.Node
	if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", name, &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != node.ResourceVersion {
		b1, _ := json.Marshal(node)
		b2, _ := json.Marshal(after)
		t.Fatalf("the Node was written at rest (resourceVersion %s → %s): its status should be written only on change\n%s\n%s",
			node.ResourceVersion, after.ResourceVersion, b1, b2)
	}

	out, err := adminKubectl(t, c).out(t, "describe", "node", name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Lease:") || !strings.Contains(out, "HolderIdentity:  "+name) {
		t.Fatalf("kubectl describe node shows no lease held by %s:\n%s", name, out)
	}

	// The node may write its own lease only (Node authorizer and
	// NodeRestriction).
	ncl := c.NodeClient(nodes[0])
	for _, l := range []*v1.Lease{
		{ObjectMeta: v1.ObjectMeta{Name: "node-2", Namespace: v1.NodeLeaseNamespace}},
		{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"}},
	} {
		if err := ncl.Create(ctxT(t, 5*time.Second), l); v1.CodeOf(err) != 403 {
			t.Fatalf("node %s created lease %s/%s: %v, want 403", name, l.Namespace, l.Name, err)
		}
	}
	own, err := getLease()
	if err != nil {
		t.Fatal(err)
	}
	own.Spec.HolderIdentity = &name
	if err := ncl.Update(ctxT(t, 5*time.Second), own); err != nil && !v1.IsConflict(err) {
		t.Fatalf("node %s updating its own lease: %v", name, err)
	}

	nodes[0].Kill()
	killed := time.Now()
	eventually(t, 40*time.Second, "the silent node Ready=Unknown", func() error {
		var n v1.Node
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", name, &n); err != nil {
			return err
		}
		if c := n.Status.Condition(v1.NodeReady); c == nil || c.Status != v1.ConditionUnknown {
			return fmt.Errorf("Ready %+v", c)
		}
		return nil
	})
	if d := time.Since(killed); d < 8*time.Second-time.Second {
		t.Fatalf("the node was marked Unknown %v after its agent stopped, before the 8 s grace", d)
	}
}

// A service's EndpointSlice follows its pods (ready, not ready, gone), and
// kubectl describe svc, which reads the slices, shows the endpoints.
func TestEndpointSliceFollowsPods(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	if err := cl.Create(ctxT(t, 10*time.Second), simulatedNode("node-0", "8")); err != nil {
		t.Fatal(err)
	}
	svc := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "es"},
			Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	if err := cl.Create(ctxT(t, 10*time.Second), svc); err != nil {
		t.Fatal(err)
	}
	if err := cl.Create(ctxT(t, 10*time.Second), rcOf("es", 2)); err != nil {
		t.Fatal(err)
	}
	var pods []v1.Pod
	eventually(t, 20*time.Second, "2 bound pods", func() error {
		var err error
		pods, _, err = client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "app=es"})
		if err != nil {
			return err
		}
		if len(pods) != 2 || pods[0].Spec.NodeName == "" || pods[1].Spec.NodeName == "" {
			return fmt.Errorf("%d pods", len(pods))
		}
		return nil
	})
	sort.Slice(pods, func(i, j int) bool { return pods[i].Name < pods[j].Name })
	// Act as the node agent: an IP and readiness for each pod.
	setStatus := func(name, ip string, ready bool) {
		t.Helper()
		st := v1.ConditionFalse
		if ready {
			st = v1.ConditionTrue
		}
		eventually(t, 10*time.Second, "pod status of "+name, func() error {
			var cur v1.Pod
			if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", name, &cur); err != nil {
				return err
			}
			cur.Status.Phase, cur.Status.PodIP = v1.PodRunning, ip
			cur.Status.Conditions = []v1.PodCondition{{Type: v1.PodReady, Status: st}}
			return cl.UpdateStatus(ctxT(t, 5*time.Second), &cur)
		})
	}
	setStatus(pods[0].Name, "10.244.0.10", true)
	setStatus(pods[1].Name, "10.244.0.11", false)
	// slices returns the service's endpoints as "ip ready" strings.
	slices := func() ([]string, error) {
		list, _, err := client.ListTyped[v1.EndpointSlice](ctxT(t, 5*time.Second), cl, "endpointslices", "default",
			client.ListOptions{LabelSelector: v1.LabelServiceName + "=web"})
		if err != nil {
			return nil, err
		}
		var out []string
		for _, s := range list {
			if s.Labels[v1.LabelManagedBy] != "endpointslice-controller.k8s.io" || s.AddressType != v1.AddressTypeIPv4 {
				return nil, fmt.Errorf("slice %s: labels %v addressType %s", s.Name, s.Labels, s.AddressType)
			}
			if ref := s.ControllerRef(); ref == nil || ref.Kind != "Service" || ref.Name != "web" {
				return nil, fmt.Errorf("slice %s owners %+v", s.Name, s.OwnerReferences)
			}
			for _, e := range s.Endpoints {
				out = append(out, fmt.Sprintf("%s %v", e.Addresses[0], *e.Conditions.Ready))
			}
		}
		sort.Strings(out)
		return out, nil
	}
	want := func(what string, expected ...string) {
		t.Helper()
		eventually(t, 20*time.Second, what, func() error {
			got, err := slices()
			if err != nil {
				return err
			}
			return equalStrings(got, expected)
		})
	}
	want("one ready, one not ready", "10.244.0.10 true", "10.244.0.11 false")
	setStatus(pods[1].Name, "10.244.0.11", true)
	want("both ready", "10.244.0.10 true", "10.244.0.11 true")

	k := adminKubectl(t, c)
	eventually(t, 20*time.Second, "kubectl describe svc shows the endpoints", func() error {
		out, err := k.out(t, "describe", "svc", "web")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "10.244.0.10:8080") || !strings.Contains(out, "10.244.0.11:8080") {
			return fmt.Errorf("describe svc:\n%s", out)
		}
		return nil
	})

	out, err := k.out(t, "get", "endpointslices", "-l", v1.LabelServiceName+"=web")
	if err != nil || !strings.Contains(out, "web-") {
		t.Fatalf("kubectl get endpointslices: %q, %v", out, err)
	}

	if err := cl.Scale(ctxT(t, 10*time.Second), "default", "es", 0); err != nil {
		t.Fatal(err)
	}
	// The pods are bound to a simulated node: confirm their deletion as
	// its agent would.
	eventually(t, 20*time.Second, "pods deleted", func() error {
		list, _, err := client.ListTyped[v1.Pod](ctxT(t, 5*time.Second), cl, "pods", "default", client.ListOptions{LabelSelector: "app=es"})
		if err != nil {
			return err
		}
		for _, p := range list {
			zero := int64(0)
			if _, err := cl.Delete(ctxT(t, 5*time.Second), "pods", "default", p.Name, &v1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !v1.IsNotFound(err) {
				return err
			}
		}
		if len(list) > 0 {
			return fmt.Errorf("%d pods left", len(list))
		}
		return nil
	})
	want("no endpoints")
}
