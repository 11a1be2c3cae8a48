package apiserver

import (
	"fmt"
	"reflect"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/managedfields"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"
	"sigs.k8s.io/structured-merge-diff/v6/typed"
	"sigs.k8s.io/structured-merge-diff/v6/value"

	v1 "orch.io/orch/api/v1"
)

// trackedObject is a stored or written object as the field manager takes
// it from trackUpdate and appliedObject: its content unstructured, without
// metadata.managedFields, and its managedFields typed beside it.
//
// An *unstructured.Unstructured keeps managedFields inside its map, so
// each GetManagedFields and SetManagedFields converts every entry, and the
// JSON of its fields, through reflection; a write would pay that four
// times over on top of the merge. Through a trackedObject the field
// manager reads and writes the entries as they are, and its type
// converter (trackedConverter) reads the content as it reads an
// Unstructured's. The merge ignores metadata.managedFields either way (the
// field manager strips it from every field set), so leaving it out of the
// content changes nothing.
type trackedObject struct {
	*unstructured.Unstructured
	managed []metav1.ManagedFieldsEntry
}

// newTrackedObject converts obj, which it leaves alone, to the form the
// field manager takes: the content as its JSON would decode (integers as
// int64), converted by reflection without the JSON, and the managedFields
// entry by entry.
func newTrackedObject(obj v1.Object) (*trackedObject, error) {
	managed := managedFieldsToK8s(obj.GetObjectMeta().ManagedFields)
	content := obj
	if managed != nil {
		// Convert a shallow copy without managedFields: the stored
		// object may be read concurrently and is never changed.
		content = shallowCopy(obj)
		content.GetObjectMeta().ManagedFields = nil
	}
	m, err := runtime.DefaultUnstructuredConverter.ToUnstructured(content)
	if err != nil {
		return nil, fmt.Errorf("convert %s for the field manager: %w", v1.KindOf(obj), err)
	}
	u := &unstructured.Unstructured{Object: m}
	return &trackedObject{Unstructured: u, managed: managed}, nil
}

// shallowCopy is a copy of obj's struct, sharing everything it points to.
func shallowCopy(obj v1.Object) v1.Object {
	v := reflect.ValueOf(obj).Elem()
	c := reflect.New(v.Type())
	c.Elem().Set(v)
	return c.Interface().(v1.Object)
}

// GetManagedFields implements metav1.Object.
func (o *trackedObject) GetManagedFields() []metav1.ManagedFieldsEntry { return o.managed }

// SetManagedFields implements metav1.Object.
func (o *trackedObject) SetManagedFields(m []metav1.ManagedFieldsEntry) { o.managed = m }

// trackedConverter is a type converter that reads a trackedObject's
// content as the one it wraps reads an Unstructured's: as unstructured
// values (structured-merge-diff would otherwise walk the map by
// reflection).
//
// A trackedObject's content is not validated against the schema, as an
// Unstructured's is: it is a typed orch object converted by reflection,
// whose fields are the schema's by construction (the OpenAPI document is
// generated from the same types), so the validating walk could only
// repeat what the merge's own walk checks (list items' keys), and it was
// a tenth of a create's CPU. Objects from clients (apply patches) are
// Unstructured and validated as before.
type trackedConverter struct {
	managedfields.TypeConverter
	// validate validates trackedObjects too (tests compare both ways).
	validate bool
	// types holds the schema and type of each kind (a schema.GroupVersionKind
	// to a trackedType), taken from the wrapped converter.
	types *sync.Map
}

// trackedType is the schema and type of a kind.
type trackedType struct {
	schema  *smdschema.Schema
	typeRef smdschema.TypeRef
	// skeleton: the kind's metadata is as skeletonKey takes it.
	skeleton bool
}

func newTrackedConverter(tc managedfields.TypeConverter) trackedConverter {
	return trackedConverter{TypeConverter: tc, types: &sync.Map{}}
}

