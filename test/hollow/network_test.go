package hollow

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"testing"

	"orch.io/orch/net/podnet"
)

func mustCIDR(t *testing.T, s string) *net.IPNet {
	t.Helper()
	_, c, err := net.ParseCIDR(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewNetwork(t *testing.T) {
	tests := []struct {
		cidr, gateway string
		ok            bool
	}{
		{"10.244.3.0/24", "10.244.3.1", true},
		{"10.244.3.7/24", "10.244.3.1", true},
		{"10.0.0.0/30", "10.0.0.1", true},
		{"10.0.0.0/31", "", false},
		{"fd00::/64", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.cidr, func(t *testing.T) {
			n, err := NewNetwork(mustCIDR(t, tt.cidr))
			if (err == nil) != tt.ok {
				t.Fatalf("err %v, want ok %v", err, tt.ok)
			}
			if tt.ok && n.Gateway().String() != tt.gateway {
				t.Fatalf("gateway %s, want %s", n.Gateway(), tt.gateway)
			}
		})
	}
	if _, err := NewNetwork(nil); err == nil {
		t.Error("a network without a CIDR")
	}
}

func TestNetworkSandboxes(t *testing.T) {
	ctx := context.Background()
	n, err := NewNetwork(mustCIDR(t, "10.244.3.0/29")) // .2 to .6: five pods
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, uid := range []string{"a", "b", "c", "d", "e"} {
		sb, err := n.CreateSandbox(ctx, uid, uid)
		if err != nil {
			t.Fatal(err)
		}
		if sb.PodUID != uid || sb.PrefixLen != 29 || !sb.Gateway.Equal(net.ParseIP("10.244.3.1")) || sb.NetNS != "" {
			t.Fatalf("sandbox %+v", sb)
		}
		got = append(got, sb.IP.String())
	}
	want := []string{"10.244.3.2", "10.244.3.3", "10.244.3.4", "10.244.3.5", "10.244.3.6"}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("addresses %v, want %v", got, want)
		}
	}
	if _, err := n.CreateSandbox(ctx, "f", "f"); err == nil {
		t.Fatal("a sixth pod got an address of a /29")
	}
	if _, err := n.CreateSandbox(ctx, "a", "a"); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second sandbox of a: %v, want fs.ErrExist", err)
	}
	// A freed address is the lowest free one again.
	for i := 0; i < 2; i++ {
		if err := n.DeleteSandbox(ctx, "b"); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := n.Sandbox("b"); ok {
		t.Fatal("b still has a sandbox")
	}
	sb, err := n.CreateSandbox(ctx, "f", "f")
	if err != nil || sb.IP.String() != "10.244.3.3" {
		t.Fatalf("f: %v %v, want 10.244.3.3", sb, err)
	}
	// A caller's copy does not change the network's.
	sb.IP[3] = 99
	if s, _ := n.Sandbox("f"); s.IP.String() != "10.244.3.3" {
		t.Fatalf("sandbox changed through a copy: %s", s.IP)
	}
	host, err := n.HostNetworkSandbox(ctx, "h", net.ParseIP("127.77.0.1"))
	if err != nil || host.IP.String() != "127.77.0.1" {
		t.Fatalf("host sandbox %v %v", host, err)
	}
	uids, err := n.Sandboxes()
	if err != nil || len(uids) != 6 || uids[0] != "a" || uids[5] != "h" {
		t.Fatalf("sandboxes %v %v", uids, err)
	}
	if err := n.DeleteSandbox(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	if _, err := n.CreateSandbox(ctx, "g", "g"); err == nil {
		t.Fatal("deleting a host network sandbox freed a pod address")
	}
}

func TestNetworkRoutes(t *testing.T) {
	n, err := NewNetwork(mustCIDR(t, "10.244.0.0/24"))
	if err != nil {
		t.Fatal(err)
	}
	routes := []podnet.Route{{CIDR: mustCIDR(t, "10.244.1.0/24"), Via: net.ParseIP("127.77.0.2")}}
	if err := n.SetRoutes(context.Background(), routes); err != nil {
		t.Fatal(err)
	}
	if got := n.Routes(); len(got) != 1 || got[0].CIDR.String() != "10.244.1.0/24" {
		t.Fatalf("routes %v", got)
	}
}
