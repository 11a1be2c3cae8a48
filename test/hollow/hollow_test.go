package hollow

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"orch.io/orch/node"
	"orch.io/orch/pki"
)

func TestNodeIP(t *testing.T) {
	for _, tt := range []struct {
		i    int
		want string
	}{{0, "127.77.0.1"}, {254, "127.77.0.255"}, {255, "127.77.1.0"}, {4999, "127.77.19.136"}} {
		if got := NodeIP(tt.i); got != tt.want {
			t.Errorf("NodeIP(%d) = %s, want %s", tt.i, got, tt.want)
		}
	}
}

func TestNewNodeRefuses(t *testing.T) {
	ca := &pki.CA{}
	for name, cfg := range map[string]Config{
		"no CA":        {Servers: []string{"https://127.0.0.1:1"}, StateDir: t.TempDir()},
		"no servers":   {CA: ca, StateDir: t.TempDir()},
		"no state dir": {CA: ca, Servers: []string{"https://127.0.0.1:1"}},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := NewNode(cfg, "n", NodeIP(0)); err == nil {
				t.Fatal("built")
			}
		})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := Start(ctx, Config{}, []string{"a"}); err == nil {
		t.Fatal("a pool started without a CA")
	}
}

func TestRotate(t *testing.T) {
	servers := []string{"a", "b", "c"}
	for _, tt := range []struct {
		i    int
		want string
	}{{0, "abc"}, {1, "bca"}, {2, "cab"}, {3, "abc"}, {7, "bca"}} {
		if got := strings.Join(rotate(servers, tt.i), ""); got != tt.want {
			t.Errorf("rotate(%d) = %s, want %s", tt.i, got, tt.want)
		}
	}
	if got := rotate(nil, 3); got != nil {
		t.Errorf("rotate(nil) = %v", got)
	}
	if servers[0] != "a" {
		t.Error("rotate changed its argument")
	}
}

func TestNetworkFactoryRoutes(t *testing.T) {
	_, cidr, _ := net.ParseCIDR("10.244.1.0/24")
	for _, noRoutes := range []bool{false, true} {
		n := &Node{}
		nw, err := n.networkFactory(noRoutes)(context.Background(), cidr)
		if err != nil {
			t.Fatal(err)
		}
		if _, routes := nw.(node.RouteSetter); routes == noRoutes {
			t.Errorf("NoRoutes %v: the network sets routes: %v", noRoutes, routes)
		}
		if n.Network() == nil || n.Network().CIDR().String() != cidr.String() {
			t.Errorf("NoRoutes %v: the node does not hold its network", noRoutes)
		}
	}
}
