package fsm

import (
	"bytes"
	"encoding/json"
	"reflect"
	"unsafe"

	"github.com/modern-go/reflect2"
)

// verifyCanonical decodes data into obj, a pointer to a zero struct, as
// decodeCanonical does, and reports true only when it also proves that
// encoding obj gives data back byte for byte: every field the encoder
// writes is there and no field it leaves out (omitempty and empty), no
// string needs an escape or has one, and a value that marshals itself
// (a time, fieldsV1, an int-or-string) is encoded again and compared. On
// false obj is zero again, and Verify proves the round trip the general
// way (decodeObject, encode, compare), which gives the exact error if
// there is one. For a canonical pod this saves the whole encode.
func verifyCanonical(data []byte, obj any) bool {
	return decodeCanonicalMode(data, obj, true)
}

// withVerify wraps dec, the plan of t, with what verifyCanonical checks
// of a value of t beyond its fields: one that marshals itself is encoded
// again and compared with its bytes; one whose encoding this does not
// follow (a pointer method, text marshalling, decoding itself without
// encoding itself) makes it refuse. Other types' plans are dec itself.
func withVerify(t reflect.Type, dec decodeFunc) decodeFunc {
	if k := t.Kind(); k == reflect.Pointer || k == reflect.Interface {
		return dec // a pointer's element decides; an interface is refused anyway
	}
	pt := reflect.PointerTo(t)
	switch {
	case t.Implements(jsonMarshaler):
		t2 := reflect2.Type2(t)
		return func(d *canonicalDecoder, p unsafe.Pointer) bool {
			start := d.i
			if !dec(d, p) {
				return false
			}
			if !d.verify {
				return true
			}
			raw := d.data[start:d.i]
			// What MarshalJSON returns is written as it is when it is
			// plain or compact and safe, and valid (raw was read as JSON):
			// marshalerEncoder's fast case. Else the encoder answers.
			b, err := t2.PackEFace(p).(json.Marshaler).MarshalJSON() // PackEFace: a *t
			if err == nil && bytes.Equal(b, raw) && (plainJSON(b) || compactSafe(b)) {
				return true
			}
			return encodesTo(t, p, raw)
		}
	case pt.Implements(jsonMarshaler), t.Implements(textMarshaler), pt.Implements(textMarshaler), pt.Implements(jsonUnmarshaler):
		return func(d *canonicalDecoder, p unsafe.Pointer) bool {
			return !d.verify && dec(d, p)
		}
	}
	return dec
}

// encodesTo reports whether the fsm encoder writes the value of t at p as
// raw.
func encodesTo(t reflect.Type, p unsafe.Pointer, raw []byte) bool {
	e := getEncoder()
	defer putEncoder(e)
	b, err := encodeInto(e, reflect.NewAt(t, p).Interface())
	return err == nil && bytes.Equal(b, raw)
}

// omittedFrom reports whether the encoder leaves out every field from
// fields[at] on when they are empty, as a struct's missing fields are.
func omittedFrom(fields []structField, at int) bool {
	for _, f := range fields[at:] {
		if !f.omitEmpty {
			return false
		}
	}
	return true
}

// emptyValue is encoding/json's isEmptyValue for the value of t at p: what
// omitempty leaves out (never a struct).
func emptyValue(t reflect.Type, p unsafe.Pointer) bool {
	switch t.Kind() {
	case reflect.String:
		return len(*(*string)(p)) == 0
	case reflect.Slice:
		return len(*(*[]byte)(p)) == 0 // the length of any slice
	case reflect.Pointer:
		return *(*unsafe.Pointer)(p) == nil
	case reflect.Bool:
		return !*(*bool)(p)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		switch t.Size() {
		case 1:
			return *(*uint8)(p) == 0
		case 2:
			return *(*uint16)(p) == 0
		case 4:
			return *(*uint32)(p) == 0
		default:
			return *(*uint64)(p) == 0
		}
	}
	v := reflect.NewAt(t, p).Elem()
	switch v.Kind() {
	case reflect.Array, reflect.Map:
		return v.Len() == 0
	case reflect.Float32, reflect.Float64, reflect.Interface:
		return v.IsZero()
	}
	return false
}

// asIsBytes marks the bytes a string holds as the encoder writes them: not
// '<', '>' or '&' (plainString has refused quotes, backslashes, control
// characters and invalid UTF-8), and not 0xE2, which starts U+2028 and
// U+2029 (escaped) among others (checked).
var asIsBytes = func() (set [256]bool) {
	for b := range 256 {
		set[b] = b != '<' && b != '>' && b != '&' && b != 0xE2
	}
	return set
}()

// encodesAsIs reports whether the encoder writes the string b (as
// plainString returns it) unescaped.
func encodesAsIs(b []byte) bool {
	for i := 0; i < len(b); i++ {
		if c := b[i]; !asIsBytes[c] {
			if c != 0xE2 || i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9) {
				return false
			}
		}
	}
	return true
}
