package e2e

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/intstr"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/proxy"
	"orch.io/orch/pki"
	"orch.io/orch/test/harness"
	"orch.io/orch/test/hollow"
)

// testLogWriter sends log lines to t.Log.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}

// TestHollowNodes runs 50 hollow nodes (the real node agent, each with its
// own certificate and connections, a hollow runtime, network and proxy)
// against three masters: an RC's pods run on them with addresses of their
// nodes' pod CIDRs, the service's Endpoints list them and every node's
// proxy renders them; deleting the RC stops and removes them everywhere.
func TestHollowNodes(t *testing.T) {
	const nodes, replicas = 50, 150
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	ca, err := pki.LoadClusterCA(c.PKIDir)
	if err != nil {
		t.Fatal(err)
	}
	var servers []string
	for _, m := range c.Masters {
		servers = append(servers, m.URL())
	}
	_, clusterCIDR, _ := net.ParseCIDR("10.244.0.0/16")
	names := make([]string, nodes)
	for i := range names {
		names[i] = fmt.Sprintf("hollow-%03d", i)
	}
	log := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	pool, err := hollow.Start(ctxT(t, time.Minute), hollow.Config{Servers: servers, CA: ca, StateDir: t.TempDir(),
		ClusterCIDR: clusterCIDR, HeartbeatInterval: 5 * time.Second, Logger: log}, names)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pool.Stop(); err != nil {
			t.Errorf("hollow nodes: %v", err)
		}
	})

	// Every node registered itself Ready with a pod CIDR and holds its Lease.
	podCIDR := map[string]*net.IPNet{}
	eventually(t, 2*time.Minute, "every hollow node Ready with a pod CIDR and a Lease", func() error {
		if err := pool.Err(); err != nil {
			t.Fatal(err)
		}
		list, _, err := client.ListTyped[v1.Node](ctxT(t, 10*time.Second), cl, "nodes", "", client.ListOptions{})
		if err != nil {
			return err
		}
		ready := 0
		for _, n := range list {
			nd := pool.Node(n.Name)
			if nd == nil {
				continue
			}
			if r := n.Status.Condition(v1.NodeReady); r == nil || r.Status != v1.ConditionTrue || n.Spec.PodCIDR == "" {
				return fmt.Errorf("node %s not Ready with a pod CIDR: %+v", n.Name, n.Status.Conditions)
			}
			_, cidr, err := net.ParseCIDR(n.Spec.PodCIDR)
			if err != nil {
				return err
			}
			if nw := nd.Network(); nw == nil || nw.CIDR().String() != cidr.String() {
				return fmt.Errorf("node %s: its network is not %s", n.Name, cidr)
			}
			if n.Status.NodeInfo.ContainerRuntimeVersion != "hollow://0.0.0" {
				return fmt.Errorf("node %s: runtime %q", n.Name, n.Status.NodeInfo.ContainerRuntimeVersion)
			}
			podCIDR[n.Name] = cidr
			ready++
		}
		if ready != nodes {
			return fmt.Errorf("%d of %d hollow nodes Ready", ready, nodes)
		}
		leases, _, err := client.ListTyped[v1.Lease](ctxT(t, 10*time.Second), cl, "leases", v1.NodeLeaseNamespace, client.ListOptions{})
		if err != nil {
			return err
		}
		held := 0
		for _, l := range leases {
			if pool.Node(l.Name) != nil && l.Spec.HolderIdentity != nil && *l.Spec.HolderIdentity == l.Name {
				held++
			}
		}
		if held != nodes {
			return fmt.Errorf("%d of %d node Leases held", held, nodes)
		}
		return nil
	})

	svc := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "hollow-web", Namespace: "default"},
		Spec: v1.ServiceSpec{Selector: map[string]string{"app": "hollow-web"},
			Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}}}}
	if err := cl.Create(ctxT(t, 10*time.Second), svc); err != nil {
		t.Fatal(err)
	}
	n := int32(replicas)
	rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "hollow-web", Namespace: "default"},
		Spec: v1.ReplicationControllerSpec{Replicas: &n, Selector: map[string]string{"app": "hollow-web"},
			Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "hollow-web"}},
				Spec: v1.PodSpec{Containers: []v1.Container{{Name: "web", Image: "busybox:1.36",
					Command: []string{"httpd", "-f", "-p", "8080"}, Ports: []v1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}}}}}
	if err := cl.Create(ctxT(t, 10*time.Second), rc); err != nil {
		t.Fatal(err)
	}

	// Every pod runs on a hollow node, Ready, with an address of its node's
	// pod CIDR that no other pod has, and the Endpoints list exactly those.
	var podIPs map[string]string // IP → pod
	eventually(t, 3*time.Minute, "every pod Running and Ready on a hollow node, in the Endpoints", func() error {
		if err := pool.Err(); err != nil {
			t.Fatal(err)
		}
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 10*time.Second), cl, "pods", "default",
			client.ListOptions{LabelSelector: "app=hollow-web"})
		if err != nil {
			return err
		}
		if len(pods) != replicas {
			return fmt.Errorf("%d pods, want %d", len(pods), replicas)
		}
		podIPs = map[string]string{}
		for _, p := range pods {
			cidr := podCIDR[p.Spec.NodeName]
			ip := net.ParseIP(p.Status.PodIP)
			switch {
			case cidr == nil:
				return fmt.Errorf("pod %s on %q, not a hollow node", p.Name, p.Spec.NodeName)
			case p.Status.Phase != v1.PodRunning || !p.IsReady():
				return fmt.Errorf("pod %s: %s, ready %v", p.Name, p.Status.Phase, p.IsReady())
			case ip == nil || !cidr.Contains(ip) || ip.Equal(pool.Node(p.Spec.NodeName).Network().Gateway()):
				return fmt.Errorf("pod %s on %s: IP %q is not a pod address of %s", p.Name, p.Spec.NodeName, p.Status.PodIP, cidr)
			case p.Status.HostIP != pool.Node(p.Spec.NodeName).IP:
				return fmt.Errorf("pod %s: hostIP %s, want %s", p.Name, p.Status.HostIP, pool.Node(p.Spec.NodeName).IP)
			case podIPs[p.Status.PodIP] != "":
				return fmt.Errorf("pods %s and %s share %s", p.Name, podIPs[p.Status.PodIP], p.Status.PodIP)
			}
			podIPs[p.Status.PodIP] = p.Name
		}
		var eps v1.Endpoints
		if err := cl.Get(ctxT(t, 10*time.Second), "endpoints", "default", "hollow-web", &eps); err != nil {
			return err
		}
		listed := 0
		for _, s := range eps.Subsets {
			for _, a := range s.Addresses {
				if podIPs[a.IP] == "" {
					return fmt.Errorf("endpoint %s is no pod of the rc", a.IP)
				}
				listed++
			}
		}
		if listed != replicas {
			return fmt.Errorf("%d ready endpoints, want %d", listed, replicas)
		}
		return nil
	})
	// A pod's log comes from its hollow node's endpoint, as from a real one.
	for _, name := range podIPs {
		rc, err := cl.Logs(ctxT(t, 30*time.Second), "default", name, client.LogOptions{})
		if err != nil {
			t.Fatalf("logs of %s: %v", name, err)
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || string(b) != "hollow container web of default/"+name+" started\n" {
			t.Fatalf("logs of %s: %q %v", name, b, err)
		}
		break
	}
	running := 0
	for _, nd := range pool.Nodes {
		running += nd.Runtime.Running()
	}
	if running != replicas {
		t.Errorf("%d hollow containers running, want %d", running, replicas)
	}

	// Every node's proxy rendered the service with all its endpoints.
	eventually(t, time.Minute, "every hollow node's proxy rendering the service's endpoints", func() error {
		for _, nd := range pool.Nodes {
			rs := nd.Proxy.Ruleset()
			if rs == nil || !rs.HasChain("nat", proxy.SVCChainName("default", "hollow-web", "http", "TCP")) {
				return fmt.Errorf("node %s: no chain of the service", nd.Name)
			}
			for ip := range podIPs {
				if !rs.HasChain("nat", proxy.SEPChainName("default", "hollow-web", "http", "TCP", ip, 8080)) {
					return fmt.Errorf("node %s: no chain of endpoint %s", nd.Name, ip)
				}
			}
		}
		return nil
	})

	if _, err := cl.Delete(ctxT(t, 10*time.Second), "replicationcontrollers", "default", "hollow-web",
		&v1.DeleteOptions{PropagationPolicy: v1.PropagationBackground}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Minute, "the rc's pods gone, their containers and addresses with them", func() error {
		pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 10*time.Second), cl, "pods", "default",
			client.ListOptions{LabelSelector: "app=hollow-web"})
		if err != nil {
			return err
		}
		if len(pods) != 0 {
			return fmt.Errorf("%d pods left", len(pods))
		}
		for _, nd := range pool.Nodes {
			if r := nd.Runtime.Running(); r != 0 {
				return fmt.Errorf("node %s: %d containers running", nd.Name, r)
			}
			if cs, _ := nd.Runtime.ListContainers(context.Background()); len(cs) != 0 {
				return fmt.Errorf("node %s: %d containers left", nd.Name, len(cs))
			}
			if sbs, _ := nd.Network().Sandboxes(); len(sbs) != 0 {
				return fmt.Errorf("node %s: %d sandboxes left", nd.Name, len(sbs))
			}
		}
		var eps v1.Endpoints
		if err := cl.Get(ctxT(t, 10*time.Second), "endpoints", "default", "hollow-web", &eps); err != nil {
			return err
		}
		if len(eps.Subsets) != 0 {
			return fmt.Errorf("endpoints still list %v", eps.Subsets)
		}
		return nil
	})
	if err := pool.Err(); err != nil {
		t.Fatal(err)
	}
}
