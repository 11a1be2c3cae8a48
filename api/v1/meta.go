package v1

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// APIVersion is the apiVersion of every orch core object.
const APIVersion = "v1"

// TypeMeta names an object's kind and API version.
type TypeMeta struct {
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
}

// GetTypeMeta returns the object's TypeMeta for in-place changes.
func (t *TypeMeta) GetTypeMeta() *TypeMeta { return t }

// ObjectMeta is the metadata every stored object carries.
type ObjectMeta struct {
	Name              string `json:"name,omitempty"`
	GenerateName      string `json:"generateName,omitempty"`
	Namespace         string `json:"namespace,omitempty"`
	UID               string `json:"uid,omitempty"`
	ResourceVersion   string `json:"resourceVersion,omitempty"`
	Generation        int64  `json:"generation,omitempty"`
	CreationTimestamp Time   `json:"creationTimestamp,omitempty"`
	DeletionTimestamp *Time  `json:"deletionTimestamp,omitempty"`
	// DeletionGracePeriodSeconds is how long the node may take to stop a
	// pod that is being deleted.
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
	OwnerReferences            []OwnerReference  `json:"ownerReferences,omitempty" patchStrategy:"merge" patchMergeKey:"uid"`
	Finalizers                 []string          `json:"finalizers,omitempty" patchStrategy:"merge"`
	// ManagedFields maps workflow-id and version to the set of fields that
	// are managed by that workflow, as server-side apply keeps it. The API
	// server writes it on every create, update, patch and apply.
	ManagedFields []ManagedFieldsEntry `json:"managedFields,omitempty"`
}

// GetObjectMeta returns the object's metadata for in-place changes.
func (m *ObjectMeta) GetObjectMeta() *ObjectMeta { return m }

// ResourceVersionIndex returns the resourceVersion as the Raft index it is,
// or 0 when it is empty or malformed.
func (m *ObjectMeta) ResourceVersionIndex() uint64 {
	n, err := strconv.ParseUint(m.ResourceVersion, 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// SetResourceVersionIndex sets the resourceVersion from a Raft index.
func (m *ObjectMeta) SetResourceVersionIndex(index uint64) {
	m.ResourceVersion = strconv.FormatUint(index, 10)
}

// OwnerReference points from a dependent object to its owner.
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// ControllerRef returns the owner reference marked as controller, or nil.
func (m *ObjectMeta) ControllerRef() *OwnerReference {
	for i := range m.OwnerReferences {
		if c := m.OwnerReferences[i].Controller; c != nil && *c {
			return &m.OwnerReferences[i]
		}
	}
	return nil
}

// Time is a timestamp that encodes as RFC 3339 with second precision, as
// Kubernetes' metav1.Time does; the zero value encodes as null.
type Time struct {
	time.Time
}

// NewTime wraps t, truncated to seconds as it would be after a round trip.
func NewTime(t time.Time) Time { return Time{t.UTC().Truncate(time.Second)} }

// Times are kept within the years RFC 3339 can write: 0001 to 9999, in UTC.
// A time whose offset moves it out of that range once converted to UTC
// ("9999-12-31T23:59:59-23:59") is refused when decoded, so it can never be
// stored as a year that no decoder reads back.
const (
	minTimeYear = 1
	maxTimeYear = 9999
)

// MarshalJSON implements json.Marshaler.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	u := t.UTC()
	if y := u.Year(); y < minTimeYear || y > maxTimeYear {
		return nil, fmt.Errorf("time %s is outside the years %04d-%04d in UTC", u.Format(time.RFC3339), minTimeYear, maxTimeYear)
	}
	// RFC 3339 in UTC has nothing JSON must escape: quote it directly (every
	// object carries a timestamp, and it is encoded on every write).
	b := make([]byte, 0, len(time.RFC3339)+2)
	b = append(b, '"')
	b = u.AppendFormat(b, time.RFC3339)
	return append(b, '"'), nil
}

// ToUnstructured is the time as unstructured content holds it: the string
// MarshalJSON quotes, or nil for the zero time. The converters to
// unstructured content (runtime.DefaultUnstructuredConverter, which the
// field manager's conversion of every written object uses) call it instead
// of encoding the time and decoding the JSON with a new json.Decoder, as
// they do with metav1.Time's.
func (t Time) ToUnstructured() any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(time.RFC3339)
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		t.Time = time.Time{}
		return nil
	}
	var s string
	if n := len(b); n >= 2 && b[0] == '"' && b[n-1] == '"' && bytes.IndexByte(b, '\\') < 0 {
		s = string(b[1 : n-1]) // no escapes: the string is its bytes (the decoder checked they are JSON)
	} else if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("time must be an RFC 3339 string: %w", err)
	}
	if s == "" {
		t.Time = time.Time{}
		return nil
	}
	p, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return fmt.Errorf("time %q is not RFC 3339: %w", s, err)
	}
	p = p.UTC()
	if y := p.Year(); y < minTimeYear || y > maxTimeYear {
		return fmt.Errorf("time %q is outside the years %04d-%04d once in UTC", s, minTimeYear, maxTimeYear)
	}
	t.Time = p
	return nil
}

