package node

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	v1 "orch.io/orch/api/v1"
)

// The node's heartbeat is its Lease, as the kubelet's since Kubernetes
// 1.17: a small object named after the node in kube-node-lease, renewed
// every HeartbeatInterval (a quarter of its 40 s duration), which the node
// lifecycle controller reads. The Node's status is written only when it
// changes, or every NodeStatusReportFrequency (5 min) — see heartbeat.

// heartbeatJitter is the kubelet's jitter factor for its lease renewals and
// node status updates (wait.JitterUntil(..., 0.04, sliding)): agents that
// started together drift apart instead of writing in lockstep.
const heartbeatJitter = 0.04

// nextBeat waits a jittered HeartbeatInterval from now; false when ctx
// ended first.
func (a *Agent) nextBeat(ctx context.Context) bool {
	t := time.NewTimer(wait.Jitter(a.cfg.HeartbeatInterval, heartbeatJitter))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// leaseLoop renews the node's lease every HeartbeatInterval (plus up to
// 4 %, after the previous renewal, as the kubelet) until ctx ends.
func (a *Agent) leaseLoop(ctx context.Context) {
	var cur *v1.Lease
	for {
		pctx, cancel := context.WithTimeout(ctx, a.cfg.HeartbeatInterval)
		next, err := a.renewLease(pctx, cur)
		cancel()
		cur = next
		if err != nil && ctx.Err() == nil {
			a.log.Warn("renew node lease failed", "err", err)
		}
		if !a.nextBeat(ctx) {
			return
		}
	}
}

// renewLease renews cur (the lease as last stored, nil if unknown) with
// its resourceVersion as precondition, as the kubelet's lease controller:
// the update costs no read. Without a known lease, or after a conflict, it
// reads the lease (creating it when missing) and renews that. It returns
// the lease as now stored, or nil when that is unknown.
func (a *Agent) renewLease(ctx context.Context, cur *v1.Lease) (*v1.Lease, error) {
	if cur != nil {
		next := a.renewed(cur)
		err := a.cfg.Client.Update(ctx, next)
		if err == nil {
			return next, nil
		}
		if !v1.IsConflict(err) && !v1.IsNotFound(err) {
			return cur, err
		}
	}
	var got v1.Lease
	err := a.cfg.Client.Get(ctx, "leases", v1.NodeLeaseNamespace, a.cfg.Name, &got)
	if v1.IsNotFound(err) {
		l := a.newLease()
		if err := a.cfg.Client.Create(ctx, l); err != nil {
			return nil, err
		}
		return l, nil
	}
	if err != nil {
		return nil, err
	}
	next := a.renewed(&got)
	if err := a.cfg.Client.Update(ctx, next); err != nil {
		return nil, err
	}
	return next, nil
}

// newLease is the node's lease as first created: held by the node, owned
// by its Node (so it goes when the Node goes).
func (a *Agent) newLease() *v1.Lease {
	l := &v1.Lease{ObjectMeta: v1.ObjectMeta{Name: a.cfg.Name, Namespace: v1.NodeLeaseNamespace}}
	if uid := a.nodeUID.Load(); uid != nil && *uid != "" {
		l.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: a.cfg.Name, UID: *uid}}
	}
	return a.renewed(l)
}

// renewed returns a copy of l held by this node and renewed now.
func (a *Agent) renewed(l *v1.Lease) *v1.Lease {
	next := v1.DeepCopy(l)
	holder := a.cfg.Name
	dur := a.cfg.LeaseDurationSeconds
	now := v1.NewMicroTime(a.cfg.Now())
	next.Spec.HolderIdentity = &holder
	next.Spec.LeaseDurationSeconds = &dur
	next.Spec.RenewTime = &now
	return next
}
