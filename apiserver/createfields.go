package apiserver

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/runtime/schema"
	smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// createFields remembers the managedFields entry of a create by the shape
// of the object created, so the creates of objects alike (a controller's
// replicas, a client's pods) are tracked without the field manager.
//
// A create's entry (no stored object, no managedFields sent) is the
// field manager's Update of an empty object: the manager, the group
// version and the set of the fields the object holds. That set depends on
// the object's structure alone: which fields are present, null or empty,
// the keys of its maps and, in its associative lists, the key fields and
// values of each item (container names, ports and protocols, owner
// uids). It does not depend on the scalar values elsewhere (names,
// images, uids, times). The shape is that structure, written out by
// walking the object's JSON with the schema as the field manager's
// comparison walks its content, decision for decision; two objects of one
// shape get the same set, so the entry the field manager computed for
// the first serves them all, with the time of each write. An object whose
// shape cannot be written exactly (a key that JSON escapes, a list item
// without its key, anything the walk does not expect) goes to the field
// manager every time.
type createFields struct {
	mu sync.RWMutex
	// entries maps a cache key (shapeKey) to the entry made for it, its
	// time left unset; nil when the create owns no field.
	entries map[string]*v1.ManagedFieldsEntry
	// skeletons maps a skeleton's key (skeletonKey) to the entry of its
	// shape, within the same bound.
	skeletons map[string]*v1.ManagedFieldsEntry
}

// Bounds of the cache: the shapes of recently created objects, each at
// most maxShapeBytes written out (a larger object is tracked by the field
// manager and not kept), so it holds a few MiB at most.
const (
	cachedShapes  = 512
	maxShapeBytes = 4 << 10
)

func newCreateFields() *createFields {
	return &createFields{entries: make(map[string]*v1.ManagedFieldsEntry, cachedShapes),
		skeletons: make(map[string]*v1.ManagedFieldsEntry, cachedShapes)}
}

// get returns the entry remembered for key.
func (c *createFields) get(key []byte) (*v1.ManagedFieldsEntry, bool) {
	return c.lookup(c.entries, key)
}

// put remembers the entry made for key (nil: none), dropping an arbitrary
// one when full.
func (c *createFields) put(key []byte, e *v1.ManagedFieldsEntry) {
	c.store(c.entries, key, e)
}

// getSkeleton returns the entry remembered for a skeleton's key.
func (c *createFields) getSkeleton(key []byte) (*v1.ManagedFieldsEntry, bool) {
	return c.lookup(c.skeletons, key)
}

// putSkeleton remembers the entry of a skeleton's shape, as put.
func (c *createFields) putSkeleton(key []byte, e *v1.ManagedFieldsEntry) {
	c.store(c.skeletons, key, e)
}

func (c *createFields) lookup(m map[string]*v1.ManagedFieldsEntry, key []byte) (*v1.ManagedFieldsEntry, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	e, ok := m[string(key)]
	return e, ok
}

func (c *createFields) store(m map[string]*v1.ManagedFieldsEntry, key []byte, e *v1.ManagedFieldsEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(m) >= cachedShapes {
		for k := range m {
			delete(m, k)
			break
		}
	}
	m[string(key)] = e
}

// shapeBuffers hold an object's JSON and its shape while a create is
// tracked; one that grew past maxPooledShapeBuffer is dropped.
var shapeBuffers = sync.Pool{New: func() any { return newShapeBuffer() }}

const maxPooledShapeBuffer = 64 << 10

type shapeBuffer struct {
	json []byte // the object, as json.Marshal encodes it
	key  []byte
	skel []byte // the skeleton's key (skeletonKey)
}

func newShapeBuffer() *shapeBuffer { return &shapeBuffer{} }

