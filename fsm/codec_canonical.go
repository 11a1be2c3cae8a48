package fsm

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"reflect"
	"strings"
	"sync"
	"unicode/utf8"
	"unsafe"

	"github.com/modern-go/reflect2"
)

// decodeCanonical decodes data into obj, a pointer to a zero struct, when
// data is in the canonical form fsm's encoder (and encoding/json) writes —
// no whitespace, struct fields in declaration order and each at most once
// with its exact name, map keys in increasing order, integers that fit
// their field, no null but where a pointer, slice, map or self-decoding
// value stands — and reports whether it did. What it accepts it reads
// exactly as json.Unmarshal does, with no error; anything else (an unknown
// or repeated key, a key in another case, whitespace, a float, a number
// that overflows, a kind it does not read) makes it report false with obj
// zero again, and decodeObject then reads data the general way, which gives
// the exact object or error.
//
// It proves what the general path's three scans prove as it goes: the
// bytes are one JSON value (it parses them all, and checks with scanValue
// the raw values it hands to a type's own UnmarshalJSON), valid UTF-8, and
// holds no number encoding/json would read otherwise. One pass and no
// per-field lookup table make it several times faster than json-iterator on
// a pod; short strings share a small arena instead of one allocation each.
func decodeCanonical(data []byte, obj any) bool {
	return decodeCanonicalMode(data, obj, false)
}

// decodeCanonicalMode is decodeCanonical, or verifyCanonical if verify.
func decodeCanonicalMode(data []byte, obj any, verify bool) (ok bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return false
	}
	p := planOf(v.Type().Elem())
	d := canonicalDecoder{data: data, verify: verify}
	defer func() {
		// A panic in a type's own UnmarshalJSON (none is known) counts
		// as a refusal: the general path then answers as it does today.
		if recover() != nil {
			ok = false
		}
		if !ok {
			v.Elem().SetZero()
		}
	}()
	return p.decode(&d, v.UnsafePointer()) && d.i == len(data)
}

// canonicalDecoder is the state of one decodeCanonical: the input, the
// read position, and the arena chunk short strings are copied into.
type canonicalDecoder struct {
	data  []byte
	i     int
	arena []byte
	// verify also requires that encoding the decoded object gives data
	// back (verifyCanonical).
	verify bool
}

// Strings of at most arenaMaxString bytes are copied into shared chunks of
// arenaChunk bytes, written once and never changed; a string keeps its
// chunk alive, so a short string kept from a decoded object keeps at most
// arenaChunk bytes, and a longer one only its own.
const (
	arenaChunk     = 512
	arenaMaxString = 64
)

// str returns b as a string, copied; when verifying, the string is b's
// bytes themselves (Verify drops the object before it returns, and no one
// changes a command's bytes while it is verified).
func (d *canonicalDecoder) str(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if d.verify {
		return unsafe.String(&b[0], len(b))
	}
	if len(b) > arenaMaxString {
		return string(b)
	}
	if cap(d.arena)-len(d.arena) < len(b) {
		d.arena = make([]byte, 0, arenaChunk)
	}
	n := len(d.arena)
	d.arena = append(d.arena, b...)
	return unsafe.String(&d.arena[n], len(b))
}

// next returns the byte at the read position, 0 at the end.
func (d *canonicalDecoder) next() byte {
	if d.i < len(d.data) {
		return d.data[d.i]
	}
	return 0
}

// literal consumes word at the read position.
func (d *canonicalDecoder) literal(word string) bool {
	if len(d.data)-d.i < len(word) || string(d.data[d.i:d.i+len(word)]) != word {
		return false
	}
	d.i += len(word)
	return true
}

