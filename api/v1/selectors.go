package v1

import (
	"fmt"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
)

// ParseLabelSelector parses a label selector in Kubernetes syntax:
//
//	selector   = requirement ("," requirement)*
//	requirement = key ("=" | "==" | "!=") value
//	            | key ("in" | "notin") "(" value ("," value)* ")"
//	            | key | "!" key
//
// An empty string selects everything.
func ParseLabelSelector(s string) (labels.Selector, error) {
	sel, err := labels.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("invalid label selector %q: %w", s, err)
	}
	return sel, nil
}

// SelectorFromMap returns the equality selector of a map (as RCs and Services use).
// A nil or empty map selects nothing, as Kubernetes' RC and Service do.
func SelectorFromMap(m map[string]string) labels.Selector {
	if len(m) == 0 {
		return labels.Nothing()
	}
	return labels.SelectorFromSet(labels.Set(m))
}

// FieldSelector is a parsed field selector restricted to the fields orch indexes.
type FieldSelector struct {
	sel fields.Selector
	// NodeName is set when the selector requires spec.nodeName=X, so the store
	// can use its pods-by-node index.
	NodeName    string
	HasNodeName bool
}

// supportedFields lists the fields a field selector may name, per kind.
var supportedFields = map[string][]string{
	"Pod":   {"metadata.name", "metadata.namespace", "spec.nodeName", "status.phase", "status.podIP"},
	"":      {"metadata.name", "metadata.namespace"},
	"Event": eventSelectableFields,
}

// ParseFieldSelector parses a field selector such as "spec.nodeName=n1" for a kind.
func ParseFieldSelector(kind, s string) (*FieldSelector, error) {
	sel, err := fields.ParseSelector(s)
	if err != nil {
		return nil, fmt.Errorf("invalid field selector %q: %w", s, err)
	}
	allowed := supportedFields[kind]
	if allowed == nil {
		allowed = supportedFields[""]
	}
	fs := &FieldSelector{sel: sel}
	for _, req := range sel.Requirements() {
		ok := false
		for _, f := range allowed {
			if req.Field == f {
				ok = true
			}
		}
		if !ok {
			return nil, fmt.Errorf("field label %q is not supported for %s (supported: %v)", req.Field, kind, allowed)
		}
		if req.Field == "spec.nodeName" && req.Operator == "=" || req.Field == "spec.nodeName" && req.Operator == "==" {
			fs.NodeName, fs.HasNodeName = req.Value, true
		}
	}
	return fs, nil
}

// ExactMatch returns the value the selector requires of field (field=value
// or field==value), if it requires one.
func (f *FieldSelector) ExactMatch(field string) (string, bool) {
	if f == nil {
		return "", false
	}
	return f.sel.RequiresExactMatch(field)
}

// Matches reports whether obj matches the selector.
func (f *FieldSelector) Matches(obj Object) bool {
	if f == nil || f.sel.Empty() {
		return true
	}
	return f.sel.Matches(objectFields(obj))
}

func objectFields(obj Object) fields.Set {
	m := obj.GetObjectMeta()
	set := fields.Set{"metadata.name": m.Name, "metadata.namespace": m.Namespace}
	if p, ok := obj.(*Pod); ok {
		set["spec.nodeName"] = p.Spec.NodeName
		set["status.phase"] = p.Status.Phase
		set["status.podIP"] = p.Status.PodIP
	}
	if e, ok := obj.(*Event); ok {
		eventFields(e, set)
	}
	return set
}
