package sched

import (
	"context"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// renewLease is the node's agent renewing its lease in kube-node-lease as
// holder (creating it on first use); holder overrides the holder identity.
func (e *nlEnv) renewLease(node, holder string) {
	e.t.Helper()
	if _, err := e.p.store().Get("namespaces", "", v1.NodeLeaseNamespace); err != nil {
		e.p.create(e.t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: v1.NodeLeaseNamespace, UID: "ns-lease"}})
	}
	now := v1.NewMicroTime(e.now)
	dur := int32(v1.NodeLeaseDurationSeconds)
	spec := v1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &dur, RenewTime: &now}
	rec, err := e.p.store().Get("leases", v1.NodeLeaseNamespace, node)
	if v1.IsNotFound(err) {
		e.p.create(e.t, &v1.Lease{ObjectMeta: v1.ObjectMeta{Name: node, Namespace: v1.NodeLeaseNamespace, UID: "lease-" + node}, Spec: spec})
		return
	}
	if err != nil {
		e.t.Fatal(err)
	}
	l := v1.DeepCopy(rec.Object().(*v1.Lease))
	l.Spec = spec
	cmd, err := fsm.NewUpdate(l, false)
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.p.Apply(context.Background(), cmd); err != nil {
		e.t.Fatalf("renew lease %s: %v", node, err)
	}
}

func TestNodeLifecycleFromLease(t *testing.T) {
	cases := []struct {
		name string
		// renewFor is how long the lease is renewed (every 10 s) after
		// the node's single status write; holder is the lease's holder.
		renewFor time.Duration
		holder   string
		// at is when the node is looked at, after its status write.
		at          time.Duration
		unreachable bool
		evicted     bool
	}{
		{name: "renewed lease keeps a node whose status is old Ready", renewFor: 2 * nlEviction, holder: "a",
			at: 2 * nlEviction},
		{name: "lease stops: Unknown after the grace", renewFor: time.Minute, holder: "a",
			at: time.Minute + nlGrace + 10*time.Second, unreachable: true},
		{name: "lease stops: not before the grace", renewFor: time.Minute, holder: "a",
			at: time.Minute + nlGrace - 10*time.Second},
		{name: "lease stops: pods evicted after the eviction timeout", renewFor: time.Minute, holder: "a",
			at: time.Minute + nlEviction + 10*time.Second, unreachable: true, evicted: true},
		{name: "a lease held by another holder is no heartbeat", renewFor: 2 * nlEviction, holder: "someone-else",
			at: nlGrace + 10*time.Second, unreachable: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newNLEnv(t)
			e.addNode("a", true)
			e.p.create(t, nlPod("pa", "a"))
			c := e.controller()
			e.pass(c)
			start := e.now
			for e.now.Before(start.Add(tc.at)) {
				e.now = e.now.Add(10 * time.Second)
				if !e.now.After(start.Add(tc.renewFor)) {
					e.renewLease("a", tc.holder)
				}
				e.pass(c)
			}
			n := e.node("a")
			if tc.unreachable {
				assertUnreachable(t, n)
			} else {
				assertHealthy(t, n)
				if e.writes != 0 {
					t.Fatalf("%d controller writes for a node renewing its lease, want 0", e.writes)
				}
			}
			if got := !e.podExists("pa"); got != tc.evicted {
				t.Fatalf("pod evicted = %v, want %v", got, tc.evicted)
			}
		})
	}
}

func TestNodeLifecycleLeaseRenewalLiftsTheTaint(t *testing.T) {
	e := newNLEnv(t)
	e.addNode("a", true)
	c := e.controller()
	e.pass(c)
	e.advanceTo(c, e.now.Add(nlGrace+20*time.Second))
	assertUnreachable(t, e.node("a"))
	// The agent comes back: it renews its lease and, seeing Unknown
	// stored, writes Ready again.
	e.renewLease("a", "a")
	e.heartbeat("a")
	e.pass(c)
	assertHealthy(t, e.node("a"))
}

func TestNodeLifecycleDeletesTheLeasesOfDeletedNodes(t *testing.T) {
	e := newNLEnv(t)
	e.addNode("a", true)
	e.renewLease("a", "a") // namespace kube-node-lease and an unowned lease "a"
	owned := func(name, node, uid string) {
		e.p.create(t, &v1.Lease{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: v1.NodeLeaseNamespace, UID: "lease-" + name,
			OwnerReferences: []v1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node, UID: uid}}}})
	}
	owned("a-owned", "a", "uid-a")    // its node exists: kept
	owned("gone", "gone", "uid-gone") // its node is gone: deleted
	owned("stale", "a", "uid-old-a")  // a node of that name, another uid: deleted
	c := e.controller()
	e.pass(c)
	for name, want := range map[string]bool{"a": true, "a-owned": true, "gone": false, "stale": false} {
		_, err := e.p.store().Get("leases", v1.NodeLeaseNamespace, name)
		if got := err == nil; got != want {
			t.Errorf("lease %s kept = %v, want %v (err %v)", name, got, want, err)
		}
	}
	before := e.writes
	e.pass(c)
	if e.writes != before {
		t.Fatalf("a second pass wrote %d times", e.writes-before)
	}
}
