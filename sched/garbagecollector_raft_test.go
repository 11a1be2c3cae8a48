package sched

import (
	"context"
	"fmt"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/cluster"
	"orch.io/orch/fsm"
)

// TestGarbageCollectorCascadeOverRaft measures the cascade of a Background
// delete of an owner of 1,000 pods through three real masters (Raft over
// TLS, raft-boltdb on disk): the collector's raft entries, which are
// deterministic and checked, and the wall time from the owner's delete to
// the last pod deleted, which is only logged (the machine is shared).
func TestGarbageCollectorCascadeOverRaft(t *testing.T) {
	yes := true
	tests := []struct {
		name, resource string
		owner          v1.Object
		ref            v1.OwnerReference
	}{
		{"replicationcontroller", "replicationcontrollers", testRC(1000),
			v1.OwnerReference{APIVersion: "v1", Kind: "ReplicationController", Name: "web", UID: rcUID, Controller: &yes, BlockOwnerDeletion: &yes}},
		{"replicaset", "replicasets", testRS(1000),
			v1.OwnerReference{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web", UID: rsUID, Controller: &yes, BlockOwnerDeletion: &yes}},
	}
	const pods = 1000
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// One leader throughout (the test checks the collector's
			// writes, not failover): at 500 ms a -race run on a loaded
			// 2-core machine once lost the lease mid-test and the write
			// in flight failed with 504; 1 s is the cluster package's
			// steady timeout and raft's own default.
			g := cluster.NewTestGroup(t, 3, cluster.TestOptions{RaftTimeout: time.Second})
			leader := g.WaitLeader(t)
			ctx := context.Background()
			apply := func(cmd []byte) any {
				t.Helper()
				out, err := leader.Apply(ctx, cmd)
				if err != nil {
					t.Fatal(err)
				}
				if res, ok := out.(fsm.BatchResult); ok {
					for _, r := range res {
						if r.Err != nil {
							t.Fatal(r.Err)
						}
					}
				}
				return out
			}
			apply(mustCreate(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default", UID: "ns-default"}}))
			apply(mustCreate(t, &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n1", UID: "node-n1"}}))
			apply(mustCreate(t, tc.owner))
			var items []fsm.BatchItem
			for i := range pods {
				node := ""
				if i%2 == 0 {
					node = "n1"
				}
				items = append(items, batchItem(mustCreate(t, gcPod(fmt.Sprintf("p%04d", i), node, tc.ref))))
				if len(items) == 250 || i == pods-1 {
					cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
					if err != nil {
						t.Fatal(err)
					}
					apply(cmd)
					items = nil
				}
			}

			cp := &gcProposer{inner: leader}
			gc := NewGarbageCollector(GarbageCollectorConfig{Store: leader.Store, Proposer: cp})
			s := leader.Store()
			if err := gc.pass(ctx, s, changes{full: true}); err != nil {
				t.Fatal(err)
			}
			if n, _ := cp.count(); n != 0 {
				t.Fatalf("the collector wrote %d entries before the delete", n)
			}
			_, seen := s.Feed().Window()
			del, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: tc.resource, Namespace: "default", Name: "web",
				Propagation: v1.PropagationBackground, Now: v1.NewTime(time.Now())})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			apply(del)
			for range 10 {
				evs, last, _, _, err := s.Feed().Since(seen)
				if err != nil {
					t.Fatal(err)
				}
				if len(evs) == 0 {
					break
				}
				seen = last
				if err := gc.pass(ctx, s, changes{events: evs}); err != nil {
					t.Fatal(err)
				}
			}
			took := time.Since(start)
			entries, writes := cp.count()
			t.Logf("%s of %d pods, Background: %d entries, %d writes, %v from the owner's delete to the last pod's",
				tc.name, pods, entries, writes, took.Round(time.Millisecond))
			if want := (pods + maxGCBatch - 1) / maxGCBatch; entries != want || writes != pods {
				t.Errorf("the collector proposed %d entries of %d writes, want %d of %d", entries, writes, want, pods)
			}
			res, err := s.List("pods", fsm.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res.Items {
				if r.Meta().DeletionTimestamp == nil {
					t.Fatalf("pod %s not deleted", r.Meta().Name)
				}
			}
			if len(res.Items) != pods/2 {
				t.Fatalf("%d pods left, want the %d bound ones terminating", len(res.Items), pods/2)
			}
		})
	}
}
