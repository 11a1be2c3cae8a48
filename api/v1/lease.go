package v1

import (
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file holds the coordination.k8s.io/v1 kind Lease, with Kubernetes'
// field names: nodes renew one each (named after the node, in namespace
// kube-node-lease) as their heartbeat, and clients elect leaders on them
// (client-go's tools/leaderelection).

// CoordinationGroup is the API group of leases.
const CoordinationGroup = "coordination.k8s.io"

// NodeLeaseNamespace is the namespace of the nodes' heartbeat leases, made
// by the leader like "default".
const NodeLeaseNamespace = "kube-node-lease"

// NodeLeaseDurationSeconds is the leaseDurationSeconds of a node's lease,
// the kubelet's default nodeLeaseDurationSeconds.
const NodeLeaseDurationSeconds = 40

// Lease is a lease on a name, as Kubernetes' coordination.k8s.io/v1 kind.
type Lease struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       LeaseSpec `json:"spec,omitempty"`
}

// LeaseSpec is who holds the lease, since when and for how long.
type LeaseSpec struct {
	// HolderIdentity names the current holder.
	HolderIdentity *string `json:"holderIdentity,omitempty"`
	// LeaseDurationSeconds is how long candidates wait, after the last
	// observed renewTime, before they may take the lease.
	LeaseDurationSeconds *int32 `json:"leaseDurationSeconds,omitempty"`
	// AcquireTime is when the current holder acquired the lease.
	AcquireTime *MicroTime `json:"acquireTime,omitempty"`
	// RenewTime is when the holder last renewed the lease.
	RenewTime *MicroTime `json:"renewTime,omitempty"`
	// LeaseTransitions counts the changes of holder.
	LeaseTransitions *int32 `json:"leaseTransitions,omitempty"`
	// Strategy is refused: orch runs no coordinated leader election.
	Strategy *string `json:"strategy,omitempty"`
	// PreferredHolder may only be set with a strategy, so it is refused
	// with it.
	PreferredHolder *string `json:"preferredHolder,omitempty"`
}

// validateLease is Kubernetes' ValidateLeaseSpec, with strategy refused
// (orch runs no coordinated leader election, as Kubernetes without its
// CoordinatedLeaderElection gate).
func validateLease(l *Lease) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	if d := l.Spec.LeaseDurationSeconds; d != nil && *d <= 0 {
		errs = append(errs, field.Invalid(sp.Child("leaseDurationSeconds"), *d, "must be greater than 0"))
	}
	if n := l.Spec.LeaseTransitions; n != nil && *n < 0 {
		errs = append(errs, field.Invalid(sp.Child("leaseTransitions"), *n, "must be greater than or equal to 0"))
	}
	if s := l.Spec.Strategy; s != nil && *s != "" {
		errs = append(errs, field.Forbidden(sp.Child("strategy"), notYet("coordinated leader election")))
	}
	if h := l.Spec.PreferredHolder; h != nil && *h != "" && (l.Spec.Strategy == nil || *l.Spec.Strategy == "") {
		errs = append(errs, field.Forbidden(sp.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return errs
}
