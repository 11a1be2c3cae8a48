package fsm

import (
	v1 "orch.io/orch/api/v1"
)

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
