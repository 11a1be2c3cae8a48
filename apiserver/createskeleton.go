package apiserver

import smdschema "sigs.k8s.io/structured-merge-diff/v6/schema"

// The skeleton of an object's JSON is a cheaper key to the entry its shape
// (shapeKey) names. Creates of objects alike differ, as JSON, mostly in a
// few values of their metadata: the name, the uid, the creation time, the
// values of labels and annotations (a StatefulSet's pods, a client's
// numbered objects). Those values are strings in members the shape walk
// takes as leaves whatever they hold: metadata is a map of fields whose
// name, generateName, uid and creationTimestamp are scalars, and labels and
// annotations are maps of scalars. The skeleton is the JSON with each of
// those string values written as one '~' (which JSON never writes where a
// value goes) and every other byte as it is; two objects with one skeleton
// have one shape, so the entry remembered for a skeleton whose shape was
// written serves the next object of that skeleton without the walk.

// skeletonMark separates a skeleton key's prefix from the skeleton.
const skeletonMark = '\x00'

// maxSkeletonBytes bounds a skeleton the cache keeps, as maxShapeBytes
// bounds a shape.
const maxSkeletonBytes = 8 << 10

// skeletonValues are the members of an object's metadata whose string
// values the skeleton leaves out.
var skeletonValues = map[string]bool{"name": true, "generateName": true, "uid": true, "creationTimestamp": true}

// skeletonMaps are the members of an object's metadata whose members'
// string values the skeleton leaves out.
var skeletonMaps = map[string]bool{"labels": true, "annotations": true}

// skeletonKey appends to dst the cache key of the object whose JSON
// (json.Marshal's: no whitespace) is in, for the resource, subresource
// and manager named by prefix: false when in is larger than
// maxSkeletonBytes or not laid out as expected.
func skeletonKey(dst, prefix, in []byte) ([]byte, bool) {
	if len(in) > maxSkeletonBytes || len(in) < 2 || in[0] != '{' {
		return dst, false
	}
	dst = append(dst, prefix...)
	dst = append(dst, skeletonMark)
	// The top-level members up to metadata, which skeletonMembers writes;
	// the rest as they are.
	done := 0 // in[:done] is written
	for i := 1; i < len(in) && in[i] != '}'; {
		ks, ke, err := stringAt(in, i)
		if err != nil || ke >= len(in) || in[ke] != ':' {
			return dst, false
		}
		end, err := skipValue(in, ke+1)
		if err != nil {
			return dst, false
		}
		if string(in[ks+1:ke-1]) == "metadata" && in[ke+1] == '{' {
			dst = append(dst, in[done:ke+1]...)
			var ok bool
			if dst, ok = skeletonMembers(dst, in[ke+1:end], true); !ok {
				return dst, false
			}
			done = end
			// The rest is written as it is.
			break
		}
		i = end
		if i < len(in) && in[i] == ',' {
			i++
		}
	}
	return append(dst, in[done:]...), true
}

// skeletonMembers appends the object obj (one JSON object, whole) with the
// string values of the members skeletonValues names (in metadata) or of
// every member (in a map of skeletonMaps) written as '~'.
func skeletonMembers(dst, obj []byte, meta bool) ([]byte, bool) {
	dst = append(dst, '{')
	i := 1
	for i < len(obj) && obj[i] != '}' {
		ks, ke, err := stringAt(obj, i)
		if err != nil || ke >= len(obj) || obj[ke] != ':' {
			return dst, false
		}
		end, err := skipValue(obj, ke+1)
		if err != nil {
			return dst, false
		}
		dst = append(dst, obj[ks:ke+1]...)
		key, v := string(obj[ks+1:ke-1]), obj[ke+1:end]
		switch {
		case v[0] == '"' && (!meta || skeletonValues[key]):
			dst = append(dst, '~')
		case meta && v[0] == '{' && skeletonMaps[key]:
			var ok bool
			if dst, ok = skeletonMembers(dst, v, false); !ok {
				return dst, false
			}
		default:
			dst = append(dst, v...)
		}
		i = end
		if i < len(obj) && obj[i] == ',' {
			dst = append(dst, ',')
			i++
		}
	}
	if i >= len(obj) {
		return dst, false
	}
	return append(dst, '}'), true
}

// skeletonFits reports whether the type tr of schema s has the metadata
// skeletonKey expects: a map whose members skeletonValues names are
// scalars and whose members skeletonMaps names are maps of scalars.
func skeletonFits(s *smdschema.Schema, tr smdschema.TypeRef) bool {
	scalar := func(tr smdschema.TypeRef) bool {
		a, ok := s.Resolve(tr)
		return ok && a.Scalar != nil && a.Map == nil && a.List == nil
	}
	field := func(m *smdschema.Map, name string) (smdschema.TypeRef, bool) {
		f, ok := m.FindField(name)
		return f.Type, ok
	}
	obj, ok := s.Resolve(tr)
	if !ok || obj.Map == nil {
		return false
	}
	mt, ok := field(obj.Map, "metadata")
	if !ok {
		return false
	}
	meta, ok := s.Resolve(mt)
	if !ok || meta.Map == nil || meta.Scalar != nil || meta.List != nil {
		return false
	}
	for name := range skeletonValues {
		if ft, ok := field(meta.Map, name); !ok || !scalar(ft) {
			return false
		}
	}
	for name := range skeletonMaps {
		ft, ok := field(meta.Map, name)
		if !ok {
			return false
		}
		m, ok := s.Resolve(ft)
		if !ok || m.Map == nil || m.Scalar != nil || m.List != nil || len(m.Map.Fields) > 0 || !scalar(m.Map.ElementType) {
			return false
		}
	}
	return true
}
