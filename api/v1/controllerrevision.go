package v1

import (
	"strings"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ControllerRevision is an immutable snapshot of a controller's state, as
// Kubernetes' apps/v1 kind: DaemonSets and StatefulSets keep one per
// template they have run (named <controller>-<hash>, owned by the
// controller), and `kubectl rollout history|undo` read them.
type ControllerRevision struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Data is the serialized state of the revision (for DaemonSets and
	// StatefulSets, a patch holding the pod template). It is stored and
	// returned as written; it may not change after create.
	Data runtime.RawExtension `json:"data,omitempty"`
	// Revision is the revision's number among its controller's revisions.
	Revision int64 `json:"revision"`
}

// validateControllerRevision is Kubernetes' ValidateControllerRevisionCreate:
// data is mandatory and the revision is not negative.
func validateControllerRevision(cr *ControllerRevision) field.ErrorList {
	var errs field.ErrorList
	if rawEmpty(cr.Data) {
		errs = append(errs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	if cr.Revision < 0 {
		errs = append(errs, field.Invalid(field.NewPath("revision"), cr.Revision, "must be greater than or equal to 0"))
	}
	return errs
}

// validateControllerRevisionUpdate is the immutability half of Kubernetes'
// ValidateControllerRevisionUpdate: data may not change.
func validateControllerRevisionUpdate(cr, old *ControllerRevision) field.ErrorList {
	if !JSONEqual(cr.Data, old.Data) {
		return field.ErrorList{field.Invalid(field.NewPath("data"), string(cr.Data.Raw), "field is immutable")}
	}
	return nil
}

// rawEmpty reports whether a RawExtension holds no value (absent or null).
func rawEmpty(r runtime.RawExtension) bool {
	t := strings.TrimSpace(string(r.Raw))
	return r.Object == nil && (t == "" || t == "null")
}
