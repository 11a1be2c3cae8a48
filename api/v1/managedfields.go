package v1

import (
	"bytes"
	"errors"
)

// The operations a ManagedFieldsEntry records, as Kubernetes names them.
const (
	ManagedFieldsOperationApply  = "Apply"
	ManagedFieldsOperationUpdate = "Update"
)

// ManagedFieldsEntry is a workflow-id, a FieldSet and the group version of
// the resource that the fieldset applies to, as in Kubernetes' metav1.
type ManagedFieldsEntry struct {
	// Manager is an identifier of the workflow managing these fields.
	Manager string `json:"manager,omitempty"`
	// Operation is the type of operation which lead to this
	// ManagedFieldsEntry being created. The only valid values for this
	// field are 'Apply' and 'Update'.
	Operation string `json:"operation,omitempty"`
	// APIVersion defines the version of this resource that this field set
	// applies to.
	APIVersion string `json:"apiVersion,omitempty"`
	// Time is the timestamp of when the ManagedFields entry was added.
	Time *Time `json:"time,omitempty"`
	// FieldsType is the discriminator for the different fields format and
	// version. There is currently only one possible value: "FieldsV1".
	FieldsType string `json:"fieldsType,omitempty"`
	// FieldsV1 holds the first JSON version format as described in the
	// "FieldsV1" type.
	FieldsV1 *FieldsV1 `json:"fieldsV1,omitempty"`
	// Subresource is the name of the subresource used to update that
	// object, or empty string if the object was updated through the main
	// resource.
	Subresource string `json:"subresource,omitempty"`
}

// FieldsV1 stores a set of fields in a data structure like a Trie, in
// JSON format, as Kubernetes' metav1.FieldsV1 does: a JSON object kept
// as its bytes.
type FieldsV1 struct {
	// Raw is the JSON object.
	Raw []byte `json:"-"`
}

// MarshalJSON implements json.Marshaler.
func (f FieldsV1) MarshalJSON() ([]byte, error) {
	if len(f.Raw) == 0 {
		return []byte("null"), nil
	}
	return f.Raw, nil
}

// UnmarshalJSON implements json.Unmarshaler: the value must be a JSON
// object (or null). The decoder has checked that b is valid JSON, as
// json.Unmarshaler promises, so it is not scanned again: fieldsV1 is much
// of an object's bytes, and an object is decoded several times a write.
func (f *FieldsV1) UnmarshalJSON(b []byte) error {
	t := bytes.TrimSpace(b)
	if string(t) == "null" {
		f.Raw = nil
		return nil
	}
	if len(t) == 0 || t[0] != '{' {
		return errors.New("fieldsV1 must be a JSON object")
	}
	f.Raw = append(f.Raw[:0], t...)
	return nil
}
