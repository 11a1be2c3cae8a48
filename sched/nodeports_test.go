package sched

import (
	"testing"

	v1 "orch.io/orch/api/v1"
)

// TestNodePortsFilter checks the NodePorts filter against pods bound to the
// node and against pods placed earlier in the same plan.
func TestNodePortsFilter(t *testing.T) {
	ports := func(p *v1.Pod, hostNetwork bool, ps ...v1.ContainerPort) *v1.Pod {
		p.Spec.HostNetwork = hostNetwork
		p.Spec.Containers[0].Ports = ps
		return p
	}
	tcp := func(hostIP string, port int32) v1.ContainerPort {
		return v1.ContainerPort{ContainerPort: 80, HostPort: port, HostIP: hostIP, Protocol: "TCP"}
	}
	udp := func(hostIP string, port int32) v1.ContainerPort {
		return v1.ContainerPort{ContainerPort: 53, HostPort: port, HostIP: hostIP, Protocol: "UDP"}
	}
	const refused = "0/1 nodes are available: 1 node(s) didn't have free ports for the requested pod ports."
	for _, tc := range []struct {
		name  string
		bound *v1.Pod // on the node already, nil for none
		pods  []*v1.Pod
		want  []string // per pod: "" bound, else its message
	}{
		{"free port", ports(pendingPod("b", "1"), false, tcp("", 8080)),
			[]*v1.Pod{ports(pendingPod("p", "1"), false, tcp("", 8081))}, []string{""}},
		{"same port, all addresses", ports(pendingPod("b", "1"), false, tcp("", 8080)),
			[]*v1.Pod{ports(pendingPod("p", "1"), false, tcp("", 8080))}, []string{refused}},
		{"0.0.0.0 against one address", ports(pendingPod("b", "1"), false, tcp("10.0.0.1", 8080)),
			[]*v1.Pod{ports(pendingPod("p", "1"), false, tcp("0.0.0.0", 8080))}, []string{refused}},
		{"one address against all", ports(pendingPod("b", "1"), false, tcp("", 8080)),
			[]*v1.Pod{ports(pendingPod("p", "1"), false, tcp("10.0.0.1", 8080))}, []string{refused}},
		{"two different addresses", ports(pendingPod("b", "1"), false, tcp("10.0.0.1", 8080)),
			[]*v1.Pod{ports(pendingPod("p", "1"), false, tcp("10.0.0.2", 8080))}, []string{""}},
		{"other protocol", ports(pendingPod("b", "1"), false, tcp("", 53)),
			[]*v1.Pod{ports(pendingPod("p", "1"), false, udp("", 53))}, []string{""}},
		{"hostNetwork pod holds its ports", ports(pendingPod("b", "1"), true, v1.ContainerPort{ContainerPort: 9100, HostPort: 9100, Protocol: "TCP"}),
			[]*v1.Pod{ports(pendingPod("p", "1"), false, tcp("", 9100))}, []string{refused}},
		{"finished pod frees its port", func() *v1.Pod {
			p := ports(pendingPod("b", "1"), false, tcp("", 8080))
			p.Status.Phase = v1.PodFailed
			return p
		}(), []*v1.Pod{ports(pendingPod("p", "1"), false, tcp("", 8080))}, []string{""}},
		{"two pods of one pass", nil, []*v1.Pod{
			ports(pendingPod("p", "1"), false, tcp("", 8080)),
			ports(pendingPod("q", "1"), false, tcp("", 8080)),
		}, []string{"", refused}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var bound []*v1.Pod
			if tc.bound != nil {
				tc.bound.Spec.NodeName = "n"
				bound = append(bound, tc.bound)
			}
			plan := Schedule(NewSnapshot([]*v1.Node{readyNode("n", "8", "8Gi", nil)}, bound), tc.pods, seeded())
			for i, p := range tc.pods {
				msg, unsched := plan.Unschedulable["default/"+p.Name]
				switch {
				case tc.want[i] == "" && unsched:
					t.Errorf("%s refused: %q", p.Name, msg)
				case tc.want[i] != "" && msg != tc.want[i]:
					t.Errorf("%s: message %q, want %q", p.Name, msg, tc.want[i])
				}
			}
		})
	}
}
