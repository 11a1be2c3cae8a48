package hollow

import (
	"context"
	"net"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/net/proxy"
)

func TestProxyRendersWithoutApplying(t *testing.T) {
	p := NewProxy(mustCIDR(t, "10.244.0.0/16"), []net.IP{net.ParseIP("127.77.0.1")}, 10*time.Millisecond)
	p.Sync()
	if p.Stats().Syncs != 0 || p.Ruleset() != nil {
		t.Fatal("synced before any update")
	}
	svc := &v1.Service{ObjectMeta: v1.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: v1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []v1.ServicePort{{Name: "http", Port: 80, Protocol: "TCP"}}}}
	eps := &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Namespace: "default", Name: "web"},
		Subsets: []v1.EndpointSubset{{Addresses: []v1.EndpointAddress{{IP: "10.244.1.2"}},
			Ports: []v1.EndpointPort{{Name: "http", Port: 8080, Protocol: "TCP"}}}}}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); p.Run(ctx) }()
	defer func() { cancel(); <-done }()
	p.Update([]*v1.Service{svc}, []*v1.Endpoints{eps})
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Syncs == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no sync after an update")
		}
		time.Sleep(5 * time.Millisecond)
	}
	st := p.Stats()
	svcChain := proxy.SVCChainName("default", "web", "http", "TCP")
	sepChain := proxy.SEPChainName("default", "web", "http", "TCP", "10.244.1.2", 8080)
	rs := p.Ruleset()
	if !rs.HasChain("nat", svcChain) || !rs.HasChain("nat", sepChain) {
		t.Fatalf("ruleset lacks %s or %s: %v", svcChain, sepChain, rs.Chains("nat"))
	}
	if st.Services != 1 || st.Bytes == 0 || st.Chains == 0 || st.Rules == 0 {
		t.Fatalf("stats %+v", st)
	}
	// The endpoint goes: its chain goes, the next render is a change only.
	p.Update([]*v1.Service{svc}, nil)
	for p.Stats().Syncs < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no sync after the second update")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rs := p.Ruleset(); rs.HasChain("nat", sepChain) {
		t.Fatal("the endpoint's chain stayed")
	}
	if st2 := p.Stats(); st2.Bytes-st.Bytes >= st.Bytes {
		t.Errorf("the second render (%d bytes) was not smaller than the first (%d)", st2.Bytes-st.Bytes, st.Bytes)
	}
}
