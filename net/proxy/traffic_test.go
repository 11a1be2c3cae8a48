package proxy

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v1 "orch.io/orch/api/v1"
)

// trafficNS is a throwaway namespace standing in for a node: "pods" are
// extra addresses on lo with listeners, 192.168.77.1 on one end of a veth
// pair (both ends in the namespace; the kernel has no dummy driver) is the
// node IP, and the service CIDR is routed to that device, so a packet the
// rules do not handle leaves and is lost, as on a real node.
func trafficNS(t *testing.T, backends []string) string {
	ns := newNetNS(t)
	for _, ip := range backends {
		nsRun(t, ns, "ip", "addr", "add", ip+"/32", "dev", "lo")
	}
	nsRun(t, ns, "ip", "link", "add", "orchv0", "type", "veth", "peer", "name", "orchv1")
	nsRun(t, ns, "ip", "addr", "add", "192.168.77.1/24", "dev", "orchv0")
	nsRun(t, ns, "ip", "link", "set", "orchv0", "up")
	nsRun(t, ns, "ip", "link", "set", "orchv1", "up")
	nsRun(t, ns, "ip", "route", "add", "10.96.0.0/16", "dev", "orchv0")
	for _, ip := range backends {
		serveTCP(t, ns, ip+":8080")
		serveUDP(t, ns, ip+":5353")
	}
	return ns
}

// serveTCP answers every connection with the listener's IP.
func serveTCP(t *testing.T, ns, addr string) {
	var l net.Listener
	if err := InNetNS(ns, func() (err error) { l, err = net.Listen("tcp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	host, _, _ := net.SplitHostPort(addr)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(host))
			c.Close()
		}
	}()
}

// serveUDP answers every datagram with the listener's IP.
func serveUDP(t *testing.T, ns, addr string) {
	var pc net.PacketConn
	if err := InNetNS(ns, func() (err error) { pc, err = net.ListenPacket("udp", addr); return err }); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	host, _, _ := net.SplitHostPort(addr)
	go func() {
		buf := make([]byte, 64)
		for {
			_, from, err := pc.ReadFrom(buf)
			if err != nil {
				return
			}
			pc.WriteTo([]byte(host), from)
		}
	}()
}

// dialRead connects from inside ns and returns what the server says.
func dialRead(ns, addr string) (string, error) {
	var c net.Conn
	err := InNetNS(ns, func() (err error) {
		c, err = net.DialTimeout("tcp", addr, 3*time.Second)
		return err
	})
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err
}

// syncedFixture returns a proxier set up in cfg.NetNS with the fixture's
// services and endpoints synced.
func syncedFixture(t *testing.T, cfg Config) *Proxier {
	t.Helper()
	ctx := context.Background()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	services, endpoints := fixture()
	p.Update(services, endpoints)
	if err := p.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestTraffic(t *testing.T) { forEachMode(t, testTraffic) }

func testTraffic(t *testing.T, mode string) {
	backends := []string{"10.244.1.10", "10.244.1.11"}
	ns := trafficNS(t, backends)
	syncedFixture(t, Config{Mode: mode, ClusterCIDR: clusterCIDR, NodeIPs: []net.IP{net.ParseIP("192.168.77.1")}, NetNS: ns, Logger: testLogger(t)})

	for _, c := range []struct{ name, addr string }{
		{"ClusterIP via DNAT in OUTPUT", "10.96.0.10:80"},
		{"NodePort on the node IP", "192.168.77.1:30080"},
		{"NodePort on 127.0.0.1 (route_localnet)", "127.0.0.1:30080"},
	} {
		t.Run(c.name, func(t *testing.T) {
			seen := map[string]int{}
			for i := 0; i < 40; i++ {
				got, err := dialRead(ns, c.addr)
				if err != nil {
					t.Fatalf("connect %s: %v", c.addr, err)
				}
				seen[got]++
			}
			if len(seen) != 2 || seen[backends[0]] == 0 || seen[backends[1]] == 0 {
				t.Fatalf("40 connections to %s reached %v, want both backends", c.addr, seen)
			}
		})
	}

	for _, addr := range []string{"10.96.0.12:80", "127.0.0.1:30099"} {
		t.Run("no endpoints refuses at once "+addr, func(t *testing.T) {
			start := time.Now()
			_, err := dialRead(ns, addr)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Fatalf("connect %s: %v, want ECONNREFUSED", addr, err)
			}
			if took := time.Since(start); took > time.Second {
				t.Fatalf("refusal took %v", took)
			}
		})
	}
}

func TestUDPConntrackCleared(t *testing.T) { forEachMode(t, testUDPConntrackCleared) }

func testUDPConntrackCleared(t *testing.T, mode string) {
	backends := []string{"10.244.1.10", "10.244.1.11"}
	ns := trafficNS(t, backends)
	p := syncedFixture(t, Config{Mode: mode, ClusterCIDR: clusterCIDR, NetNS: ns, Logger: testLogger(t)})
	services, endpoints := fixture()
	ctx := context.Background()

	var conn net.Conn
	if err := InNetNS(ns, func() (err error) { conn, err = net.Dial("udp", "10.96.0.10:53"); return err }); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ask := func() string {
		t.Helper()
		if _, err := conn.Write([]byte("?")); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(3 * time.Second))
		b := make([]byte, 64)
		n, err := conn.Read(b)
		if err != nil {
			t.Fatalf("UDP reply: %v", err)
		}
		return string(b[:n])
	}
	first := ask()
	if ask() != first {
		t.Fatal("one UDP flow reached two backends")
	}
	if n := flowsTo(t, ns, "10.96.0.10", first); n != 1 {
		t.Fatalf("%d conntrack entries for 10.96.0.10 -> %s, want 1", n, first)
	}

	// Remove the backend the flow uses (it keeps listening: only the stale
	// conntrack entry could still send traffic to it).
	var keep []string
	for _, ip := range backends {
		if ip != first {
			keep = append(keep, ip)
		}
	}
	endpoints2 := slices.Clone(endpoints)
	endpoints2[0] = eps("default", "web", keep, svcPort{"http", "TCP", 8080, 0}, svcPort{"dns", "UDP", 5353, 0})
	p.Update(services, endpoints2)
	if err := p.SyncNow(ctx); err != nil {
		t.Fatal(err)
	}
	if st := p.Stats(); st.ConntrackDeleted != 1 {
		t.Fatalf("sync deleted %d conntrack entries, want 1", st.ConntrackDeleted)
	}
	if n := flowsTo(t, ns, "10.96.0.10", first); n != 0 {
		t.Fatalf("%d stale conntrack entries remain", n)
	}
	if got := ask(); got != keep[0] {
		t.Fatalf("after removing %s the flow reached %s, want %s", first, got, keep[0])
	}
}

