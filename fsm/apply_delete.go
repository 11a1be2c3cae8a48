package fsm

import (
	"fmt"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
)

func applyDelete(w *writeTxn, body []byte) any {
	var req DeleteRequest
	if res, ok := w.decode(body, &req); !ok {
		return res
	}
	r := resourceOrSkew(w, req.Resource)
	old, err := get(w.txn, r.Name, req.Namespace, req.Name)
	if err != nil {
		return Result{Err: err}
	}
	if err := deletePreconditions(r.Name, old, req.UID, req.ResourceVersion); err != nil {
		return Result{Err: err}
	}
	switch r.Name {
	case "pods":
		return Result{Record: deletePod(w, old, req.GracePeriodSeconds, req.Now)}
	case "namespaces":
		return Result{Record: deleteNamespace(w, old, req.Now)}
	case "replicationcontrollers":
		rec := w.remove(r.Name, old)
		cascadeRC(w, old.Object().(*v1.ReplicationController), req.Propagation == v1.PropagationOrphan, req.Now)
		return Result{Record: rec}
	case "jobs":
		return Result{Record: deleteJob(w, old, req.Propagation, req.Now)}
	}
	return Result{Record: w.remove(r.Name, old)}
}

// deletePreconditions checks a delete's preconditions against the stored
// object. A failed one is a Conflict that names the precondition and both
// values, in Kubernetes' words for a delete (an update's stale
// resourceVersion says "the object has been modified" instead).
func deletePreconditions(resource string, old *Record, uid, rv string) error {
	m := old.Meta()
	if uid != "" && uid != m.UID {
		return v1.NewConflict(resource, m.Name, fmt.Sprintf("the UID in the precondition (%s) does not match the UID in record (%s). "+
			"The object might have been deleted and then recreated", uid, m.UID))
	}
	if rv != "" && rv != m.ResourceVersion {
		return v1.NewConflict(resource, m.Name, fmt.Sprintf("the ResourceVersion in the precondition (%s) does not match the ResourceVersion in record (%s). "+
			"The object might have been modified", rv, m.ResourceVersion))
	}
	return nil
}

// deletePod removes a pod at once when no node runs it (unbound, finished, or
// grace 0); otherwise it marks the pod with a deletionTimestamp for its node
// to stop it, as Kubernetes does. A shorter grace shortens a running deletion.
func deletePod(w *writeTxn, old *Record, grace *int64, now v1.Time) *Record {
	rec, removed := markOrRemovePod(w, old, grace, now)
	if removed {
		maybeFinishNamespace(w, old.Meta().Namespace)
	}
	return rec
}

// markOrRemovePod is deletePod without finishing a terminating namespace, for
// deleteNamespace, which finishes the namespace itself.
func markOrRemovePod(w *writeTxn, old *Record, grace *int64, now v1.Time) (rec *Record, removed bool) {
	p := old.Object().(*v1.Pod)
	g := v1.DefaultTerminationGracePeriodSeconds
	if p.Spec.TerminationGracePeriodSeconds != nil {
		g = *p.Spec.TerminationGracePeriodSeconds
	}
	if grace != nil {
		g = *grace
	}
	g = min(g, v1.MaxSeconds) // the API bounds it; an older entry may not have been

	finished := p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed
	if p.Spec.NodeName == "" || finished || g <= 0 {
		return w.remove("pods", old), true
	}
	if cur := p.DeletionGracePeriodSeconds; cur != nil && *cur <= g {
		return old, false
	}
	np := shallowCopy(p).(*v1.Pod)
	ts := v1.NewTime(now.Add(time.Duration(g) * time.Second))
	np.DeletionTimestamp = &ts
	np.DeletionGracePeriodSeconds = &g
	return w.put("pods", v1.Modified, np, old), false
}

// deleteNamespace deletes everything in the namespace; the namespace itself
// goes when its last pod is gone, and is Terminating until then.
func deleteNamespace(w *writeTxn, old *Record, now v1.Time) *Record {
	ns := old.Object().(*v1.Namespace)
	for _, res := range v1.Resources() {
		if !res.Namespaced {
			continue
		}
		for _, rec := range namespaceRecords(w, res.Name, ns.Name) {
			if res.Name == "pods" {
				// Not deletePod: on a namespace that is already Terminating it
				// would remove the namespace under us when its last pod goes.
				markOrRemovePod(w, rec, nil, now)
			} else {
				w.remove(res.Name, rec)
			}
		}
	}
	if len(namespaceRecords(w, "pods", ns.Name)) == 0 {
		return w.remove("namespaces", old)
	}
	nn := shallowCopy(ns).(*v1.Namespace)
	nn.Status = v1.NamespaceStatus{Phase: v1.NamespaceTerminating}
	ts := now
	nn.DeletionTimestamp = &ts
	return w.put("namespaces", v1.Modified, nn, old)
}

// maybeFinishNamespace removes a terminating namespace once it is empty.
func maybeFinishNamespace(w *writeTxn, name string) {
	rec, err := get(w.txn, "namespaces", "", name)
	if err != nil || rec.Object().(*v1.Namespace).Status.Phase != v1.NamespaceTerminating {
		return
	}
	if len(namespaceRecords(w, "pods", name)) == 0 {
		w.remove("namespaces", rec)
	}
}

func namespaceRecords(w *writeTxn, resource, ns string) []*Record {
	it, err := w.txn.Get(resource, indexID+"_prefix", ns+"/")
	if err != nil {
		panic(fmt.Sprintf("fsm: list %s in %s: %v", resource, ns, err))
	}
	var out []*Record
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*Record))
	}
	return out
}

// cascadeRC deletes the pods an RC controlled, or releases them (orphan).
func cascadeRC(w *writeTxn, rc *v1.ReplicationController, orphan bool, now v1.Time) {
	for _, rec := range namespaceRecords(w, "pods", rc.Namespace) {
		ref := rec.Meta().ControllerRef()
		if ref == nil || ref.UID != rc.UID {
			continue
		}
		if !orphan {
			deletePod(w, rec, nil, now)
			continue
		}
		p := shallowCopy(rec.Object()).(*v1.Pod)
		var refs []v1.OwnerReference
		for _, o := range p.OwnerReferences {
			if o.UID != rc.UID {
				refs = append(refs, o)
			}
		}
		p.OwnerReferences = refs
		w.put("pods", v1.Modified, p, rec)
	}
}

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
