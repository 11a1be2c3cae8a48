package sched

import (
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A pod whose stored IP is special (written before the API refused it) is
// left out of its services' endpoints: every node would send the service's
// traffic to its own loopback or link-local network.
func TestComputeEndpointsSkipsSpecialPodIPs(t *testing.T) {
	for _, ip := range []string{"127.0.0.1", "169.254.169.254", "0.0.0.0", "224.0.0.1", "::1"} {
		t.Run(ip, func(t *testing.T) {
			pods := []*v1.Pod{epPod("bad", ip, true), epPod("good", "10.0.0.1", true)}
			got := ComputeEndpoints(epService("web", httpPort()), pods)
			want := []v1.EndpointSubset{{Addresses: []v1.EndpointAddress{addr("good", "10.0.0.1")},
				Ports: []v1.EndpointPort{{Name: "http", Port: 8080, Protocol: v1.ProtocolTCP}}}}
			if asJSON(t, got) != asJSON(t, want) {
				t.Fatalf("endpoints %s, want %s", asJSON(t, got), asJSON(t, want))
			}
		})
	}
}
