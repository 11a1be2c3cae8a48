package sched

import (
	"context"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/api/v1/v1test"
)

// TestReplicationPodsMeetLimitRangesAndQuotas: the replication manager's
// pods get their namespace's LimitRange defaults, are not created when a
// LimitRange refuses them, and stop at the namespace's quota.
func TestReplicationPodsMeetLimitRangesAndQuotas(t *testing.T) {
	tests := []struct {
		name       string
		objs       []v1.Object
		limits     v1.ResourceList // the template container's limits
		wantPods   int
		wantLimits string // of every created pod's container
		wantReqs   string
		// wantRefused is the count of refused creates (RefusedCreates).
		wantRefused uint64
	}{
		{
			name: "defaults",
			objs: []v1.Object{&v1.LimitRange{ObjectMeta: v1.ObjectMeta{Name: "l", Namespace: "default"},
				Spec: v1.LimitRangeSpec{Limits: []v1.LimitRangeItem{{Type: v1.LimitTypeContainer,
					Default: v1test.Resources("cpu", "300m"), DefaultRequest: v1test.Resources("cpu", "100m")}}}}},
			wantPods: 3, wantLimits: "cpu=300m", wantReqs: "cpu=100m",
		},
		{
			name: "refused by a max",
			objs: []v1.Object{&v1.LimitRange{ObjectMeta: v1.ObjectMeta{Name: "l", Namespace: "default"},
				Spec: v1.LimitRangeSpec{Limits: []v1.LimitRangeItem{{Type: v1.LimitTypeContainer, Max: v1test.Resources("cpu", "1")}}}}},
			limits:   v1test.Resources("cpu", "2"),
			wantPods: 0, wantRefused: 1, // the first batch, of one
		},
		{
			name: "stopped by a quota",
			objs: []v1.Object{&v1.ResourceQuota{ObjectMeta: v1.ObjectMeta{Name: "q", Namespace: "default"},
				Spec: v1.ResourceQuotaSpec{Hard: v1test.Resources("pods", "2")}}},
			wantPods: 2, wantRefused: 1, // batches of 1 and 2: the third pod
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFakeProposer(t)
			for _, o := range tt.objs {
				v1.Default(o)
				p.create(t, o)
			}
			rc := loopRC("web", 3)
			rc.Spec.Template.Spec.Containers[0].Resources.Limits = tt.limits
			p.create(t, rc)
			m := NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p})
			if err := m.Pass(context.Background(), p.store()); err != nil {
				t.Fatal(err)
			}
			pods := ownedActive(t, p, "web")
			if len(pods) != tt.wantPods {
				t.Fatalf("%d pods created, want %d", len(pods), tt.wantPods)
			}
			if n := m.RefusedCreates(); n != tt.wantRefused {
				t.Errorf("RefusedCreates = %d, want %d", n, tt.wantRefused)
			}
			for _, pod := range pods {
				r := pod.Spec.Containers[0].Resources
				if tt.wantLimits != "" && (v1.FormatResources(r.Limits) != tt.wantLimits || v1.FormatResources(r.Requests) != tt.wantReqs) {
					t.Errorf("pod %s: limits %s requests %s, want %s and %s", pod.Name,
						v1.FormatResources(r.Limits), v1.FormatResources(r.Requests), tt.wantLimits, tt.wantReqs)
				}
			}
		})
	}
}
