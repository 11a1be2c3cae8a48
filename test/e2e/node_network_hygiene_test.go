package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// inNetNS runs fn on a goroutine whose locked OS thread has joined the
// network namespace at path (sockets fn opens stay in it). The thread is
// put back, or, if it cannot be, left locked so the runtime discards it.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- fmt.Errorf("current netns: %w", err)
			return
		}
		defer orig.Close()
		target, err := netns.GetFromPath(path)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", path, err)
			return
		}
		defer target.Close()
		if err := netns.Set(target); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("leave netns %s: %w", path, err)
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// loopbackListener is a service of the node bound to 127.0.0.1 in the
// node's network namespace (as the API server's or an agent's loopback-only
// ports are); it counts the connections it accepts.
type loopbackListener struct {
	addr     string
	port     string
	accepted atomic.Int32
}

func listenOnNodeLoopback(t *testing.T, nd *harness.Node) *loopbackListener {
	t.Helper()
	var l net.Listener
	if err := inNetNS("/run/netns/"+nd.NetNS, func() (err error) { l, err = net.Listen("tcp", "127.0.0.1:0"); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	ll := &loopbackListener{addr: l.Addr().String()}
	_, ll.port, _ = net.SplitHostPort(ll.addr)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ll.accepted.Add(1)
			c.Close()
		}
	}()
	return ll
}

// podNetNS returns /proc/<pid>/ns/net of the first container of pod on nd.
func podNetNS(t *testing.T, nd *harness.Node, pod string) string {
	t.Helper()
	var path string
	waitFor(t, 30*time.Second, "the pod's container task", func() (bool, string) {
		tasks, err := nd.Tasks()
		if err != nil {
			return false, err.Error()
		}
		for id, pid := range tasks {
			if strings.HasPrefix(id, pod+"_") && pid > 0 {
				path = fmt.Sprintf("/proc/%d/ns/net", pid)
				return true, ""
			}
		}
		return false, fmt.Sprint(tasks)
	})
	return path
}