// ListMeta is the metadata of a list.
type ListMeta struct {
	ResourceVersion    string `json:"resourceVersion,omitempty"`
	Continue           string `json:"continue,omitempty"`
	RemainingItemCount *int64 `json:"remainingItemCount,omitempty"`
}

// Object is implemented by every stored kind (as a pointer).
type Object interface {
	GetObjectMeta() *ObjectMeta
	GetTypeMeta() *TypeMeta
}

// List is a list of objects of one kind, as the API returns it.
type List[T any] struct {
	TypeMeta `json:",inline"`
	ListMeta ListMeta `json:"metadata"`
	Items    []T      `json:"items"`
}

// Event types of a watch stream.
const (
	Added    = "ADDED"
	Modified = "MODIFIED"
	Deleted  = "DELETED"
	Bookmark = "BOOKMARK"
	Error    = "ERROR"
)

// WatchEvent is one line of a watch stream.
type WatchEvent struct {
	Type   string          `json:"type"`
	Object json.RawMessage `json:"object"`
}

// DeleteOptions is the optional body of a DELETE, as Kubernetes clients send it.
type DeleteOptions struct {
	TypeMeta           `json:",inline"`
	GracePeriodSeconds *int64         `json:"gracePeriodSeconds,omitempty"`
	Preconditions      *Preconditions `json:"preconditions,omitempty"`
	PropagationPolicy  string         `json:"propagationPolicy,omitempty"`
	DryRun             []string       `json:"dryRun,omitempty"`
	OrphanDependents   *bool          `json:"orphanDependents,omitempty"`
}

// Preconditions must hold for a delete to go ahead.
type Preconditions struct {
	UID             *string `json:"uid,omitempty"`
	ResourceVersion *string `json:"resourceVersion,omitempty"`
}

// Propagation policies for delete.
const (
	PropagationOrphan     = "Orphan"
	PropagationBackground = "Background"
	PropagationForeground = "Foreground"
)

// The garbage collector's finalizers, as Kubernetes names them. A delete
// with propagationPolicy Orphan adds FinalizerOrphanDependents (the
// collector strips the owner's references from its dependents, then drops
// the finalizer); Foreground adds FinalizerDeleteDependents (the collector
// deletes the dependents, and drops the finalizer once no dependent that
// blocks its owner's deletion remains).
const (
	FinalizerOrphanDependents = "orphan"
	FinalizerDeleteDependents = "foregroundDeletion"
)

// FinalizerKubernetes is the namespace spec finalizer that stands for the
// namespace's content: it goes once everything in the namespace is gone.
const FinalizerKubernetes = "kubernetes"

// HasFinalizer reports whether m lists the finalizer f.
func (m *ObjectMeta) HasFinalizer(f string) bool {
	return slices.Contains(m.Finalizers, f)
}

// Scale is the scale subresource of a replication controller (autoscaling/v1).
type Scale struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ScaleSpec   `json:"spec"`
	Status     ScaleStatus `json:"status"`
}

// ScaleSpec is the desired scale.
type ScaleSpec struct {
	Replicas int32 `json:"replicas"`
}

// ScaleStatus is the observed scale.
type ScaleStatus struct {
	Replicas int32  `json:"replicas"`
	Selector string `json:"selector,omitempty"`
}

// Binding binds a pod to a node (POST .../pods/{name}/binding).
type Binding struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Target     ObjectReference `json:"target"`
}

// ObjectReference names another object.
type ObjectReference struct {
	Kind            string `json:"kind,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	APIVersion      string `json:"apiVersion,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// FieldPath names a part of the object, e.g. "spec.containers{web}"
	// for a container of a pod (events use it).
	FieldPath string `json:"fieldPath,omitempty"`
}
