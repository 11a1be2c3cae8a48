package fsm

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"unsafe"
	"weak"

	v1 "orch.io/orch/api/v1"
)

// Record is one stored object. Records are immutable once inserted: a change
// inserts a new Record. A record holds its JSON encoding and, while someone
// uses it, the decoded object: a record made from bytes (a create, a snapshot
// line, an answer forwarded from the leader) decodes only when Object or
// Meta is called, and a record made from an object encodes only when JSON is
// called. Lists, watches and the answer to a write use the bytes, so most
// records on most masters are never decoded; the leader's controllers read
// most changes through a Summary, which decodes a few fields only.
//
// Once a record has its bytes, the decoded object is held weakly: it stays
// cached while any reader holds it and goes with the next garbage collection
// after the last one let go, so a master whose controllers decoded every pod
// does not keep every pod twice (the bytes and the object, several times the
// bytes' size). A later Object decodes the bytes again into an equal object:
// every stored object round-trips through its JSON (the API proves it before
// proposing, and a snapshot restore relies on it), so which copy a reader
// gets never changes what it sees.
type Record struct {
	// key, uid and nodeName feed the indexes without a decode.
	key, uid, nodeName string

	// obj is the decoded object, held strongly until the record has its
	// bytes and weakly afterwards (see objRef).
	obj atomic.Pointer[objRef]
	// sum is the object's summary, held weakly (see Summary).
	sum    atomic.Pointer[weak.Pointer[Summary]]
	newObj func() v1.Object

	// podCIDRs is a node's parsed pod CIDRs, read once (node_cidr_index.go).
	podCIDRs atomic.Pointer[nodePodCIDRs]

	once sync.Once
	// form is what is known of raw's form (rawUnchecked...rawLoose), for
	// a snapshot to copy raw as it is when that is what encoding/json
	// would write (snapshot_write.go). It sits in the padding after once.
	form atomic.Uint32
	raw  []byte
	err  error
}

// objRef is a record's decoded object: strong, or weak with its type to
// rebuild the interface from the weak pointer's target. decodeErr is why the
// bytes did not decode; such a record keeps its salvaged object strongly.
type objRef struct {
	strong    v1.Object
	weak      weak.Pointer[byte]
	typ       reflect.Type
	decodeErr error
}

// weakRef returns a weak reference to obj, which is a pointer to a struct
// (every kind is, see Resource.New).
func weakRef(obj v1.Object) *objRef {
	v := reflect.ValueOf(obj)
	return &objRef{weak: weak.Make((*byte)(v.UnsafePointer())), typ: v.Type().Elem()}
}

// load returns the object ref refers to, nil once a weak one was collected.
func (ref *objRef) load() v1.Object {
	if ref.strong != nil {
		return ref.strong
	}
	p := ref.weak.Value()
	if p == nil {
		return nil
	}
	return reflect.NewAt(ref.typ, unsafe.Pointer(p)).Interface().(v1.Object)
}

// NewRecord wraps an object. raw, if not nil, must be obj's JSON encoding.
func NewRecord(obj v1.Object, raw []byte) *Record {
	r := &Record{newObj: newOfSameType(obj)}
	m := obj.GetObjectMeta()
	r.key, r.uid = v1.Key(m.Namespace, m.Name), m.UID
	if p, ok := obj.(*v1.Pod); ok {
		r.nodeName = p.Spec.NodeName
	}
	if raw != nil {
		r.once.Do(func() { r.raw = raw })
		r.obj.Store(weakRef(obj))
	} else {
		r.obj.Store(&objRef{strong: obj})
	}
	return r
}

// newOfSameType returns a constructor of empty objects of obj's kind.
func newOfSameType(obj v1.Object) func() v1.Object {
	t := reflect.TypeOf(obj).Elem()
	return func() v1.Object { return reflect.New(t).Interface().(v1.Object) }
}

// NewLazyRecord wraps the JSON encoding of an object of resource res; the
// object is decoded on first use of Object.
func NewLazyRecord(res v1.Resource, raw []byte) *Record {
	r := &Record{newObj: res.New}
	r.once.Do(func() { r.raw = raw })
	return r
}

