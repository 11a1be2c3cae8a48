package proxy

import (
	"context"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

func TestLocalnetTrace(t *testing.T) {
	rs := BuildRules(RulesInput{ClusterCIDR: clusterCIDR})
	cases := []struct {
		name string
		pkt  packet
		want string
	}{
		{"pod to the node's loopback", packet{src: "10.244.1.5", dst: "127.0.0.1", proto: "tcp", dport: 6443, in: "orch0"}, "DROP"},
		{"pod to anywhere in 127/8", packet{src: "10.244.1.5", dst: "127.9.9.9", proto: "udp", dport: 53, in: "orch0"}, "DROP"},
		{"another host to the node's loopback", packet{src: "192.168.77.2", dst: "127.0.0.1", proto: "tcp", dport: 22, in: "eth0"}, "DROP"},
		{"spoofed loopback source from a pod", packet{src: "127.0.0.2", dst: "127.0.0.1", proto: "udp", dport: 514, in: "orch0"}, "DROP"},
		{"spoofed loopback source to the node IP", packet{src: "127.0.0.2", dst: "192.168.77.1", proto: "udp", dport: 514, in: "eth0"}, "DROP"},
		{"a reply on an established flow (local NodePort)", packet{src: "10.244.1.5", dst: "127.0.0.1", proto: "tcp", in: "orch0", ctstate: "ESTABLISHED"}, "ACCEPT"},
		{"related ICMP", packet{src: "10.244.1.5", dst: "127.0.0.1", proto: "icmp", in: "orch0", ctstate: "RELATED"}, "ACCEPT"},
		{"a DNATed new flow", packet{src: "10.244.1.5", dst: "127.0.0.1", proto: "tcp", in: "orch0", ctstate: "NEW,DNAT"}, "ACCEPT"},
		{"invalid (untracked by the NEW-only jumps) is dropped too", packet{src: "10.244.1.5", dst: "127.0.0.1", proto: "tcp", in: "orch0", ctstate: "INVALID"}, "DROP"},
		{"the node's own loopback traffic", packet{src: "127.0.0.1", dst: "127.0.0.1", proto: "tcp", dport: 6443, in: "lo"}, "ACCEPT"},
		{"the node's own process bound to its IP (as kube-proxy: dropped)", packet{src: "192.168.77.1", dst: "127.0.0.1", proto: "tcp", dport: 6443, in: "lo"}, "DROP"},
		{"pod to the node IP", packet{src: "10.244.1.5", dst: "192.168.77.1", proto: "tcp", dport: 22, in: "orch0"}, "ACCEPT"},
		{"pod to pod", packet{src: "10.244.1.5", dst: "10.244.2.5", proto: "tcp", dport: 80, in: "orch0"}, "ACCEPT"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := trace(t, rs, TableFilter, ChainLocalnet, c.pkt)
			if len(got) != 1 || got[0].verdict != c.want {
				t.Fatalf("got %s, want %s", fmtOutcomes(got), c.want)
			}
		})
	}
	if !slices.Contains(builtinJumps, localnetJump) || localnetJump.table != TableFilter || localnetJump.chain != "INPUT" {
		t.Fatalf("no jump from filter INPUT to %s in %v", ChainLocalnet, builtinJumps)
	}
}

// Endpoints at special addresses (stored before the API refused them) are
// never programmed: 127.0.0.1 would be every node's own loopback.
func TestSpecialEndpointsIgnored(t *testing.T) {
	web := svc("default", "web", "10.96.0.10", svcPort{"http", "TCP", 80, 30080})
	bad := eps("default", "web", []string{"127.0.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "10.244.1.5"}, svcPort{"http", "TCP", 8080, 0})
	rs := BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: []*v1.Service{web}, Endpoints: []*v1.Endpoints{bad}})
	got := trace(t, rs, TableNAT, ChainServices, packet{src: "10.244.7.7", dst: "10.96.0.10", proto: "tcp", dport: 80})
	if want := []outcome{{"DNAT 10.244.1.5:8080", 0, 1}}; !sameOutcomes(got, want) {
		t.Fatalf("got %s, want only the pod", fmtOutcomes(got))
	}
	only := eps("default", "web", []string{"127.0.0.1"}, svcPort{"http", "TCP", 8080, 0})
	rs = BuildRules(RulesInput{ClusterCIDR: clusterCIDR, Services: []*v1.Service{web}, Endpoints: []*v1.Endpoints{only}})
	got = trace(t, rs, TableFilter, ChainFirewall, packet{src: "10.244.7.7", dst: "10.96.0.10", proto: "tcp", dport: 80})
	if len(got) != 1 || got[0].verdict != "REJECT tcp-reset" {
		t.Fatalf("a service whose only endpoint is 127.0.0.1: %s, want it rejected as without endpoints", fmtOutcomes(got))
	}
}

