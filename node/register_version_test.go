package node

import (
	"testing"
	"time"
)

// TestNodeStatusKubeletVersion: the Node reports the agent's semantic
// version as nodeInfo.kubeletVersion (kubectl get nodes' VERSION column).
func TestNodeStatusKubeletVersion(t *testing.T) {
	for _, tc := range []struct {
		name, agent, want string
	}{
		{"tagged", "v0.7.0", "v0.7.0"},
		{"after a tag", "v0.7.0-3+e4d4994", "v0.7.0-3+e4d4994"},
		{"unknown", "", "v0.0.0-master+unknown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &Agent{cfg: Config{AgentVersion: tc.agent, StateDir: t.TempDir(), Now: time.Now}}
			if got := a.nodeStatus(nil).NodeInfo.KubeletVersion; got != tc.want {
				t.Fatalf("kubeletVersion %q, want %q", got, tc.want)
			}
		})
	}
}
