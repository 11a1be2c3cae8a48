package sched

import (
	"context"
	"strings"
	"sync"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// TestReplicationPodsAdmitted: the replication manager asks AdmitPod (Pod
// Security, in the master) about every pod it would create, named and
// defaulted as it will be stored; a refusal is a refused create, with the
// RC's ReplicaFailure condition carrying the admission's message.
func TestReplicationPodsAdmitted(t *testing.T) {
	const refusal = `pods "x" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)`
	tests := []struct {
		name        string
		refuse      bool
		wantPods    int
		wantRefused uint64
	}{
		{name: "admitted", wantPods: 3},
		{name: "refused", refuse: true, wantPods: 0, wantRefused: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newFakeProposer(t)
			p.create(t, loopRC("web", 3))
			var mu sync.Mutex
			var asked []*v1.Pod
			admit := func(ctx context.Context, pod *v1.Pod) error {
				mu.Lock()
				defer mu.Unlock()
				asked = append(asked, v1.DeepCopy(pod))
				if tt.refuse {
					return v1.NewForbidden(refusal)
				}
				return nil
			}
			m := NewReplicationManager(ReplicationConfig{Store: p.store, Proposer: p, AdmitPod: admit})
			if err := m.Pass(context.Background(), p.store()); err != nil {
				t.Fatal(err)
			}
			if pods := ownedActive(t, p, "web"); len(pods) != tt.wantPods {
				t.Fatalf("%d pods created, want %d", len(pods), tt.wantPods)
			}
			if n := m.RefusedCreates(); n != tt.wantRefused {
				t.Errorf("RefusedCreates = %d, want %d", n, tt.wantRefused)
			}
			if len(asked) == 0 {
				t.Fatal("AdmitPod was not asked")
			}
			for _, pod := range asked {
				if pod.Namespace != "default" || !strings.HasPrefix(pod.Name, "web-") || pod.Spec.SchedulerName == "" {
					t.Errorf("asked about %s/%s (schedulerName %q): want a named, defaulted pod of default", pod.Namespace, pod.Name, pod.Spec.SchedulerName)
				}
			}
			rec, err := p.store().Get("replicationcontrollers", "default", "web")
			if err != nil {
				t.Fatal(err)
			}
			var failure string
			for _, c := range rec.Object().(*v1.ReplicationController).Status.Conditions {
				if c.Type == RCReplicaFailure {
					failure = c.Message
				}
			}
			if tt.refuse != strings.Contains(failure, refusal) {
				t.Errorf("ReplicaFailure message %q (refused: %v)", failure, tt.refuse)
			}
		})
	}
}