// newKeyedRecord is a lazy record whose index keys are known up front. raw
// must be valid JSON: its callers checked it (a create with validJSON
// before splicing its resourceVersion in, a restore by reading the line).
func newKeyedRecord(res v1.Resource, raw []byte, key, uid, nodeName string) *Record {
	r := NewLazyRecord(res, raw)
	r.key, r.uid, r.nodeName = key, uid, nodeName
	r.form.Store(rawValid)
	return r
}

// Object returns the object; never modify it. Stored bytes that do not
// decode (only an older orch, which did not prove that every object
// round-trips before proposing it, could have stored them) yield an object
// with just the metadata that could be read, and DecodeError says why: a
// bad record can still be listed, read and deleted, and no reader panics.
func (r *Record) Object() v1.Object {
	if ref := r.obj.Load(); ref != nil {
		if obj := ref.load(); obj != nil {
			return obj
		}
	}
	// Two readers may decode at once; each gets an equal object and the
	// later one is cached.
	obj := r.newObj()
	if err := decodeObject(r.raw, obj); err != nil {
		obj = salvage(r.newObj(), r.raw)
		r.obj.Store(&objRef{strong: obj, decodeErr: fmt.Errorf("decode stored %s: %w", v1.KindOf(obj), err)})
		return obj
	}
	r.obj.Store(weakRef(obj))
	return obj
}

// decoded reports whether the record holds its decoded object now.
func (r *Record) decoded() bool {
	ref := r.obj.Load()
	return ref != nil && ref.load() != nil
}

// DecodeError returns why the record's bytes did not decode, or nil.
func (r *Record) DecodeError() error {
	r.Object()
	if ref := r.obj.Load(); ref != nil {
		return ref.decodeErr
	}
	return nil
}

// salvage fills obj with the identifying metadata of raw, read leniently:
// a field of the wrong type is skipped, the rest is kept.
func salvage(obj v1.Object, raw []byte) v1.Object {
	var probe struct {
		Metadata struct {
			Name            string            `json:"name"`
			Namespace       string            `json:"namespace"`
			UID             string            `json:"uid"`
			ResourceVersion string            `json:"resourceVersion"`
			Labels          map[string]string `json:"labels"`
		} `json:"metadata"`
	}
	_ = json.Unmarshal(raw, &probe) // best effort: type errors leave the other fields set
	m := obj.GetObjectMeta()
	pm := probe.Metadata
	m.Name, m.Namespace, m.UID, m.ResourceVersion, m.Labels = pm.Name, pm.Namespace, pm.UID, pm.ResourceVersion, pm.Labels
	v1.SetTypeMeta(obj)
	return obj
}

// JSON returns the object's JSON encoding, computed once. A record made
// from an object holds the object weakly from then on.
func (r *Record) JSON() ([]byte, error) {
	r.once.Do(func() {
		obj := r.obj.Load().strong
		// json.Marshal's bytes (AppendJSON's fast encoder writes the same,
		// or hands the object to encoding/json).
		if r.raw, r.err = AppendJSON(nil, obj); r.err == nil {
			r.form.Store(rawValid) // encoding/json writes valid JSON only
			r.obj.Store(weakRef(obj))
		}
	})
	return r.raw, r.err
}

// Meta returns the object's metadata (read-only).
func (r *Record) Meta() *v1.ObjectMeta { return r.Object().GetObjectMeta() }

// Key returns the record's namespace/name key.
func (r *Record) Key() string {
	if r.key == "" {
		m := &r.Summary().Meta
		return v1.Key(m.Namespace, m.Name)
	}
	return r.key
}

// UID returns the object's uid.
func (r *Record) UID() string {
	if r.key == "" {
		return r.Summary().Meta.UID
	}
	return r.uid
}

// NodeName returns a pod's spec.nodeName ("" for other kinds and unbound pods).
func (r *Record) NodeName() string {
	if r.key == "" {
		if p, ok := r.Object().(*v1.Pod); ok {
			return p.Spec.NodeName
		}
		return ""
	}
	return r.nodeName
}

// shallowCopy returns a copy of obj's top-level struct. Maps and slices are
// shared, so the copy's fields must be replaced, never modified in place.
// Every kind is a pointer to a struct (Resource.New), so one reflective
// copy serves them all.
func shallowCopy(obj v1.Object) v1.Object {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("fsm: shallow copy of %T", obj))
	}
	c := reflect.New(v.Elem().Type())
	c.Elem().Set(v.Elem())
	return c.Interface().(v1.Object)
}