// plainString reads a string at the read position that has no escape,
// and returns its bytes (valid UTF-8, no control character).
func (d *canonicalDecoder) plainString() ([]byte, bool) {
	data := d.data
	if d.i >= len(data) || data[d.i] != '"' {
		return nil, false
	}
	start := d.i + 1
	i := start
	ascii := true
	for {
		// Eight bytes at a time up to the first quote, backslash or
		// control character (see specialBytes); non-ASCII is noted.
		for i+8 <= len(data) {
			w := binary.LittleEndian.Uint64(data[i:])
			if m := specialBytes(w); m != 0 {
				if ascii && w&highBits&(m&-m-1) != 0 {
					ascii = false // a high bit before the special byte
				}
				i += bits.TrailingZeros64(m) >> 3
				break
			}
			if w&highBits != 0 {
				ascii = false
			}
			i += 8
		}
		if i >= len(data) {
			return nil, false
		}
		c := data[i]
		switch {
		case c == '"':
			b := data[start:i]
			if !ascii && !utf8.Valid(b) {
				return nil, false // encoding/json replaces invalid bytes
			}
			d.i = i + 1
			return b, true
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		i++
	}
}

// string reads a string value, unescaping as encoding/json does.
func (d *canonicalDecoder) string() (string, bool) {
	start := d.i
	if b, ok := d.plainString(); ok {
		if d.verify && !encodesAsIs(b) {
			return "", false
		}
		return d.str(b), true
	}

	// An escape (rare in stored objects: encoding/json writes one for
	// '<', '>', '&', a quote, a backslash and control characters): the
	// string is read by encoding/json itself.
	if start >= len(d.data) || d.data[start] != '"' {
		return "", false
	}
	end, ok := scanString(d.data, start)
	if !ok || !utf8.Valid(d.data[start:end]) {
		return "", false
	}
	var s string
	if json.Unmarshal(d.data[start:end], &s) != nil {
		return "", false
	}
	if d.verify {
		// The escapes must be the ones the encoder writes.
		var buf [128]byte
		if string(appendString(buf[:0], s)) != string(d.data[start:end]) {
			return "", false
		}
	}
	d.i = end
	return s, true
}

// integer reads an integer of at most 19 digits with no fraction or
// exponent, as JSON writes it (no leading zero, no "-0").
func (d *canonicalDecoder) integer() (neg bool, mag uint64, ok bool) {
	data, i := d.data, d.i
	if i < len(data) && data[i] == '-' {
		neg = true
		i++
	}
	start := i
	for i < len(data) && isDigit(data[i]) {
		mag = mag*10 + uint64(data[i]-'0')
		i++
	}
	switch n := i - start; {
	case n == 0 || n > 19:
		return false, 0, false
	case data[start] == '0' && (n > 1 || neg):
		return false, 0, false
	}
	// What follows must end the value: a fraction or exponent is left
	// to the general path (the container checks the byte itself).
	if i < len(data) && (data[i] == '.' || data[i] == 'e' || data[i] == 'E') {
		return false, 0, false
	}
	d.i = i
	return neg, mag, true
}

// rawValue reads any JSON value and returns its bytes, for a type's own
// UnmarshalJSON: what encoding/json hands it.
func (d *canonicalDecoder) rawValue() ([]byte, bool) {
	start := d.i
	if start >= len(d.data) {
		return nil, false
	}
	switch c := d.data[start]; c {
	case ' ', '\t', '\n', '\r':
		return nil, false
	}
	end, ok := scanValue(d.data, start)
	if !ok || !utf8.Valid(d.data[start:end]) {
		return nil, false
	}
	d.i = end
	return d.data[start:end], true
}

// decodeFunc decodes the value at the read position into the value p
// points to (zero), reporting false to refuse the input.
type decodeFunc func(d *canonicalDecoder, p unsafe.Pointer) bool

// typePlan is how decodeCanonical reads one type. decode is set once the
// plan is built; a recursive type's plans refer to each other.
type typePlan struct {
	decode decodeFunc
}

// plans caches the plan of each type decoded so far (as encoding/json and
// json-iterator cache theirs): built once under plansMu, read without it.
var (
	plans   sync.Map // reflect.Type → *typePlan
	plansMu sync.Mutex
)

// planOf returns t's plan, building it (and those of the types it holds)
// the first time.
func planOf(t reflect.Type) *typePlan {
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan)
	}
	plansMu.Lock()
	defer plansMu.Unlock()
	building := make(map[reflect.Type]*typePlan)
	p := buildPlan(t, building)
	for bt, bp := range building {
		plans.Store(bt, bp)
	}
	return p
}

// refuse is the plan of a type decodeCanonical does not read.
func refuse(*canonicalDecoder, unsafe.Pointer) bool { return false }

