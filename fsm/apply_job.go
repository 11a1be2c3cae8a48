package fsm

import (
	v1 "orch.io/orch/api/v1"
)

// deleteJob removes a Job and deletes the pods it controls, or releases
// them. As in Kubernetes, a Job's dependents are orphaned unless the
// delete asks for Background or Foreground propagation (kubectl asks for
// Background): batch/v1 keeps that default for compatibility.
func deleteJob(w *writeTxn, old *Record, propagation string, now v1.Time) *Record {
	rec := w.remove("jobs", old)
	j := old.Object().(*v1.Job)
	orphan := propagation == "" || propagation == v1.PropagationOrphan
	for _, p := range namespaceRecords(w, "pods", j.Namespace) {
		ref := p.Meta().ControllerRef()
		if ref == nil || ref.UID != j.UID {
			continue
		}
		if !orphan {
			deletePod(w, p, nil, now)
			continue
		}
		q := shallowCopy(p.Object()).(*v1.Pod)
		var refs []v1.OwnerReference
		for _, o := range q.OwnerReferences {
			if o.UID != j.UID {
				refs = append(refs, o)
			}
		}
		q.OwnerReferences = refs
		w.put("pods", v1.Modified, q, p)
	}
	return rec
}

// jobImmutable re-checks, against the Job at apply time, the fields an
// update may not change (the API checked them against the Job it read):
// the selector, the template and the completion mode.
func jobImmutable(next, old *v1.Job) error {
	for _, f := range []struct {
		name     string
		now, was any
	}{
		{"spec.selector", next.Spec.Selector, old.Spec.Selector},
		{"spec.template", next.Spec.Template, old.Spec.Template},
		{"spec.completionMode", next.Spec.CompletionMode, old.Spec.CompletionMode},
	} {
		if !v1.JSONEqual(f.now, f.was) {
			return v1.NewInvalid("Job", next.Name, []v1.StatusCause{{Type: "FieldValueInvalid", Field: f.name,
				Message: f.name + ": Invalid value: field is immutable"}})
		}
	}
	return nil
}
