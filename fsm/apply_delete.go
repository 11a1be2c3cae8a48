package fsm

import (
	"fmt"
	"slices"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
)

// applyDelete deletes one object as Kubernetes' generic registry does: a pod
// bound to a running node is first marked for its node to stop; an object
// with finalizers (or one the propagation policy gives the orphan or
// foregroundDeletion finalizer) gets a deletionTimestamp and stays until its
// finalizers are gone; anything else is removed at once, and the garbage
// collector on the leader then deals with its dependents.
func applyDelete(w *writeTxn, body []byte) any {
	var req DeleteRequest
	if res, ok := w.decode(body, &req); !ok {
		return res
	}
	switch req.Propagation {
	case "", v1.PropagationOrphan, v1.PropagationBackground, v1.PropagationForeground:
	default:
		return w.reject("unknown propagation policy %q", req.Propagation)
	}
	r := resourceOrSkew(w, req.Resource)
	old, err := w.get(r.Name, req.Namespace, req.Name)
	if err != nil {
		return Result{Err: err}
	}
	if err := deletePreconditions(r.Name, old, req.UID, req.ResourceVersion); err != nil {
		return Result{Err: err}
	}
	return Result{Record: deleteRecord(w, r, old, req.Propagation, req.GracePeriodSeconds, req.Now)}
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

// deleteRecord deletes old with a propagation policy ("" for the kind's
// default) and, for pods, a grace period override. It returns the object as
// it is left (marked) or as it was last stored (removed).
func deleteRecord(w *writeTxn, r v1.Resource, old *Record, policy string, grace *int64, now v1.Time) *Record {
	m := old.Meta()
	next := shallowCopy(old.Object())
	nm := next.GetObjectMeta()
	graceful := false
	if p, ok := next.(*v1.Pod); ok {
		var pending bool
		graceful, pending = podGrace(p, grace, now)
		if pending {
			// Already being deleted with a grace no longer than asked:
			// Kubernetes changes nothing, finalizers included.
			return old
		}
	}
	nm.Finalizers = deletionFinalizers(r, m.Finalizers, policy)
	pendingFinalizers := len(nm.Finalizers) > 0
	switch {
	case graceful && (pendingFinalizers || *nm.DeletionGracePeriodSeconds > 0):
	case pendingFinalizers:
		markAsDeleting(nm, now)
	case r.Name == "namespaces":
		return terminateNamespace(w, old, next.(*v1.Namespace), now)
	default:
		return w.remove(r.Name, old)
	}
	if r.Name == "namespaces" {
		return terminateNamespace(w, old, next.(*v1.Namespace), now)
	}
	if unchangedDeletion(nm, m) {
		return old
	}
	return w.put(r.Name, v1.Modified, next, old)
}

// podGrace applies a delete's grace period to p (a copy), as Kubernetes'
// BeforeDelete with the pod strategy: a pod no node runs (unbound or
// finished) has grace 0; a pod already being deleted may only have its grace
// shortened (its deletionTimestamp is then now plus the new grace, as orch's
// nodes read it). graceful reports that p was given a (new) deletionTimestamp and
// deletionGracePeriodSeconds; pending that p is already being deleted with a
// grace no longer than the one asked for.
func podGrace(p *v1.Pod, grace *int64, now v1.Time) (graceful, pending bool) {
	g := v1.DefaultTerminationGracePeriodSeconds
	if p.Spec.TerminationGracePeriodSeconds != nil {
		g = *p.Spec.TerminationGracePeriodSeconds
	}
	if grace != nil {
		g = *grace
	}
	g = max(min(g, v1.MaxSeconds), 0) // the API bounds it; an older entry may not have been
	if p.Spec.NodeName == "" || p.Status.Phase == v1.PodSucceeded || p.Status.Phase == v1.PodFailed {
		g = 0
	}
	if p.DeletionTimestamp != nil {
		cur := p.DeletionGracePeriodSeconds
		if cur == nil || *cur == 0 {
			return false, false
		}
		if g >= *cur {
			return false, true
		}
	}
	ts := v1.NewTime(now.Add(time.Duration(g) * time.Second))
	p.DeletionTimestamp, p.DeletionGracePeriodSeconds = &ts, &g
	return true, false
}

// deletionFinalizers returns the finalizers an object keeps when it is
// deleted with policy, as Kubernetes' deletionFinalizersForGarbageCollection:
// the orphan and foregroundDeletion finalizers follow the policy, or, with
// none, the finalizers the object already has, or else the kind's default
// (Orphan for a ReplicationController and a Job, as core/v1 and batch/v1
// keep it for backward compatibility; Background for everything else). Other finalizers stay.
func deletionFinalizers(r v1.Resource, have []string, policy string) []string {
	if policy == "" {
		for _, f := range have {
			switch f {
			case v1.FinalizerOrphanDependents:
				policy = v1.PropagationOrphan
			case v1.FinalizerDeleteDependents:
				policy = v1.PropagationForeground
			}
			if policy != "" {
				break
			}
		}
	}
	if policy == "" {
		policy = DefaultPropagation(r)
	}
	out := make([]string, 0, len(have)+1)
	for _, f := range have {
		if f != v1.FinalizerOrphanDependents && f != v1.FinalizerDeleteDependents {
			out = append(out, f)
		}
	}
	switch policy {
	case v1.PropagationOrphan:
		out = append(out, v1.FinalizerOrphanDependents)
	case v1.PropagationForeground:
		out = append(out, v1.FinalizerDeleteDependents)
	}
	if sameSet(out, have) {
		return have
	}
	return out
}

// DefaultPropagation is the propagation policy of a delete that names none
// (Kubernetes' DefaultGarbageCollectionPolicy of the kind's strategy).
func DefaultPropagation(r v1.Resource) string {
	switch {
	case r.Group == "" && r.Name == "replicationcontrollers", r.Group == v1.BatchGroup && r.Name == "jobs":
		// core/v1 and batch/v1 keep Orphan for backward compatibility.
		return v1.PropagationOrphan
	}
	return v1.PropagationBackground
}

func sameSet(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// markAsDeleting gives an object that cannot go yet (it has finalizers) its
// deletionTimestamp, as Kubernetes' markAsDeleting: now, unless it already
// has an earlier one; a grace period of 0; and a new generation the first
// time (pods keep theirs: their deletion is graceful and never bumps it).
func markAsDeleting(m *v1.ObjectMeta, now v1.Time) {
	if m.DeletionTimestamp == nil && m.Generation > 0 && m.DeletionGracePeriodSeconds == nil {
		m.Generation++
	}
	if m.DeletionTimestamp == nil || m.DeletionTimestamp.After(now.Time) {
		ts := now
		m.DeletionTimestamp = &ts
	}
	zero := int64(0)
	m.DeletionGracePeriodSeconds = &zero
}

// unchangedDeletion reports whether a marked object is what was stored: the
// same finalizers, deletionTimestamp and grace period.
func unchangedDeletion(m, old *v1.ObjectMeta) bool {
	sameTS := (m.DeletionTimestamp == nil) == (old.DeletionTimestamp == nil) &&
		(m.DeletionTimestamp == nil || m.DeletionTimestamp.Equal(old.DeletionTimestamp.Time))
	sameGrace := (m.DeletionGracePeriodSeconds == nil) == (old.DeletionGracePeriodSeconds == nil) &&
		(m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds == *old.DeletionGracePeriodSeconds)
	return sameTS && sameGrace && slices.Equal(m.Finalizers, old.Finalizers) && m.Generation == old.Generation
}

// terminateNamespace marks a namespace Terminating (next is old's copy with
// its finalizers decided). Its content is deleted by the namespace
// controller on the leader; the namespace goes once nothing is left in it
// and it has no finalizers, at once if that is already so.
func terminateNamespace(w *writeTxn, old *Record, next *v1.Namespace, now v1.Time) *Record {
	markAsDeleting(&next.ObjectMeta, now)
	next.Status.Phase = v1.NamespaceTerminating
	if namespaceFinished(w, next) {
		return w.remove("namespaces", old)
	}
	if unchangedDeletion(&next.ObjectMeta, old.Meta()) && old.Object().(*v1.Namespace).Status.Phase == v1.NamespaceTerminating {
		return old
	}
	return w.put("namespaces", v1.Modified, next, old)
}

// namespaceFinished reports whether a terminating namespace may go: nothing
// is left in it, and neither its metadata nor its spec has finalizers (the
// spec's "kubernetes" finalizer stands for the content, and the namespace
// controller removes it once the namespace is empty).
func namespaceFinished(w *writeTxn, ns *v1.Namespace) bool {
	if ns.DeletionTimestamp == nil || len(ns.Finalizers) > 0 {
		return false
	}
	for _, f := range ns.Spec.Finalizers {
		if f != v1.FinalizerKubernetes {
			return false
		}
	}
	return namespaceEmpty(w, ns.Name)
}

// namespaceEmpty reports whether no namespaced object is left in ns.
func namespaceEmpty(w *writeTxn, ns string) bool {
	for _, res := range v1.Resources() {
		if !res.Namespaced {
			continue
		}
		raw, err := w.txn.First(res.Name, indexID+"_prefix", ns+"/")
		if err != nil {
			panic(fmt.Sprintf("fsm: list %s in %s: %v", res.Name, ns, err))
		}
		if raw != nil {
			return false
		}
	}
	return true
}

// maybeFinishNamespace removes a terminating namespace once it may go; the
// FSM calls it whenever an object of the namespace is removed.
func maybeFinishNamespace(w *writeTxn, name string) {
	rec, err := w.get("namespaces", "", name)
	if err != nil {
		return
	}
	ns := rec.Object().(*v1.Namespace)
	if ns.Status.Phase == v1.NamespaceTerminating && namespaceFinished(w, ns) {
		w.remove("namespaces", rec)
	}
}

// finishOnUpdate removes an object that an update left without finalizers
// while it is being deleted, as Kubernetes' ShouldDeleteDuringUpdate: once
// its grace period is over (0 or none; a pod also when no node runs it), and
// for a namespace once it is empty. It reports whether it removed it; final
// is what the delete event carries.
func finishOnUpdate(w *writeTxn, r v1.Resource, old *Record, final v1.Object) (*Record, bool) {
	m := final.GetObjectMeta()
	if m.DeletionTimestamp == nil || len(m.Finalizers) > 0 {
		return nil, false
	}
	switch o := final.(type) {
	case *v1.Pod:
		graceOver := m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds == 0
		if !graceOver && o.Spec.NodeName != "" && !o.Terminal() {
			return nil, false
		}
	case *v1.Namespace:
		if !namespaceFinished(w, o) {
			return nil, false
		}
	default:
		if g := m.DeletionGracePeriodSeconds; g != nil && *g != 0 {
			return nil, false
		}
	}
	return w.removeAs(r.Name, old, final), true
}

// checkFinalizersUpdate refuses, as Kubernetes' ValidateObjectMetaUpdate, an
// update that adds finalizers to an object being deleted. (The
// deletionTimestamp and grace period themselves are carried over from the
// stored object, as Kubernetes' BeforeUpdate does.)
func checkFinalizersUpdate(kind string, m, old *v1.ObjectMeta) error {
	if old.DeletionTimestamp == nil {
		return nil
	}
	var extra []string
	for _, f := range m.Finalizers {
		if !slices.Contains(old.Finalizers, f) && !slices.Contains(extra, f) {
			extra = append(extra, f)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	slices.Sort(extra)
	quoted := make([]string, len(extra))
	for i, f := range extra {
		quoted[i] = fmt.Sprintf("%q", f)
	}
	return v1.NewInvalid(kind, m.Name, []v1.StatusCause{{Type: "FieldValueForbidden", Field: "metadata.finalizers",
		Message: fmt.Sprintf("metadata.finalizers: Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{%s}",
			strings.Join(quoted, ", "))}})
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
