package fsm

import (
	"encoding/json"
	"sync"

	v1 "orch.io/orch/api/v1"
)

// Record is one stored object. Records are immutable once inserted: a change
// inserts a new Record. The JSON encoding is computed once, on first use, and
// shared by every list and watch that sends the object.
type Record struct {
	// Obj is the object; never modify it.
	Obj v1.Object

	once sync.Once
	raw  []byte
	err  error
}

// NewRecord wraps an object. raw, if not nil, must be obj's JSON encoding.
func NewRecord(obj v1.Object, raw []byte) *Record {
	r := &Record{Obj: obj}
	if raw != nil {
		r.once.Do(func() { r.raw = raw })
	}
	return r
}

// JSON returns the object's JSON encoding, computed once.
func (r *Record) JSON() ([]byte, error) {
	r.once.Do(func() { r.raw, r.err = json.Marshal(r.Obj) })
	return r.raw, r.err
}

// Meta returns the object's metadata (read-only).
func (r *Record) Meta() *v1.ObjectMeta { return r.Obj.GetObjectMeta() }

// Key returns the record's namespace/name key.
func (r *Record) Key() string {
	m := r.Meta()
	return v1.Key(m.Namespace, m.Name)
}

// shallowCopy returns a copy of obj's top-level struct. Maps and slices are
// shared, so the copy's fields must be replaced, never modified in place.
func shallowCopy(obj v1.Object) v1.Object {
	switch o := obj.(type) {
	case *v1.Namespace:
		c := *o
		return &c
	case *v1.Node:
		c := *o
		return &c
	case *v1.Pod:
		c := *o
		return &c
	case *v1.ReplicationController:
		c := *o
		return &c
	case *v1.Service:
		c := *o
		return &c
	case *v1.Endpoints:
		c := *o
		return &c
	}
	panic("fsm: shallow copy of unknown type")
}
