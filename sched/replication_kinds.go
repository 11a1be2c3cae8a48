package sched

import (
	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
)

// Replicated is an object the replication manager keeps replicas of: a
// ReplicationController (equality selector) or an apps/v1 ReplicaSet
// (set-based selector). One implementation manages both, as Kubernetes'
// ReplicaSetController serves its ReplicationManager.
type Replicated interface {
	v1.PodTemplater
	v1.Scalable
}

// replicatedResources are the resources whose objects the manager keeps
// replicas of, in the order a pass visits them.
var replicatedResources = []string{"replicationcontrollers", "replicasets"}

// replicaSelector returns the pod selector of rc: a ReplicationController's
// map (empty selects nothing), a ReplicaSet's metav1.LabelSelector (missing,
// empty or invalid selects nothing, so a bad object never claims pods).
func replicaSelector(rc Replicated) labels.Selector {
	switch o := rc.(type) {
	case *v1.ReplicationController:
		return v1.SelectorFromMap(o.Spec.Selector)
	case *v1.ReplicaSet:
		return v1.ReplicaSetSelector(o)
	}
	return labels.Nothing()
}

// replicaMinReadySeconds returns rc's spec.minReadySeconds.
func replicaMinReadySeconds(rc Replicated) int32 {
	switch o := rc.(type) {
	case *v1.ReplicationController:
		return o.Spec.MinReadySeconds
	case *v1.ReplicaSet:
		return o.Spec.MinReadySeconds
	}
	return 0
}

// replicaStatus returns rc's status in the ReplicationController's shape
// (a ReplicaSet's has the same fields).
func replicaStatus(rc Replicated) v1.ReplicationControllerStatus {
	switch o := rc.(type) {
	case *v1.ReplicationController:
		return o.Status
	case *v1.ReplicaSet:
		st := v1.ReplicationControllerStatus{Replicas: o.Status.Replicas, FullyLabeledReplicas: o.Status.FullyLabeledReplicas,
			ReadyReplicas: o.Status.ReadyReplicas, AvailableReplicas: o.Status.AvailableReplicas,
			ObservedGeneration: o.Status.ObservedGeneration}
		for _, c := range o.Status.Conditions {
			st.Conditions = append(st.Conditions, v1.ReplicationControllerCondition(c))
		}
		return st
	}
	return v1.ReplicationControllerStatus{}
}

// withReplicaStatus returns a deep copy of rc with status st.
func withReplicaStatus(rc Replicated, st v1.ReplicationControllerStatus) Replicated {
	q := v1.DeepCopy(rc)
	switch o := q.(type) {
	case *v1.ReplicationController:
		o.Status = st
	case *v1.ReplicaSet:
		o.Status = v1.ReplicaSetStatus{Replicas: st.Replicas, FullyLabeledReplicas: st.FullyLabeledReplicas,
			ReadyReplicas: st.ReadyReplicas, AvailableReplicas: st.AvailableReplicas, ObservedGeneration: st.ObservedGeneration}
		for _, c := range st.Conditions {
			o.Status.Conditions = append(o.Status.Conditions, v1.ReplicaSetCondition(c))
		}
	}
	return q
}

// replicaDesired returns spec.replicas, 1 when unset (as defaulting makes it).
func replicaDesired(rc Replicated) int32 {
	if n := rc.SpecReplicas(); n != nil {
		return *n
	}
	return 1
}