// inPod runs a host command (ip, sh) in the pod's network namespace only.
func inPod(t *testing.T, nsPath string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "nsenter", append([]string{"--net=" + nsPath, "--"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("in the pod: %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// dialFrom connects from the network namespace at nsPath.
func dialFrom(nsPath, addr string) error {
	return inNetNS(nsPath, func() error {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			c.Close()
		}
		return err
	})
}

// Done when 4 of issue 12: a pod cannot reach a service bound to the node's
// 127.0.0.1 by any path the test can build, endpoints and pod IPs on
// loopback are refused, and a node cannot move its pod CIDR or take
// another's.
func TestNodeNetworkHygiene(t *testing.T) {
	parallel(t)
	c, nodes := nodeCluster(t, 1, false, nil)
	nd := nodes[0]
	cl := c.Client()
	pod := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "hostile", Namespace: "default", Labels: map[string]string{"app": "hostile"}},
		Spec: v1.PodSpec{TerminationGracePeriodSeconds: int64p(1),
			Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sh", "-c", httpdCommand}}}}}
	createPod(t, cl, pod)
	var podIP string
	waitFor(t, 60*time.Second, "the pod running", func() (bool, string) {
		ps := runningPods(t, cl, "app=hostile")
		if len(ps) != 1 {
			return false, "not running"
		}
		podIP = ps[0].Status.PodIP
		return true, ""
	})
	var node v1.Node
	if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", nd.Name, &node); err != nil {
		t.Fatal(err)
	}
	_, podCIDR, err := net.ParseCIDR(node.Spec.PodCIDR)
	if err != nil {
		t.Fatalf("node pod CIDR %q: %v", node.Spec.PodCIDR, err)
	}
	gateway := net.IP(append([]byte(nil), podCIDR.IP.To4()...))
	gateway[3]++
	host := listenOnNodeLoopback(t, nd)
	podNS := podNetNS(t, nd, "hostile")
	routeLocalnet := func(t *testing.T, dev string) string {
		t.Helper()
		out, err := nd.Exec(5*time.Second, "cat", "/proc/sys/net/ipv4/conf/"+dev+"/route_localnet")
		if err != nil {
			t.Fatalf("read route_localnet of %s: %v: %s", dev, err, out)
		}
		return strings.TrimSpace(out)
	}

	// A NodePort service backed by the pod: NodePorts answer on the node's
	// 127.0.0.1 too, which needs route_localnet on the bridge towards the
	// pod, the very setting that would let the pod's packets for
	// 127.0.0.0/8 in.
	t.Run("route_localnet only towards NodePort endpoints, and NodePorts on 127.0.0.1 work", func(t *testing.T) {
		for _, dev := range []string{"all", "orch0", "eth0"} {
			if v := routeLocalnet(t, dev); v != "0" {
				t.Fatalf("without NodePort services route_localnet on %s = %s, want 0", dev, v)
			}
		}
		np := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "np", Namespace: "default"},
			Spec: v1.ServiceSpec{Type: v1.ServiceTypeNodePort, Selector: map[string]string{"app": "hostile"},
				Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
		if err := cl.Create(ctxT(t, 5*time.Second), np); err != nil {
			t.Fatal(err)
		}
		if err := cl.Get(ctxT(t, 5*time.Second), "services", "default", "np", np); err != nil {
			t.Fatal(err)
		}
		nodePort := np.Spec.Ports[0].NodePort
		waitFor(t, 30*time.Second, "the NodePort answering on the node's 127.0.0.1", func() (bool, string) {
			out, err := httpGet(nd, fmt.Sprintf("http://127.0.0.1:%d/", nodePort))
			return err == nil && strings.TrimSpace(out) == "hostile", fmt.Sprintf("%q %v", out, err)
		})
		if v, all := routeLocalnet(t, "orch0"), routeLocalnet(t, "all"); v != "1" || all != "0" {
			t.Fatalf("route_localnet on orch0 = %s and on all = %s, want 1 and 0", v, all)
		}
	})

	t.Run("endpoints naming the node's loopback are refused", func(t *testing.T) {
		svc := &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "loopback", Namespace: "default"},
			Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{Name: "p", Port: 80, TargetPort: intstr.FromInt32(8080)}}}}
		if err := cl.Create(ctxT(t, 5*time.Second), svc); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct{ ip, says string }{
			{"127.0.0.1", "may not be in the loopback range (127.0.0.0/8, ::1/128)"},
			{"169.254.169.254", "may not be in the link-local range (169.254.0.0/16, fe80::/10)"},
			{"0.0.0.0", "may not be unspecified (0.0.0.0)"},
			{"224.0.0.1", "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"},
		} {
			ep := &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Name: "loopback", Namespace: "default"},
				Subsets: []v1.EndpointSubset{{Addresses: []v1.EndpointAddress{{IP: c.ip}},
					Ports: []v1.EndpointPort{{Name: "p", Port: mustAtoi32(t, host.port)}}}}}
			checkStatus(t, cl.Create(ctxT(t, 5*time.Second), ep), want{http.StatusUnprocessableEntity, v1.ReasonInvalid, c.says})
		}
		var got v1.Endpoints
		if err := cl.Get(ctxT(t, 5*time.Second), "endpoints", "default", "loopback", &got); !v1.IsNotFound(err) {
			t.Fatalf("refused endpoints stored: %v %+v", err, got)
		}
	})

	t.Run("a pod IP on the node's loopback is refused", func(t *testing.T) {
		p := getPod(t, cl, "hostile")
		p.Status.PodIP, p.Status.PodIPs = "127.0.0.1", []v1.PodIP{{IP: "127.0.0.1"}}
		checkStatus(t, cl.UpdateStatus(ctxT(t, 5*time.Second), p), want{http.StatusUnprocessableEntity, v1.ReasonInvalid,
			"status.podIP: Invalid value: \"127.0.0.1\": may not be in the loopback range"})
		if got := getPod(t, cl, "hostile").Status.PodIP; got != podIP {
			t.Fatalf("pod IP now %q, was %q", got, podIP)
		}
	})

	t.Run("the node IP and the pod gateway do not lead to it", func(t *testing.T) {
		for _, ip := range []string{nd.IP, gateway.String()} {
			if err := dialFrom(podNS, net.JoinHostPort(ip, host.port)); err == nil {
				t.Fatalf("the pod connected to %s:%s", ip, host.port)
			}
		}
		if n := host.accepted.Load(); n != 0 {
			t.Fatalf("the loopback service accepted %d connections", n)
		}
	})

	// The pod acts as one with NET_ADMIN and NET_RAW could: it takes the
	// loopback addresses off its lo, turns on route_localnet and routes
	// 127.0.0.0/8 to its gateway, the node's bridge.
	inPod(t, podNS, "ip", "addr", "del", "127.0.0.1/8", "dev", "lo")
	inPod(t, podNS, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/conf/all/route_localnet")
	inPod(t, podNS, "ip", "route", "add", "127.0.0.0/8", "via", gateway.String())

	t.Run("a crafted route from the pod does not reach it", func(t *testing.T) {
		if err := dialFrom(podNS, host.addr); err == nil {
			t.Fatalf("the pod connected to the node's %s", host.addr)
		}
		if n := host.accepted.Load(); n != 0 {
			t.Fatalf("the loopback service accepted %d connections", n)
		}
	})

	// Without the localnet guard the same route gets through: the node
	// needs route_localnet for NodePorts on 127.0.0.1. This shows the test
	// above would fail without it.
	guard := []string{"iptables", "-t", "filter", "%s", "INPUT", "-m", "comment", "--comment", "orch localnet guard", "-j", "ORCH-LOCALNET"}
	iptables := func(op string) error {
		args := append([]string(nil), guard...)
		args[3] = op
		out, err := nd.Exec(10*time.Second, args...)
		if err != nil {
			return fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	t.Run("control: without the guard the crafted route reaches it", func(t *testing.T) {
		if err := iptables("-D"); err != nil {
			t.Fatal(err)
		}
		restored := false
		defer func() {
			if !restored {
				if err := iptables("-I"); err != nil {
					t.Error(err)
				}
			}
		}()
		if err := dialFrom(podNS, host.addr); err != nil {
			t.Fatalf("without the guard: %v (the crafted route does not work, so the test above proves nothing)", err)
		}
		waitFor(t, 5*time.Second, "the loopback service to see the connection", func() (bool, string) {
			return host.accepted.Load() == 1, fmt.Sprint(host.accepted.Load())
		})
		if err := iptables("-I"); err != nil {
			t.Fatal(err)
		}
		restored = true
		host.accepted.Store(0)
		if err := dialFrom(podNS, host.addr); err == nil || host.accepted.Load() != 0 {
			t.Fatalf("with the guard back the pod connected (%v, %d accepted)", err, host.accepted.Load())
		}
	})

	t.Run("a node update that moves its pod CIDR is refused", func(t *testing.T) {
		var n v1.Node
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", nd.Name, &n); err != nil {
			t.Fatal(err)
		}
		n.Spec.PodCIDR, n.Spec.PodCIDRs = "10.244.200.0/24", []string{"10.244.200.0/24"}
		checkStatus(t, cl.Update(ctxT(t, 5*time.Second), &n), want{http.StatusUnprocessableEntity, v1.ReasonInvalid,
			`node updates may not change podCIDR except from "" to valid`})
	})

	t.Run("a node may not take another node's pod CIDR or one outside the cluster CIDR", func(t *testing.T) {
		for _, c := range []struct{ cidr, says string }{
			{node.Spec.PodCIDR, fmt.Sprintf("overlaps the pod CIDR %s of node %s", node.Spec.PodCIDR, nd.Name)},
			{podCIDR.IP.String() + "/16", "overlaps the pod CIDR"},
			{"10.96.0.0/24", "must be inside the cluster CIDR 10.244.0.0/16"},
			{"127.0.0.0/24", "must be inside the cluster CIDR"},
		} {
			n := simulatedNode("intruder", "4")
			n.Spec.PodCIDR = c.cidr
			checkStatus(t, cl.Create(ctxT(t, 5*time.Second), n), want{http.StatusUnprocessableEntity, v1.ReasonInvalid, c.says})
		}
		// A free subnet inside the cluster CIDR is fine; moving it is not.
		n := simulatedNode("intruder", "4")
		n.Spec.PodCIDR = "10.244.201.0/24"
		if err := cl.Create(ctxT(t, 5*time.Second), n); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _, _ = cl.Delete(ctxT(t, 5*time.Second), "nodes", "", "intruder", nil) })
		var got v1.Node
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", "intruder", &got); err != nil {
			t.Fatal(err)
		}
		got.Spec.PodCIDR, got.Spec.PodCIDRs = node.Spec.PodCIDR, []string{node.Spec.PodCIDR}
		checkStatus(t, cl.Update(ctxT(t, 5*time.Second), &got), want{http.StatusUnprocessableEntity, v1.ReasonInvalid,
			`node updates may not change podCIDR except from "" to valid`})
	})
}

func mustAtoi32(t *testing.T, s string) int32 {
	t.Helper()
	var n int32
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("port %q: %v", s, err)
	}
	return n
}
