package sched

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// TestGarbageCollectorChangeCostIndependentOfOtherPods deletes a
// replication controller of three pods beside a scaleEnv's other pods: the
// pass after it reads that controller's pods only (the collector's own
// owner index finds them), and deletes them. The collector was incremental
// already (its dependents index, kept from the change feed): this pins it.
func TestGarbageCollectorChangeCostIndependentOfOtherPods(t *testing.T) {
	assertCostIndependent(t, func(t *testing.T, e *scaleEnv) uint64 {
		p, ctx := e.p, context.Background()
		rc := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "gc-scale", Namespace: "default", UID: "uid-gc-scale"},
			Spec: v1.ReplicationControllerSpec{Replicas: ptrTo(int32(3)), Selector: map[string]string{"app": "gc-scale"}}}
		p.create(t, rc)
		for i := range 3 {
			pod := nlPod(fmt.Sprintf("gc-scale-%d", i), "")
			pod.Labels = map[string]string{"app": "gc-scale"}
			pod.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: rc.Name,
				UID: rc.UID, Controller: ptrTo(true)}}
			p.create(t, pod)
		}
		gc := NewGarbageCollector(GarbageCollectorConfig{Store: p.store, Proposer: p})
		if err := gc.pass(ctx, p.store(), changes{full: true}); err != nil {
			t.Fatal(err)
		}
		seen := p.store().Index()
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "replicationcontrollers", Namespace: "default",
			Name: "gc-scale", Propagation: v1.PropagationBackground, Now: v1.NewTime(time.Now())})
		p.apply(t, cmd, err)
		ch := changesSince(t, p.store(), seen)
		reads := readsOf(p.store(), func() {
			if err := gc.pass(ctx, p.store(), ch); err != nil {
				t.Fatal(err)
			}
		})
		for i := range 3 {
			r, err := p.store().Get("pods", "default", fmt.Sprintf("gc-scale-%d", i))
			if err == nil && r.Meta().DeletionTimestamp == nil {
				t.Fatalf("pod gc-scale-%d of the deleted controller is not being deleted", i)
			}
			if err != nil && !v1.IsNotFound(err) {
				t.Fatal(err)
			}
		}
		return reads
	})
}