// trackCreate sets the managedFields of a create whose object carries
// none, as trackUpdate does, from the entry remembered for the object's
// skeleton (createskeleton.go) or shape or, the first time, from the
// field manager.
func (s *Server) trackCreate(ctx context.Context, req *request, obj v1.Object) error {
	v1.SetTypeMeta(obj)
	manager := managerOf(ctx)
	buf := shapeBuffers.Get().(*shapeBuffer)
	defer func() {
		if cap(buf.json) <= maxPooledShapeBuffer && cap(buf.key) <= maxPooledShapeBuffer {
			shapeBuffers.Put(buf)
		}
	}()
	t, ok := s.fields.encodeShape(buf, req, manager, viewOf(req.resource, obj))
	var skel []byte
	skelOK := false
	if ok && t.skeleton {
		skel, skelOK = skeletonKey(buf.skel[:0], buf.key, buf.jsonBytes())
		buf.skel = skel
		if skelOK {
			if e, hit := s.fields.creates.getSkeleton(skel); hit {
				obj.GetObjectMeta().ManagedFields = entryAt(e, time.Now())
				return nil
			}
		}
	}
	var key []byte
	if ok {
		key, ok = s.fields.walkShape(buf, t)
	}
	if ok {
		if e, hit := s.fields.creates.get(key); hit {
			if skelOK {
				s.fields.creates.putSkeleton(skel, e)
			}
			obj.GetObjectMeta().ManagedFields = entryAt(e, time.Now())
			return nil
		}
	}
	if err := s.trackWrite(ctx, req, obj, nil); err != nil {
		return err
	}
	if !ok {
		return nil
	}
	var e *v1.ManagedFieldsEntry
	switch mf := obj.GetObjectMeta().ManagedFields; len(mf) {
	case 0:
	case 1:
		one := mf[0]
		one.Time = nil
		if one.FieldsV1 != nil {
			one.FieldsV1 = &v1.FieldsV1{Raw: bytes.Clone(one.FieldsV1.Raw)}
		}
		e = &one
	default:
		return nil
	}
	s.fields.creates.put(key, e)
	if skelOK {
		s.fields.creates.putSkeleton(skel, e)
	}
	return nil
}

// entryAt is the managedFields of a create from the remembered entry e
// (nil: none), written at now as the field manager writes times.
func entryAt(e *v1.ManagedFieldsEntry, now time.Time) []v1.ManagedFieldsEntry {
	if e == nil {
		return nil
	}
	// The entry, its time and its field set in one allocation.
	box := &struct {
		entry  [1]v1.ManagedFieldsEntry
		time   v1.Time
		fields v1.FieldsV1
	}{entry: [1]v1.ManagedFieldsEntry{*e}, time: v1.NewTime(now)}
	out := box.entry[:]
	out[0].Time = &box.time
	if e.FieldsV1 != nil {
		box.fields.Raw = bytes.Clone(e.FieldsV1.Raw)
		out[0].FieldsV1 = &box.fields
	}
	return out
}

// errNoShape: the object's shape cannot be written exactly; the field
// manager tracks it.
var errNoShape = errors.New("no shape")

// shapeKey writes into buf the cache key of the create of obj (as the
// field manager sees it: a view's object is the view's) by manager: the
// resource, the manager and the object's shape. It reports false when
// the object has no key: too large, or a shape that cannot be written
// exactly.
func (f *fieldManagers) shapeKey(buf *shapeBuffer, req *request, manager string, obj v1.Object) ([]byte, bool) {
	t, ok := f.encodeShape(buf, req, manager, obj)
	if !ok {
		return nil, false
	}
	return f.walkShape(buf, t)
}

// jsonBytes is the object encodeShape encoded.
func (b *shapeBuffer) jsonBytes() []byte { return b.json }

// encodeShape is the first half of shapeKey: it encodes obj into buf.json
// and writes the key's prefix (resource, manager) into buf.key.
func (f *fieldManagers) encodeShape(buf *shapeBuffer, req *request, manager string, obj v1.Object) (trackedType, bool) {
	t, err := f.typeOf(gvkOf(req.resource))
	if err != nil {
		return t, false
	}
	b, err := fsm.AppendJSON(buf.json[:0], obj)
	if err != nil {
		return t, false
	}
	buf.json = b
	// The group and version (a resource served in two versions has a field
	// set per version), the resource, the subresource and the manager.
	k := append(buf.key[:0], req.resource.GroupVersion()...)
	k = append(k, '/')
	k = append(k, req.resource.Name...)
	k = append(k, '/')
	k = append(k, trackedSub(req)...)
	k = append(k, '/')
	k = strconv.AppendInt(k, int64(len(manager)), 10)
	k = append(k, ':')
	k = append(k, manager...)
	buf.key = k
	return t, true
}