// ObjectToTyped implements managedfields.TypeConverter.
func (c trackedConverter) ObjectToTyped(obj runtime.Object, opts ...typed.ValidationOptions) (*typed.TypedValue, error) {
	o, ok := obj.(*trackedObject)
	if !ok {
		return c.TypeConverter.ObjectToTyped(obj, opts...)
	}
	if c.validate {
		return c.TypeConverter.ObjectToTyped(o.Unstructured, opts...)
	}
	t, err := c.typeOf(o.GroupVersionKind())
	if err != nil {
		return nil, err
	}
	return typed.AsTypedUnvalidated(value.NewValueInterface(o.Unstructured.Object), t.schema, t.typeRef), nil
}

// typeOf is the schema and type of a kind, as the wrapped converter
// types an empty object of it.
func (c trackedConverter) typeOf(gvk schema.GroupVersionKind) (trackedType, error) {
	if t, ok := c.types.Load(gvk); ok {
		return t.(trackedType), nil
	}
	empty := &unstructured.Unstructured{Object: map[string]any{}}
	empty.SetGroupVersionKind(gvk)
	tv, err := c.TypeConverter.ObjectToTyped(empty)
	if err != nil {
		return trackedType{}, err
	}
	t := trackedType{schema: tv.Schema(), typeRef: tv.TypeRef()}
	t.skeleton = skeletonFits(t.schema, t.typeRef)
	c.types.Store(gvk, t)
	return t, nil
}

// DeepCopyObject implements runtime.Object.
func (o *trackedObject) DeepCopyObject() runtime.Object {
	c := &trackedObject{Unstructured: o.Unstructured.DeepCopy()}
	if o.managed != nil {
		c.managed = make([]metav1.ManagedFieldsEntry, len(o.managed))
		for i := range o.managed {
			o.managed[i].DeepCopyInto(&c.managed[i])
		}
	}
	return c
}

// managedFieldsToK8s converts orch's entries to apimachinery's as their
// JSON would decode: nil stays nil and an empty list (a reset) empty; a
// null time or fieldsV1 is left out.
func managedFieldsToK8s(in []v1.ManagedFieldsEntry) []metav1.ManagedFieldsEntry {
	if in == nil {
		return nil
	}
	out := make([]metav1.ManagedFieldsEntry, len(in))
	for i, e := range in {
		out[i] = metav1.ManagedFieldsEntry{Manager: e.Manager, Operation: metav1.ManagedFieldsOperationType(e.Operation),
			APIVersion: e.APIVersion, FieldsType: e.FieldsType, Subresource: e.Subresource}
		if e.Time != nil && !e.Time.IsZero() {
			out[i].Time = &metav1.Time{Time: e.Time.Time}
		}
		if e.FieldsV1 != nil && len(e.FieldsV1.Raw) > 0 {
			out[i].FieldsV1 = &metav1.FieldsV1{Raw: e.FieldsV1.Raw}
		}
	}
	return out
}

// managedFieldsFromK8s converts the field manager's entries to orch's as
// their JSON would decode: times in UTC to the second, as metav1.Time
// writes them; no entries is nil.
func managedFieldsFromK8s(in []metav1.ManagedFieldsEntry) []v1.ManagedFieldsEntry {
	if len(in) == 0 {
		return nil
	}
	out := make([]v1.ManagedFieldsEntry, len(in))
	for i, e := range in {
		out[i] = v1.ManagedFieldsEntry{Manager: e.Manager, Operation: string(e.Operation),
			APIVersion: e.APIVersion, FieldsType: e.FieldsType, Subresource: e.Subresource}
		if e.Time != nil && !e.Time.IsZero() {
			t := v1.NewTime(e.Time.Time)
			out[i].Time = &t
		}
		if e.FieldsV1 != nil && len(e.FieldsV1.Raw) > 0 {
			out[i].FieldsV1 = &v1.FieldsV1{Raw: e.FieldsV1.Raw}
		}
	}
	return out
}