// buildPlan builds t's plan; building holds the plans under construction.
func buildPlan(t reflect.Type, building map[reflect.Type]*typePlan) *typePlan {
	if p, ok := plans.Load(t); ok {
		return p.(*typePlan)
	}
	if p, ok := building[t]; ok {
		return p
	}
	p := &typePlan{}
	building[t] = p
	p.decode = withVerify(t, planFunc(t, building))
	return p
}

// planFunc returns the decodeFunc of t.
func planFunc(t reflect.Type, building map[reflect.Type]*typePlan) decodeFunc {
	// A pointer's methods are its element's, read by the element's plan
	// into a new element, as encoding/json does.
	if pt := reflect.PointerTo(t); t.Kind() != reflect.Pointer {
		if pt.Implements(jsonUnmarshaler) {
			return unmarshalerFunc(t)
		}
		if pt.Implements(textUnmarshaler) {
			return refuse // read from a string by encoding/json: left to it
		}
	}
	switch t.Kind() {
	case reflect.Struct:
		return structFunc(t, building)
	case reflect.Pointer:
		return pointerFunc(t, building)
	case reflect.Slice:
		return sliceFunc(t, building)
	case reflect.Map:
		return mapFunc(t, building)
	case reflect.String:
		return func(d *canonicalDecoder, p unsafe.Pointer) bool {
			s, ok := d.string()
			*(*string)(p) = s
			return ok
		}
	case reflect.Bool:
		return func(d *canonicalDecoder, p unsafe.Pointer) bool {
			switch {
			case d.literal("true"):
				*(*bool)(p) = true
			case d.literal("false"):
			default:
				return false
			}
			return true
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return intFunc(t)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return uintFunc(t)
	}
	return refuse // floats, interfaces, arrays and the rest
}

// unmarshalerFunc hands the raw value to the type's own UnmarshalJSON, as
// encoding/json does for a value whose pointer has the method (null
// included: encoding/json calls it with "null" for a value that is not a
// pointer).
func unmarshalerFunc(t reflect.Type) decodeFunc {
	t2 := reflect2.Type2(t)
	return func(d *canonicalDecoder, p unsafe.Pointer) bool {
		raw, ok := d.rawValue()
		if !ok {
			return false
		}
		return t2.PackEFace(p).(json.Unmarshaler).UnmarshalJSON(raw) == nil // PackEFace: a *t
	}
}

// intFunc reads a signed integer that fits t.
func intFunc(t reflect.Type) decodeFunc {
	size := t.Size() * 8
	return func(d *canonicalDecoder, p unsafe.Pointer) bool {
		neg, mag, ok := d.integer()
		if !ok || mag > 1<<(size-1) || !neg && mag == 1<<(size-1) {
			return false
		}
		n := int64(mag)
		if neg {
			n = -n
		}
		switch size {
		case 8:
			*(*int8)(p) = int8(n)
		case 16:
			*(*int16)(p) = int16(n)
		case 32:
			*(*int32)(p) = int32(n)
		default:
			*(*int64)(p) = n
		}
		return true
	}
}

// uintFunc reads an unsigned integer that fits t.
func uintFunc(t reflect.Type) decodeFunc {
	size := t.Size() * 8
	return func(d *canonicalDecoder, p unsafe.Pointer) bool {
		neg, mag, ok := d.integer()
		if !ok || neg || size < 64 && mag >= 1<<size {
			return false
		}
		switch size {
		case 8:
			*(*uint8)(p) = uint8(mag)
		case 16:
			*(*uint16)(p) = uint16(mag)
		case 32:
			*(*uint32)(p) = uint32(mag)
		default:
			*(*uint64)(p) = mag
		}
		return true
	}
}

// pointerFunc reads null as a nil pointer (the pointer is nil already)
// and anything else into a new element.
func pointerFunc(t reflect.Type, building map[reflect.Type]*typePlan) decodeFunc {
	elem := buildPlan(t.Elem(), building)
	et := t.Elem()
	return func(d *canonicalDecoder, p unsafe.Pointer) bool {
		if d.next() == 'n' {
			return d.literal("null")
		}
		e := reflect.New(et).UnsafePointer()
		if !elem.decode(d, e) {
			return false
		}
		*(*unsafe.Pointer)(p) = e
		return true
	}
}

// structField is one field encoding/json reads into a struct: its JSON
// name, where it sits, and its type's plan.
type structField struct {
	name   string
	offset uintptr
	plan   *typePlan
	// typ is the field's type; omitEmpty is its omitempty option where
	// encoding/json may leave the field out (not a struct), omitZero its
	// omitzero option.
	typ                 reflect.Type
	omitEmpty, omitZero bool
}

// structFunc reads an object into a struct, its keys the fields' names
// in field order, each at most once.
func structFunc(t reflect.Type, building map[reflect.Type]*typePlan) decodeFunc {
	fields, ok := jsonFields(t, 0, building, nil)
	if !ok {
		return refuse
	}
	seen := make(map[string]bool, len(fields))
	omitZero := false
	for _, f := range fields {
		if seen[f.name] {
			return refuse // a name two fields share: encoding/json's dominance rules, not followed here
		}
		seen[f.name] = true
		omitZero = omitZero || f.omitZero
	}
	return func(d *canonicalDecoder, p unsafe.Pointer) bool {
		if d.next() != '{' || d.verify && omitZero {
			return false
		}
		d.i++
		at := 0
		if d.next() == '}' {
			d.i++
			return !d.verify || omittedFrom(fields, at)
		}
		for {
			key, ok := d.plainString()
			if !ok || d.next() != ':' {
				return false
			}
			d.i++
			for at < len(fields) && fields[at].name != string(key) {
				if d.verify && !fields[at].omitEmpty {
					return false // the encoder writes it
				}
				at++
			}
			if at == len(fields) {
				return false // unknown, repeated, out of order or in another case
			}
			f := &fields[at]
			fp := unsafe.Add(p, f.offset)
			if !f.plan.decode(d, fp) || d.verify && f.omitEmpty && emptyValue(f.typ, fp) {
				return false
			}
			at++
			switch d.next() {
			case ',':
				d.i++
			case '}':
				d.i++
				return !d.verify || omittedFrom(fields, at)
			default:
				return false
			}
		}
	}
}

// jsonFields appends the fields encoding/json reads into struct t (at
// offset within the outer struct), embedded structs without a name
// flattened in place; ok is false for a struct it reads by rules not
// followed here (a ",string" option, an unusual name, an embedded pointer
// or unexported embedded type).
func jsonFields(t reflect.Type, offset uintptr, building map[reflect.Type]*typePlan, out []structField) ([]structField, bool) {
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, hasTag := sf.Tag.Lookup("json")
		if tag == "-" {
			continue
		}
		name, opts, _ := strings.Cut(tag, ",")
		var omitEmpty, omitZero bool
		for opt := range strings.SplitSeq(opts, ",") {
			switch opt {
			case "string":
				return nil, false
			case "omitempty":
				// encoding/json never leaves out a struct.
				omitEmpty = sf.Type.Kind() != reflect.Struct && sf.Type.Kind() != reflect.Array
			case "omitzero":
				omitZero = true
			}
		}
		if sf.Anonymous {
			if !sf.IsExported() {
				return nil, false
			}
			if name == "" && sf.Type.Kind() == reflect.Struct {
				var ok bool
				if out, ok = jsonFields(sf.Type, offset+sf.Offset, building, out); !ok {
					return nil, false
				}
				continue
			}
			if name == "" {
				return nil, false // an embedded pointer or non-struct: not read here
			}
		} else if !sf.IsExported() {
			continue
		}
		if !hasTag || name == "" {
			name = sf.Name
		}
		if !plainName(name) {
			return nil, false
		}
		out = append(out, structField{name: name, offset: offset + sf.Offset, plan: buildPlan(sf.Type, building),
			typ: sf.Type, omitEmpty: omitEmpty, omitZero: omitZero})
	}
	return out, true
}

// plainName reports whether name is a tag name encoding/json takes as it
// is: letters, digits and a few punctuation marks.
func plainName(name string) bool {
	for _, c := range name {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '-', c == '.', c == '/', c == '$':
		default:
			return false
		}
	}
	return name != ""
}