// walkShape is the second half of shapeKey: the shape of the object in
// buf.json written after the prefix in buf.key.
func (f *fieldManagers) walkShape(buf *shapeBuffer, t trackedType) ([]byte, bool) {
	k := buf.key
	w := shapeWriter{schema: t.schema, in: buf.jsonBytes(), out: k, max: len(k) + maxShapeBytes}
	end, err := w.node(0, t.typeRef)
	buf.key = w.out // the grown slice serves the next create
	if err != nil || end != len(w.in) {
		return nil, false
	}
	return w.out, true
}

// typeOf is the schema and type of a kind, as the field manager types it.
func (f *fieldManagers) typeOf(gvk schema.GroupVersionKind) (trackedType, error) {
	tc, ok := f.tc.(trackedConverter)
	if !ok {
		return trackedType{}, errNoShape
	}
	return tc.typeOf(gvk)
}

// shapeWriter writes the shape of a JSON value (json.Marshal's output:
// no whitespace) as the field manager's comparison of it with nothing
// walks it (typed.compareWalker with no left-hand side):
//
//   - a value the walk takes as a leaf (a scalar, null, an empty or atomic
//     map or list, a value of another kind than its type's) is "L";
//   - a map it descends into is "{", each key as it is encoded followed by
//     its value's shape, then "}";
//   - an associative list it descends into is "[", for each item its key
//     field values as encoded (or, for a set, the item) in parentheses
//     followed by the item's shape, then "]".
//
// Keys and values are written only when their encoding contains no
// backslash: they are then the exact strings and numbers, without quotes
// or delimiters inside, so the shape is unambiguous. Anything else (an
// escaped key, a list item without a key field, an associative list of
// another kind) is errNoShape.
type shapeWriter struct {
	schema *smdschema.Schema
	in     []byte
	out    []byte
	max    int // the longest out may grow
}

// node writes the shape of the value at in[i] of type tr and returns
// where it ends.
func (w *shapeWriter) node(i int, tr smdschema.TypeRef) (int, error) {
	if i >= len(w.in) || len(w.out) > w.max {
		return 0, errNoShape
	}
	a, ok := w.schema.Resolve(tr)
	if !ok {
		return 0, errNoShape
	}
	// typed.deduceAtom: a value of a kind its type allows is that kind;
	// otherwise (null too) the type stays as it is, a map first.
	switch c := w.in[i]; {
	case c == 'n':
	case c == '{':
		if a.Map != nil {
			a = smdschema.Atom{Map: a.Map}
		}
	case c == '[':
		if a.List != nil {
			a = smdschema.Atom{List: a.List}
		}
	default:
		if a.Scalar != nil {
			a = smdschema.Atom{Scalar: a.Scalar}
		}
	}
	switch {
	case a.Map != nil:
		return w.doMap(i, a.Map)
	case a.Scalar != nil:
		return w.leaf(i)
	case a.List != nil:
		return w.doList(i, a.List)
	}
	return 0, errNoShape
}

// leaf writes a leaf and skips its value.
func (w *shapeWriter) leaf(i int) (int, error) {
	w.out = append(w.out, 'L')
	return skipValue(w.in, i)
}

func (w *shapeWriter) doMap(i int, t *smdschema.Map) (int, error) {
	if w.in[i] != '{' || isEmpty(w.in, i) || t.ElementRelationship == smdschema.Atomic {
		return w.leaf(i)
	}
	w.out = append(w.out, '{')
	i++
	for {
		ks, ke, err := stringAt(w.in, i)
		if err != nil {
			return 0, err
		}
		if ke >= len(w.in) || w.in[ke] != ':' {
			return 0, errNoShape
		}
		w.out = append(w.out, w.in[ks:ke]...)
		ft := t.ElementType
		if sf, ok := t.FindField(string(w.in[ks+1 : ke-1])); ok {
			ft = sf.Type
		}
		if i, err = w.node(ke+1, ft); err != nil {
			return 0, err
		}
		if i >= len(w.in) {
			return 0, errNoShape
		}
		switch w.in[i] {
		case ',':
			i++
		case '}':
			w.out = append(w.out, '}')
			return i + 1, nil
		default:
			return 0, errNoShape
		}
	}
}

