package node

import (
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

func TestNodeStatusChanged(t *testing.T) {
	t0 := v1.NewTime(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	t1 := v1.NewTime(t0.Add(time.Minute))
	base := func() v1.NodeStatus {
		return v1.NodeStatus{Phase: "Running",
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "NodeReady",
				LastHeartbeatTime: t0, LastTransitionTime: t0}},
			Addresses: []v1.NodeAddress{{Type: "InternalIP", Address: "10.0.0.1"}}}
	}
	cases := []struct {
		name   string
		change func(*v1.NodeStatus)
		want   bool
	}{
		{"same", func(*v1.NodeStatus) {}, false},
		{"only the heartbeat time", func(s *v1.NodeStatus) { s.Conditions[0].LastHeartbeatTime = t1 }, false},
		{"only the transition time", func(s *v1.NodeStatus) { s.Conditions[0].LastTransitionTime = t1 }, false},
		{"ready marked Unknown by the controller", func(s *v1.NodeStatus) { s.Conditions[0].Status = v1.ConditionUnknown }, true},
		{"an address", func(s *v1.NodeStatus) { s.Addresses[0].Address = "10.0.0.2" }, true},
		{"no conditions stored", func(s *v1.NodeStatus) { s.Conditions = nil }, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, stored := base(), base()
			tc.change(&stored)
			if got := nodeStatusChanged(&want, &stored); got != tc.want {
				t.Fatalf("changed = %v, want %v", got, tc.want)
			}
			if len(stored.Conditions) > 0 && stored.Conditions[0].LastHeartbeatTime.IsZero() {
				t.Fatal("nodeStatusChanged modified its argument")
			}
		})
	}
}
