package fsm

import (
	"fmt"
	"strings"

	v1 "orch.io/orch/api/v1"
)

func applyBind(w *writeTxn, body []byte) any {
	var req BindRequest
	if res, ok := w.decode(body, &req); !ok {
		return res
	}
	out := make(BatchResult, 0, len(req.Bindings))
	for _, b := range req.Bindings {
		out = append(out, bindOne(w, b, req.Now))
	}
	return out
}

func bindOne(w *writeTxn, b Binding, now v1.Time) Result {
	old, err := get(w.txn, "pods", b.Namespace, b.Name)
	if err != nil {
		return Result{Err: err}
	}
	p := old.Object().(*v1.Pod)
	if b.UID != "" && b.UID != p.UID {
		return Result{Err: v1.NewConflict("pods", b.Name, "the pod was replaced (uid changed)")}
	}
	if p.Spec.NodeName != "" {
		return Result{Err: v1.NewConflict("pods", b.Name, fmt.Sprintf("pod %s is already assigned to node %q", b.Name, p.Spec.NodeName))}
	}
	if p.DeletionTimestamp != nil {
		return Result{Err: v1.NewConflict("pods", b.Name, "the pod is being deleted")}
	}
	nodeRec, err := get(w.txn, "nodes", "", b.Node)
	if err != nil {
		return Result{Err: err}
	}
	// The scheduler decided on a view that may be stale, and several
	// decisions may land in one batch: re-check that the node still fits,
	// counting every pod bound to it so far, earlier bindings of this batch
	// included.
	if short := v1.Insufficient(v1.NodeAllocatable(nodeRec.Object().(*v1.Node)), nodeUsage(w, b.Node), v1.PodRequests(p)); len(short) > 0 {
		return Result{Err: v1.NewConflict("pods", b.Name, fmt.Sprintf("node %s no longer fits the pod: insufficient %s", b.Node, strings.Join(short, ", ")))}
	}
	if err := hostPortConflict(w, b.Node, p); err != nil {
		return Result{Err: err}
	}
	np := shallowCopy(p).(*v1.Pod)
	np.Spec.NodeName = b.Node
	np.Status.Conditions = v1.SetPodCondition(p.Status.Conditions, v1.PodCondition{
		Type: v1.PodScheduled, Status: v1.ConditionTrue, LastTransitionTime: now})
	return Result{Record: w.put("pods", v1.Modified, np, old)}
}

// nodeUsage sums the requests of the pods bound to a node that have not finished.
func nodeUsage(w *writeTxn, node string) v1.Requests {
	it, err := w.txn.Get("pods", indexNode, node)
	if err != nil {
		panic(fmt.Sprintf("fsm: pods on node %s: %v", node, err))
	}
	var used v1.Requests
	for raw := it.Next(); raw != nil; raw = it.Next() {
		if p := raw.(*Record).Object().(*v1.Pod); !p.Terminal() {
			used = used.Add(v1.PodRequests(p))
		}
	}
	return used
}
