package node

import (
	"testing"

	v1 "orch.io/orch/api/v1"
)

// Which container's PID namespace a container joins: its target's for an
// ephemeral container, the first container's with shareProcessNamespace.
func TestPIDNamespaceOwner(t *testing.T) {
	pod := func(share, hostPID bool) *v1.Pod {
		p := &v1.Pod{Spec: v1.PodSpec{
			InitContainers: []v1.Container{{Name: "init"}},
			Containers:     []v1.Container{{Name: "app"}, {Name: "side"}},
			EphemeralContainers: []v1.EphemeralContainer{
				{EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "dbg"}, TargetContainerName: "side"},
				{EphemeralContainerCommon: v1.EphemeralContainerCommon{Name: "plain"}},
			},
			HostPID: hostPID,
		}}
		if share {
			p.Spec.ShareProcessNamespace = new(true)
		}
		return p
	}
	tests := []struct {
		name           string
		share, hostPID bool
		container      string
		want           string
	}{
		{"app container alone", false, false, "app", ""},
		{"second container alone", false, false, "side", ""},
		{"ephemeral with target", false, false, "dbg", "side"},
		{"ephemeral without target", false, false, "plain", ""},
		{"shared: first container owns it", true, false, "app", ""},
		{"shared: second container joins the first", true, false, "side", "app"},
		{"shared: ephemeral joins the pod's, not its target's", true, false, "dbg", "app"},
		{"shared: ephemeral without target", true, false, "plain", "app"},
		{"shared: init container has its own", true, false, "init", ""},
		{"hostPID: the node's", false, true, "dbg", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pidNamespaceOwner(pod(tt.share, tt.hostPID), tt.container); got != tt.want {
				t.Errorf("pidNamespaceOwner(%s) = %q, want %q", tt.container, got, tt.want)
			}
		})
	}
}
