package fsm

import (
	"time"

	v1 "orch.io/orch/api/v1"
)

// applyLegacyDelete applies a LegacyDeleteCommand as orch did before
// finalizers and the garbage collector, so that entries written then mean on
// replay what they meant when they were acknowledged: finalizers are not
// looked at, an RC's delete deletes (or, with Orphan, releases) its pods,
// and a namespace's delete removes its content at once.
func applyLegacyDelete(w *writeTxn, body []byte) any {
	var req DeleteRequest
	if res, ok := w.decode(body, &req); !ok {
		return res
	}
	r := resourceOrSkew(w, req.Resource)
	old, err := w.get(r.Name, req.Namespace, req.Name)
	if err != nil {
		return Result{Err: err}
	}
	if err := deletePreconditions(r.Name, old, req.UID, req.ResourceVersion); err != nil {
		return Result{Err: err}
	}
	switch r.Name {
	case "pods":
		return Result{Record: legacyDeletePod(w, old, req.GracePeriodSeconds, req.Now)}
	case "namespaces":
		return Result{Record: legacyDeleteNamespace(w, old, req.Now)}
	case "replicationcontrollers":
		rec := w.remove(r.Name, old)
		legacyCascadeRC(w, old.Object().(*v1.ReplicationController), req.Propagation == v1.PropagationOrphan, req.Now)
		return Result{Record: rec}
	}
	return Result{Record: w.remove(r.Name, old)}
}

// legacyDeletePod removes a pod at once when no node runs it (unbound,
// finished, or grace 0); otherwise it marks the pod with a deletionTimestamp
// for its node to stop it. Its removal finishes a terminating namespace
// (writeTxn.removeAs).
func legacyDeletePod(w *writeTxn, old *Record, grace *int64, now v1.Time) *Record {
	rec, _ := legacyMarkOrRemovePod(w, old, grace, now)
	return rec
}

// legacyMarkOrRemovePod is legacyDeletePod, reporting whether it removed the pod.
func legacyMarkOrRemovePod(w *writeTxn, old *Record, grace *int64, now v1.Time) (rec *Record, removed bool) {
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

// legacyDeleteNamespace deletes everything in the namespace; the namespace
// itself goes when its last pod is gone, and is Terminating until then.
func legacyDeleteNamespace(w *writeTxn, old *Record, now v1.Time) *Record {
	ns := old.Object().(*v1.Namespace)
	w.legacyNamespace = true
	defer func() { w.legacyNamespace = false }()
	for _, res := range v1.Resources() {
		if !res.Namespaced {
			continue
		}
		for _, rec := range namespaceRecords(w, res.Name, ns.Name) {
			if res.Name == "pods" {
				legacyMarkOrRemovePod(w, rec, nil, now)
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

// legacyCascadeRC deletes the pods an RC controlled, or releases them (orphan).
func legacyCascadeRC(w *writeTxn, rc *v1.ReplicationController, orphan bool, now v1.Time) {
	for _, rec := range namespaceRecords(w, "pods", rc.Namespace) {
		ref := rec.Meta().ControllerRef()
		if ref == nil || ref.UID != rc.UID {
			continue
		}
		if !orphan {
			legacyDeletePod(w, rec, nil, now)
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
