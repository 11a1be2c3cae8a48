package fsm

import (
	"fmt"

	v1 "orch.io/orch/api/v1"
)

// hostPortConflict re-checks, at binding, the scheduler's NodePorts filter
// against the pods bound to the node so far (earlier bindings of the same
// batch included): the scheduler decided on a view that may be stale. It
// returns a Conflict naming the port, or nil.
func hostPortConflict(w *writeTxn, node string, p *v1.Pod) error {
	want := v1.PodHostPorts(p)
	if len(want) == 0 {
		return nil
	}
	it, err := podsOnNode(w.txn, node, nil)
	if err != nil {
		return v1.NewInternalError(fmt.Errorf("pods on node %s: %w", node, err))
	}
	var used v1.HostPortSet
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if q, ok := raw.(*Record).Object().(*v1.Pod); ok && !q.Terminal() && q.UID != p.UID {
			used.Add(v1.PodHostPorts(q)...)
		}
	}
	if port, ok := used.Conflict(want); ok {
		return v1.NewConflict("pods", p.Name, fmt.Sprintf("node %s no longer fits the pod: %s (%s)", node, v1.HostPortsConflictMessage, port))
	}
	return nil
}