// flowsTo counts UDP conntrack entries in ns from clients to dst whose
// replies come from backend.
func flowsTo(t *testing.T, ns, dst, backend string) int {
	t.Helper()
	h, err := conntrackHandle(ns)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	flows, err := h.ConntrackTableList(netlink.ConntrackTable, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range flows {
		if f.Forward.Protocol == unix.IPPROTO_UDP && f.Forward.DstIP.String() == dst && f.Reverse.SrcIP.String() == backend {
			n++
		}
	}
	return n
}

func TestStaleUDPFlows(t *testing.T) {
	dns := svc("kube", "dns", "10.96.0.53", svcPort{"dns", "UDP", 53, 30053}, svcPort{"tcp", "TCP", 53, 0})
	both := eps("kube", "dns", []string{"10.244.1.1", "10.244.1.2"}, svcPort{"dns", "UDP", 5353, 0}, svcPort{"tcp", "TCP", 53, 0})
	one := eps("kube", "dns", []string{"10.244.1.1"}, svcPort{"dns", "UDP", 5353, 0}, svcPort{"tcp", "TCP", 53, 0})
	build := func(s []*v1.Service, e ...*v1.Endpoints) *Ruleset {
		return BuildRules(RulesInput{Services: s, Endpoints: e})
	}
	cases := []struct {
		name       string
		prev, next *Ruleset
		want       []StaleFlow
	}{
		{"no previous state", nil, build([]*v1.Service{dns}, both), nil},
		{"nothing removed", build([]*v1.Service{dns}, both), build([]*v1.Service{dns}, both), nil},
		{"backend added", build([]*v1.Service{dns}, one), build([]*v1.Service{dns}, both), nil},
		{"one UDP backend removed: ClusterIP and NodePort flows", build([]*v1.Service{dns}, both), build([]*v1.Service{dns}, one),
			[]StaleFlow{{"", 30053, "10.244.1.2"}, {"10.96.0.53", 53, "10.244.1.2"}}},
		{"service deleted", build([]*v1.Service{dns}, one), build(nil),
			[]StaleFlow{{"", 30053, "10.244.1.1"}, {"10.96.0.53", 53, "10.244.1.1"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := StaleUDPFlows(c.prev, c.next); !slices.Equal(got, c.want) {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
}