// podNS is a namespace standing in for a pod of node ns: eth0 at
// 10.244.1.5/24 on a veth whose other end, orchl0, holds the gateway
// 10.244.1.1 in the node namespace.
func podNS(t *testing.T, node string) string {
	pod := newNetNS(t)
	nsRun(t, node, "ip", "link", "add", "orchl0", "type", "veth", "peer", "name", "eth0", "netns", filepath.Base(pod))
	nsRun(t, node, "ip", "addr", "add", "10.244.1.1/24", "dev", "orchl0")
	nsRun(t, node, "ip", "link", "set", "orchl0", "up")
	nsRun(t, pod, "ip", "addr", "add", "10.244.1.5/24", "dev", "eth0")
	nsRun(t, pod, "ip", "link", "set", "eth0", "up")
	nsRun(t, pod, "ip", "route", "add", "default", "via", "10.244.1.1")
	return pod
}

// hostileRoute makes pod send what it addresses to 127.0.0.0/8 to its
// gateway, as a pod with NET_ADMIN could: loopback addresses off its lo,
// route_localnet on, a route via the gateway.
func hostileRoute(t *testing.T, pod string) {
	nsRun(t, pod, "ip", "addr", "del", "127.0.0.1/8", "dev", "lo")
	nsRun(t, pod, "sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1")
	nsRun(t, pod, "ip", "route", "add", "127.0.0.0/8", "via", "10.244.1.1")
}