func (w *shapeWriter) doList(i int, t *smdschema.List) (int, error) {
	if w.in[i] != '[' || isEmpty(w.in, i) || t.ElementRelationship == smdschema.Atomic {
		return w.leaf(i)
	}
	if t.ElementRelationship != smdschema.Associative {
		return 0, errNoShape // the field manager refuses to index it
	}
	w.out = append(w.out, '[')
	i++
	for {
		w.out = append(w.out, '(')
		if err := w.itemKey(i, t); err != nil {
			return 0, err
		}
		w.out = append(w.out, ')')
		var err error
		if i, err = w.node(i, t.ElementType); err != nil {
			return 0, err
		}
		if i >= len(w.in) {
			return 0, errNoShape
		}
		switch w.in[i] {
		case ',':
			i++
		case ']':
			w.out = append(w.out, ']')
			return i + 1, nil
		default:
			return 0, errNoShape
		}
	}
}

// itemKey writes what names the list item at in[i]: its key fields'
// values in the list's order, or the item itself in a set.
func (w *shapeWriter) itemKey(i int, t *smdschema.List) error {
	if len(t.Keys) == 0 {
		end, err := scalarAt(w.in, i)
		if err != nil {
			return err
		}
		w.out = append(w.out, w.in[i:end]...)
		return nil
	}
	if w.in[i] != '{' {
		return errNoShape
	}
	for n, key := range t.Keys {
		vs, ve, err := fieldAt(w.in, i, key)
		if err != nil {
			return err
		}
		if n > 0 {
			w.out = append(w.out, ',')
		}
		w.out = append(w.out, w.in[vs:ve]...)
	}
	return nil
}

// fieldAt finds the value of the field named key (a plain name: no
// character JSON escapes) of the object at in[i], which must be a string,
// number or boolean.
func fieldAt(in []byte, i int, key string) (int, int, error) {
	i++ // past '{'
	for i < len(in) && in[i] != '}' {
		ks, ke, err := stringAt(in, i)
		if err != nil {
			return 0, 0, err
		}
		if ke >= len(in) || in[ke] != ':' {
			return 0, 0, errNoShape
		}
		if string(in[ks+1:ke-1]) == key {
			end, err := scalarAt(in, ke+1)
			return ke + 1, end, err
		}
		if i, err = skipValue(in, ke+1); err != nil {
			return 0, 0, err
		}
		if i < len(in) && in[i] == ',' {
			i++
		}
	}
	return 0, 0, errNoShape // no such field: the field manager would look for a default
}

// scalarAt returns where the string, number or boolean at in[i] ends; a
// string with an escape, null, an object or an array is errNoShape.
func scalarAt(in []byte, i int) (int, error) {
	if i >= len(in) {
		return 0, errNoShape
	}
	switch in[i] {
	case '"':
		_, end, err := stringAt(in, i)
		return end, err
	case '{', '[', 'n':
		return 0, errNoShape
	}
	return skipValue(in, i)
}

// stringAt returns the bounds, quotes included, of the string at in[i];
// a string with an escape is errNoShape.
func stringAt(in []byte, i int) (int, int, error) {
	if i >= len(in) || in[i] != '"' {
		return 0, 0, errNoShape
	}
	n := bytes.IndexByte(in[i+1:], '"')
	if n < 0 || bytes.IndexByte(in[i+1:i+1+n], '\\') >= 0 {
		return 0, 0, errNoShape
	}
	return i, i + n + 2, nil
}

// isEmpty reports whether the object or array at in[i] is empty.
func isEmpty(in []byte, i int) bool {
	return i+1 < len(in) && (in[i+1] == '}' || in[i+1] == ']')
}

// skipValue returns where the JSON value at in[i] ends.
func skipValue(in []byte, i int) (int, error) {
	if i >= len(in) {
		return 0, errNoShape
	}
	switch in[i] {
	case '"':
		if end := stringEnd(in, i+1); end >= 0 {
			return end + 1, nil
		}
		return 0, errNoShape
	case '{', '[':
		depth := 0
		for j := i; j < len(in); j++ {
			switch in[j] {
			case '"':
				end, err := skipValue(in, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, errNoShape
	}
	j := i
	for j < len(in) && in[j] != ',' && in[j] != '}' && in[j] != ']' {
		j++
	}
	if j == i {
		return 0, errNoShape
	}
	return j, nil
}
