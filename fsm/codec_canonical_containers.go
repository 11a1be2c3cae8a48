package fsm

import (
	"reflect"
	"unsafe"
)

// sliceFunc reads null as a nil slice (the slice is nil already), [] as an
// empty one and an array element by element, as encoding/json does. A
// []byte (base64 to encoding/json) is not read here.
func sliceFunc(t reflect.Type, building map[reflect.Type]*typePlan) decodeFunc {
	et := t.Elem()
	if et.Kind() == reflect.Uint8 {
		return refuse
	}
	if et == reflect.TypeFor[string]() {
		return stringSliceFunc
	}
	elem := buildPlan(et, building)
	return func(d *canonicalDecoder, p unsafe.Pointer) bool {
		switch d.next() {
		case 'n':
			return d.literal("null")
		case '[':
		default:
			return false
		}
		d.i++
		v := reflect.NewAt(t, p).Elem()
		if d.next() == ']' {
			d.i++
			v.Set(reflect.MakeSlice(t, 0, 0))
			return true
		}
		for n := 0; ; n++ {
			if n == v.Cap() {
				v.Grow(1)
			}
			v.SetLen(n + 1)
			if !elem.decode(d, v.Index(n).Addr().UnsafePointer()) {
				return false
			}
			if !d.endOfElement(']') {
				return false
			}
			if d.data[d.i-1] == ']' {
				return true
			}
		}
	}
}

// endOfElement consumes the comma or closing byte after a container's
// element.
func (d *canonicalDecoder) endOfElement(closing byte) bool {
	if c := d.next(); c == ',' || c == closing {
		d.i++
		return true
	}
	return false
}

// stringSliceFunc is sliceFunc for []string.
func stringSliceFunc(d *canonicalDecoder, p unsafe.Pointer) bool {
	switch d.next() {
	case 'n':
		return d.literal("null")
	case '[':
	default:
		return false
	}
	d.i++
	s := (*[]string)(p)
	if d.next() == ']' {
		d.i++
		*s = []string{}
		return true
	}
	for {
		e, ok := d.string()
		if !ok {
			return false
		}
		*s = append(*s, e)
		if !d.endOfElement(']') {
			return false
		}
		if d.data[d.i-1] == ']' {
			return true
		}
	}
}

// mapFunc reads null as a nil map (the map is nil already) and an object
// into a new map whose keys, as decoded, come in increasing order (so none
// twice), as encoding/json writes them. A key
// type that decodes itself as text is not read here.
func mapFunc(t reflect.Type, building map[reflect.Type]*typePlan) decodeFunc {
	kt, et := t.Key(), t.Elem()
	if kt.Kind() != reflect.String || reflect.PointerTo(kt).Implements(textUnmarshaler) {
		return refuse
	}
	if t == reflect.TypeFor[map[string]string]() {
		return stringMapFunc
	}
	elem := buildPlan(et, building)
	return func(d *canonicalDecoder, p unsafe.Pointer) bool {
		switch d.next() {
		case 'n':
			return d.literal("null")
		case '{':
		default:
			return false
		}
		d.i++
		m := reflect.MakeMap(t)
		reflect.NewAt(t, p).Elem().Set(m)
		if d.next() == '}' {
			d.i++
			return true
		}
		ev := reflect.New(et).Elem()
		var prev string
		for n := 0; ; n++ {
			key, ok := d.string()
			if !ok || n > 0 && key <= prev || d.next() != ':' {
				return false
			}
			d.i++
			prev = key
			ev.SetZero()
			if !elem.decode(d, ev.Addr().UnsafePointer()) {
				return false
			}
			m.SetMapIndex(reflect.ValueOf(key).Convert(kt), ev)
			if !d.endOfElement('}') {
				return false
			}
			if d.data[d.i-1] == '}' {
				return true
			}
		}
	}
}

// stringMapFunc is mapFunc for map[string]string.
func stringMapFunc(d *canonicalDecoder, p unsafe.Pointer) bool {
	switch d.next() {
	case 'n':
		return d.literal("null")
	case '{':
	default:
		return false
	}
	d.i++
	m := make(map[string]string)
	*(*map[string]string)(p) = m
	if d.next() == '}' {
		d.i++
		return true
	}
	var prev string
	for n := 0; ; n++ {
		key, ok := d.string()
		if !ok || n > 0 && key <= prev || d.next() != ':' {
			return false
		}
		d.i++
		prev = key
		v, ok := d.string()
		if !ok {
			return false
		}
		m[key] = v
		if !d.endOfElement('}') {
			return false
		}
		if d.data[d.i-1] == '}' {
			return true
		}
	}
}