// countAccepts listens on addr in ns and counts the connections it accepts.
func countAccepts(t *testing.T, ns, addr string) (string, *atomic.Int32) {
	var l net.Listener
	if err := InNetNS(ns, func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	var n atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	return l.Addr().String(), &n
}

// udpInbox listens on addr in ns and counts the datagrams it gets.
func udpInbox(t *testing.T, ns, addr string) (string, *atomic.Int32) {
	var pc net.PacketConn
	if err := InNetNS(ns, func() (err error) { pc, err = net.ListenPacket("udp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	var n atomic.Int32
	go func() {
		buf := make([]byte, 64)
		for {
			if _, _, err := pc.ReadFrom(buf); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	return pc.LocalAddr().String(), &n
}

// sendSpoofed sends datagrams to dst from pod with source 127.0.0.2
// (IP_TRANSPARENT: the address is on no interface of the pod).
func sendSpoofed(t *testing.T, pod, dst string) {
	err := InNetNS(pod, func() error {
		lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_IP, syscall.IP_TRANSPARENT, 1) }); err != nil {
				return err
			}
			return serr
		}}
		pc, err := lc.ListenPacket(context.Background(), "udp", "127.0.0.2:0")
		if err != nil {
			return err
		}
		defer pc.Close()
		to, err := net.ResolveUDPAddr("udp", dst)
		if err != nil {
			return err
		}
		for range 3 {
			if _, err := pc.WriteTo([]byte("x"), to); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// waitCount polls n until it reaches want or a deadline passes.
func waitCount(n *atomic.Int32, want int32, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for n.Load() < want && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	return n.Load() >= want
}

// A pod that routes 127.0.0.0/8 to its gateway reaches nothing bound to the
// node's loopback, while a NodePort on 127.0.0.1 still reaches a pod behind
// a real device (which needs route_localnet). Without the guard the same
// pod does reach the node's loopback: the control proves the test can fail.
func TestLocalnetGuard(t *testing.T) { forEachMode(t, testLocalnetGuard) }

func testLocalnetGuard(t *testing.T, mode string) {
	node := newNetNS(t)
	pod := podNS(t, node)
	serveTCP(t, pod, "10.244.1.5:8080")
	ctx := context.Background()
	p := syncedFixture(t, Config{Mode: mode, ClusterCIDR: clusterCIDR, NodeIPs: []net.IP{net.ParseIP("10.244.1.1")}, NetNS: node, Logger: testLogger(t)})
	web := svc("default", "web", "10.96.0.10", svcPort{"http", "TCP", 80, 30080})
	p.Update([]*v1.Service{web}, []*v1.Endpoints{eps("default", "web", []string{"10.244.1.5"}, svcPort{"http", "TCP", 8080, 0})})
	if err := p.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}

	t.Run("NodePort on 127.0.0.1 to a pod behind a veth", func(t *testing.T) {
		if got, err := dialRead(node, "127.0.0.1:30080"); err != nil || got != "10.244.1.5" {
			t.Fatalf("127.0.0.1:30080 answered %q, %v; want the pod", got, err)
		}
	})

	hostileRoute(t, pod)
	tcpAddr, accepted := countAccepts(t, node, "127.0.0.1:0")
	udpAddr, received := udpInbox(t, node, "127.0.0.1:0")
	dialFromPod := func() error {
		return InNetNS(pod, func() error {
			c, err := net.DialTimeout("tcp", tcpAddr, time.Second)
			if err == nil {
				c.Close()
			}
			return err
		})
	}
	blocked := func(t *testing.T) {
		t.Helper()
		if err := dialFromPod(); err == nil {
			t.Fatalf("the pod connected to %s on the node's loopback", tcpAddr)
		}
		sendSpoofed(t, pod, udpAddr)
		if waitCount(received, 1, 300*time.Millisecond) {
			t.Fatalf("a datagram from 127.0.0.2 reached %s on the node's loopback", udpAddr)
		}
		if n := accepted.Load(); n != 0 {
			t.Fatalf("the node's loopback listener accepted %d connections", n)
		}
	}
	t.Run("guarded", blocked)

	t.Run("control: without the guard the pod gets through", func(t *testing.T) {
		if mode == ModeNFTables {
			nsRun(t, node, "nft", "flush", "chain", "ip", NFTTable, "localnet-guard")
		} else {
			args, err := splitSpec(localnetJump.spec)
			if err != nil {
				t.Fatal(err)
			}
			nsRun(t, node, "iptables", append([]string{"-t", localnetJump.table, "-D", localnetJump.chain}, args...)...)
		}
		if err := dialFromPod(); err != nil {
			t.Fatalf("without the guard: %v (the hostile route does not work, so the test proves nothing)", err)
		}
		if !waitCount(accepted, 1, 3*time.Second) {
			t.Fatal("without the guard the listener saw no connection")
		}
		sendSpoofed(t, pod, udpAddr)
		// All three, so none is still on its way when the count is reset.
		if !waitCount(received, 3, 3*time.Second) {
			t.Fatalf("without the guard %d of 3 spoofed datagrams arrived", received.Load())
		}
		accepted.Store(0)
		received.Store(0)
	})

	t.Run("Setup and a sync put the guard back", func(t *testing.T) {
		if err := p.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.SyncNow(ctx); err != nil {
			t.Fatal(err)
		}
		blocked(t)
	})
}

// route_localnet is on exactly for the devices towards NodePort endpoints:
// the pod bridge for a local pod, the uplink for a pod behind another node;
// never for all devices (Setup turns that off, as an earlier release set
// it), and Cleanup turns every one off again.
func TestRouteLocalnetScopedToNodePortEndpoints(t *testing.T) {
	node := newNetNS(t)
	serveTCP(t, podNS(t, node), "10.244.1.5:8080") // behind orchl0
	peer := newNetNS(t)
	nsRun(t, node, "ip", "link", "add", "uplink0", "type", "veth", "peer", "name", "eth0", "netns", filepath.Base(peer))
	nsRun(t, node, "ip", "addr", "add", "192.168.77.1/24", "dev", "uplink0")
	nsRun(t, node, "ip", "link", "set", "uplink0", "up")
	nsRun(t, node, "ip", "link", "add", "spare0", "type", "veth", "peer", "name", "spare1")
	nsRun(t, node, "ip", "link", "set", "spare0", "up")
	nsRun(t, peer, "ip", "addr", "add", "192.168.77.2/24", "dev", "eth0")
	nsRun(t, peer, "ip", "link", "set", "eth0", "up")
	nsRun(t, peer, "ip", "addr", "add", "10.244.2.5/32", "dev", "lo")
	nsRun(t, node, "ip", "route", "add", "10.244.2.0/24", "via", "192.168.77.2")
	serveTCP(t, peer, "10.244.2.5:8080")
	nsRun(t, node, "sysctl", "-qw", "net.ipv4.conf.all.route_localnet=1") // as an earlier release left it

	read := func(dev string) string {
		t.Helper()
		return strings.TrimSpace(nsRun(t, node, "cat", filepath.Join(confDir, dev, "route_localnet")))
	}
	want := func(when string, values map[string]string) {
		t.Helper()
		for dev, v := range values {
			if got := read(dev); got != v {
				t.Fatalf("%s: route_localnet on %s = %s, want %s", when, dev, got, v)
			}
		}
	}
	ctx := context.Background()
	p, err := New(Config{ClusterCIDR: clusterCIDR, NodeIPs: []net.IP{net.ParseIP("192.168.77.1")}, NetNS: node, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	cluster := svc("default", "cluster-only", "10.96.0.9", svcPort{"http", "TCP", 80, 0})
	p.Update([]*v1.Service{cluster}, []*v1.Endpoints{eps("default", "cluster-only", []string{"10.244.1.5", "10.244.2.5"}, svcPort{"http", "TCP", 8080, 0})})
	if err := p.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	want("no NodePort service", map[string]string{"all": "0", "orchl0": "0", "uplink0": "0", "spare0": "0"})

	localSvc := svc("default", "local", "10.96.0.10", svcPort{"http", "TCP", 80, 30081})
	remoteSvc := svc("default", "remote", "10.96.0.11", svcPort{"http", "TCP", 80, 30082})
	p.Update([]*v1.Service{cluster, localSvc, remoteSvc}, []*v1.Endpoints{
		eps("default", "cluster-only", []string{"10.244.1.5", "10.244.2.5"}, svcPort{"http", "TCP", 8080, 0}),
		eps("default", "local", []string{"10.244.1.5"}, svcPort{"http", "TCP", 8080, 0}),
		eps("default", "remote", []string{"10.244.2.5"}, svcPort{"http", "TCP", 8080, 0}),
	})
	if err := p.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	want("NodePorts to a local and a remote pod", map[string]string{"all": "0", "orchl0": "1", "uplink0": "1", "spare0": "0", "lo": "0"})

	// A device re-created (or reset by hand) is set again at the next sync.
	nsRun(t, node, "sysctl", "-qw", "net.ipv4.conf.orchl0.route_localnet=0")
	if err := p.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	want("after a reset of orchl0", map[string]string{"orchl0": "1"})

	for _, c := range []struct{ addr, want string }{{"127.0.0.1:30081", "10.244.1.5"}, {"127.0.0.1:30082", "10.244.2.5"}, {"192.168.77.1:30082", "10.244.2.5"}} {
		if got, err := dialRead(node, c.addr); err != nil || got != c.want {
			t.Fatalf("%s answered %q, %v; want %s", c.addr, got, err, c.want)
		}
	}

	if err := p.Cleanup(ctx); err != nil {
		t.Fatal(err)
	}
	want("after Cleanup", map[string]string{"all": "0", "orchl0": "0", "uplink0": "0", "spare0": "0"})
}

func TestNodePortEndpointIPs(t *testing.T) {
	web := svc("default", "web", "10.96.0.10", svcPort{"http", "TCP", 80, 30080}, svcPort{"dns", "UDP", 53, 0})
	other := svc("default", "other", "10.96.0.11", svcPort{"http", "TCP", 80, 30081})
	cluster := svc("default", "cluster", "10.96.0.12", svcPort{"http", "TCP", 80, 0})
	cases := []struct {
		name string
		in   RulesInput
		want []string
	}{
		{"no services", RulesInput{}, nil},
		{"ClusterIP services only", RulesInput{Services: []*v1.Service{cluster},
			Endpoints: []*v1.Endpoints{eps("default", "cluster", []string{"10.244.1.1"}, svcPort{"http", "TCP", 8080, 0})}}, nil},
		{"NodePort ports only, deduplicated and sorted, special ones left out", RulesInput{
			Services: []*v1.Service{cluster, web, other, nil},
			Endpoints: []*v1.Endpoints{nil,
				eps("default", "cluster", []string{"10.244.1.1"}, svcPort{"http", "TCP", 8080, 0}),
				eps("default", "web", []string{"10.244.2.2", "127.0.0.1"}, svcPort{"http", "TCP", 8080, 0}, svcPort{"dns", "UDP", 5353, 0}),
				eps("default", "other", []string{"10.244.3.3", "10.244.2.2"}, svcPort{"http", "TCP", 8080, 0}),
			}}, []string{"10.244.2.2", "10.244.3.3"}},
		{"a NodePort service without endpoints", RulesInput{Services: []*v1.Service{other}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := nodePortEndpointIPs(c.in); !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}
