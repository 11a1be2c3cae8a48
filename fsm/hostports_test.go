package fsm

import (
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// TestBindRechecksHostPorts: a binding whose host ports conflict with a pod
// already on the node (or bound earlier in the same batch) is refused with
// the scheduler's words and changes nothing.
func TestBindRechecksHostPorts(t *testing.T) {
	withPorts := func(p *v1.Pod, ps ...v1.ContainerPort) *v1.Pod {
		p.Spec.Containers[0].Ports = ps
		return p
	}
	tcp := func(ip string, port int32) v1.ContainerPort {
		return v1.ContainerPort{ContainerPort: 80, HostPort: port, HostIP: ip, Protocol: v1.ProtocolTCP}
	}
	udp := func(ip string, port int32) v1.ContainerPort {
		return v1.ContainerPort{ContainerPort: 80, HostPort: port, HostIP: ip, Protocol: v1.ProtocolUDP}
	}
	for _, tc := range []struct {
		name     string
		existing *v1.Pod // bound to n1 before, nil for none
		pods     []*v1.Pod
		node     []string // where each pod is bound, in one batch
		refused  []bool
	}{
		{"free", withPorts(boundPod("default", "x", "n1"), tcp("", 8080)),
			[]*v1.Pod{withPorts(podObj("default", "a", nil), tcp("", 8081))}, []string{"n1"}, []bool{false}},
		{"taken on all addresses", withPorts(boundPod("default", "x", "n1"), tcp("", 8080)),
			[]*v1.Pod{withPorts(podObj("default", "a", nil), tcp("10.0.0.1", 8080))}, []string{"n1"}, []bool{true}},
		{"other address", withPorts(boundPod("default", "x", "n1"), tcp("10.0.0.2", 8080)),
			[]*v1.Pod{withPorts(podObj("default", "a", nil), tcp("10.0.0.1", 8080))}, []string{"n1"}, []bool{false}},
		{"other protocol", withPorts(boundPod("default", "x", "n1"), tcp("", 8080)),
			[]*v1.Pod{withPorts(podObj("default", "a", nil), udp("", 8080))}, []string{"n1"}, []bool{false}},
		{"other node", withPorts(boundPod("default", "x", "n1"), tcp("", 8080)),
			[]*v1.Pod{withPorts(podObj("default", "a", nil), tcp("", 8080))}, []string{"n2"}, []bool{false}},
		{"finished pod", func() *v1.Pod {
			p := withPorts(boundPod("default", "x", "n1"), tcp("", 8080))
			p.Status.Phase = v1.PodSucceeded
			return p
		}(), []*v1.Pod{withPorts(podObj("default", "a", nil), tcp("", 8080))}, []string{"n1"}, []bool{false}},
		{"earlier in the batch", nil, []*v1.Pod{
			withPorts(podObj("default", "a", nil), tcp("", 8080)),
			withPorts(podObj("default", "b", nil), tcp("0.0.0.0", 8080)),
		}, []string{"n1", "n1"}, []bool{false, true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			h.create(nsObj("default"), nodeObj("n1"), nodeObj("n2"))
			if tc.existing != nil {
				h.create(tc.existing)
			}
			var bs []Binding
			for i, p := range tc.pods {
				h.create(p)
				bs = append(bs, Binding{Namespace: "default", Name: p.Name, Node: tc.node[i]})
			}
			res := h.bind(bs...)
			for i, p := range tc.pods {
				got := h.pod("default", p.Name).Spec.NodeName
				if !tc.refused[i] {
					if res[i].Err != nil || got != tc.node[i] {
						t.Errorf("%s: err %v, on %q, want bound to %s", p.Name, res[i].Err, got, tc.node[i])
					}
					continue
				}
				if !v1.IsConflict(res[i].Err) || !strings.Contains(res[i].Err.Error(), "node(s) didn't have free ports for the requested pod ports") {
					t.Errorf("%s: err %v, want a Conflict with the scheduler's words", p.Name, res[i].Err)
				}
				if got != "" {
					t.Errorf("%s bound to %q despite the conflict", p.Name, got)
				}
			}
		})
	}
}
