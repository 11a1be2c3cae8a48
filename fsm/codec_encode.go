package fsm

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	jsoniter "github.com/json-iterator/go"
	"github.com/modern-go/reflect2"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
)

// encodeJSON is the fast encoder of objects and commands: json-iterator
// with the parts where it writes other bytes than encoding/json replaced by
// encoding/json's own rules (stdEncoding). What it cannot write as
// encoding/json would (a float, a value that marshals itself as text, an
// error of any kind) makes it fail, and encodeInto then encodes the whole
// value with encoding/json instead, so the bytes are always json.Marshal's.
// TestEncodeMatchesMarshal and FuzzEncode hold the two to the same bytes
// on every served kind.
var encodeJSON = func() jsoniter.API {
	// HTML is escaped, map keys sorted and raw messages checked by
	// stdEncoding's encoders: json-iterator's own would take precedence
	// over an extension's for strings and raw messages.
	api := jsoniter.Config{}.Froze()
	api.RegisterExtension(&stdEncoding{})
	return api
}()

// errNotFast makes the fast encoder give up on a value it does not write
// as encoding/json does; encoding/json then encodes the whole value.
var errNotFast = errors.New("value left to encoding/json")

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// stdEncoding replaces json-iterator's encoders where its bytes differ from
// encoding/json's: strings (json-iterator writes \b and \f as \u0008 and
// \u000c), maps (it sorts keys by their re-decoded text, which differs for
// invalid UTF-8, and allocates per key), values that marshal themselves
// (encoding/json compacts, checks and HTML-escapes what MarshalJSON
// returns), and floats and text marshalers (refused: no stored kind has
// them, and encoding/json answers for any that appears).
type stdEncoding struct{ jsoniter.DummyExtension }

// CreateEncoder returns encoding/json's encoder for typ where
// json-iterator's would differ, nil elsewhere.
func (*stdEncoding) CreateEncoder(typ reflect2.Type) jsoniter.ValEncoder {
	t := typ.Type1()
	if t.Kind() == reflect.Pointer {
		switch {
		case ownEncoder(t.Elem()) != nil:
			// null for nil, else the element as its MarshalJSON writes it.
			return pointerEncoder{ownEncoder(t.Elem())}
		case t.Elem().Implements(jsonMarshaler):
			// null for nil, else the element marshalled, as encoding/json
			// writes a pointer whose element marshals itself.
			return pointerEncoder{marshalerEncoder{typ: reflect2.Type2(t.Elem())}}
		case t.Implements(jsonMarshaler), t.Implements(textMarshaler):
			return refuseEncoder{} // a pointer method: left to encoding/json
		}
		return nil // json-iterator's: null for nil, else the element's encoder
	}
	if enc := ownEncoder(t); enc != nil {
		return enc
	}
	switch {
	case t.Implements(jsonMarshaler):
		return marshalerEncoder{typ: typ}
	case reflect.PointerTo(t).Implements(jsonMarshaler),
		t.Implements(textMarshaler), reflect.PointerTo(t).Implements(textMarshaler):
		// encoding/json calls a pointer method only on an addressable
		// value, and writes text marshalers as strings: left to it.
		return refuseEncoder{}
	}
	switch t.Kind() {
	case reflect.String:
		return stringEncoder{}
	case reflect.Map:
		if t.Key().Kind() != reflect.String {
			return refuseEncoder{}
		}
		if e := t.Elem(); e.Kind() == reflect.String && encodesAsString(e) {
			return stringMapEncoder{}
		}
		return &mapEncoder{typ: typ.(*reflect2.UnsafeMapType)}
	case reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128,
		reflect.Chan, reflect.Func, reflect.UnsafePointer:
		return refuseEncoder{}
	}
	return nil
}

// ownEncoder returns the encoder of this file that writes a value of t as
// t's MarshalJSON (a value method) does, without calling it, or nil.
func ownEncoder(t reflect.Type) jsoniter.ValEncoder {
	switch t {
	case reflect.TypeFor[v1.Time]():
		return timeEncoder{layout: time.RFC3339}
	case reflect.TypeFor[v1.MicroTime]():
		return timeEncoder{layout: "2006-01-02T15:04:05.000000Z07:00"}
	case reflect.TypeFor[intstr.IntOrString]():
		return intOrStringEncoder{}
	case reflect.TypeFor[v1.FieldsV1]():
		return fieldsV1Encoder{}
	}
	return nil
}

// encodesAsString reports whether encoding/json writes values of t, a
// string kind, as plain strings (no method of their own).
func encodesAsString(t reflect.Type) bool {
	for _, m := range []reflect.Type{jsonMarshaler, textMarshaler} {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return false
		}
	}
	return true
}

// timeEncoder writes a v1.Time or v1.MicroTime (a struct holding a
// time.Time) as its MarshalJSON does, without allocating: null for the zero
// time, else the UTC time in layout, quoted; a year out of 1-9999, which
// MarshalJSON refuses, is left to encoding/json for its error.
type timeEncoder struct{ layout string }

func (e timeEncoder) Encode(ptr unsafe.Pointer, stream *jsoniter.Stream) {
	t := (*time.Time)(ptr)
	if t.IsZero() {
		stream.WriteNil()
		return
	}
	u := t.UTC()
	if y := u.Year(); y < 1 || y > 9999 {
		stream.Error = errNotFast
		return
	}
	b := append(stream.Buffer(), '"')
	b = u.AppendFormat(b, e.layout)
	stream.SetBuffer(append(b, '"'))
}

func (timeEncoder) IsEmpty(unsafe.Pointer) bool { return false } // a struct

// intOrStringEncoder writes an IntOrString as its MarshalJSON does, without
// allocating: the integer or the string; any other type is left to
// encoding/json for its error.
type intOrStringEncoder struct{}

func (intOrStringEncoder) Encode(ptr unsafe.Pointer, stream *jsoniter.Stream) {
	switch x := (*intstr.IntOrString)(ptr); x.Type {
	case intstr.Int:
		stream.SetBuffer(strconv.AppendInt(stream.Buffer(), int64(x.IntVal), 10))
	case intstr.String:
		stream.SetBuffer(appendString(stream.Buffer(), x.StrVal))
	default:
		stream.Error = errNotFast
	}
}

func (intOrStringEncoder) IsEmpty(unsafe.Pointer) bool { return false } // a struct

// stringMapEncoder writes a map whose keys and elements are plain strings
// (map[string]string, or named string types) as encoding/json does,
// ranging over it directly: keys and elements of a string kind share
// string's layout and hashing, whatever their names.
type stringMapEncoder struct{}

func (stringMapEncoder) Encode(ptr unsafe.Pointer, stream *jsoniter.Stream) {
	m := *(*map[string]string)(ptr)
	if m == nil {
		stream.WriteNil()
		return
	}
	var small [16]string
	keys := small[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := append(stream.Buffer(), '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(appendString(b, k), ':')
		b = appendString(b, m[k])
	}
	stream.SetBuffer(append(b, '}'))
}

func (stringMapEncoder) IsEmpty(ptr unsafe.Pointer) bool { return len(*(*map[string]string)(ptr)) == 0 }

// pointerEncoder writes null for a nil pointer, else its element.
type pointerEncoder struct{ elem jsoniter.ValEncoder }

func (e pointerEncoder) Encode(ptr unsafe.Pointer, stream *jsoniter.Stream) {
	if *(*unsafe.Pointer)(ptr) == nil {
		stream.WriteNil()
		return
	}
	e.elem.Encode(*(*unsafe.Pointer)(ptr), stream)
}

func (pointerEncoder) IsEmpty(ptr unsafe.Pointer) bool { return *(*unsafe.Pointer)(ptr) == nil }

// refuseEncoder fails the encoding, for encoding/json to do it.
type refuseEncoder struct{}

func (refuseEncoder) Encode(_ unsafe.Pointer, stream *jsoniter.Stream) {
	stream.Error = errNotFast
}

// IsEmpty is never asked before Encode fails the whole value; it answers
// false so that the field is written and fails.
func (refuseEncoder) IsEmpty(unsafe.Pointer) bool { return false }

// stringEncoder writes a string as encoding/json does with HTML escaped.
type stringEncoder struct{}

func (stringEncoder) Encode(ptr unsafe.Pointer, stream *jsoniter.Stream) {
	stream.SetBuffer(appendString(stream.Buffer(), *(*string)(ptr)))
}

func (stringEncoder) IsEmpty(ptr unsafe.Pointer) bool { return len(*(*string)(ptr)) == 0 }

const hexDigits = "0123456789abcdef"

// plainASCII holds the ASCII bytes a string is written with as they are:
// encoding/json's htmlSafeSet (never written to).
var plainASCII = func() (set [utf8.RuneSelf]bool) {
	for b := byte(0x20); b < utf8.RuneSelf; b++ {
		set[b] = b != '"' && b != '\\' && b != '<' && b != '>' && b != '&'
	}
	return set
}()

// appendString is encoding/json's appendString with HTML escaped: the
// characters it escapes, the escapes it writes (\b and \f short), invalid
// UTF-8 as U+FFFD and U+2028/2029 escaped.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if plainASCII[b] {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// mapEncoder writes a map with string keys as encoding/json does: null
// for nil, keys sorted by their bytes (not by their escaped text).
type mapEncoder struct {
	typ *reflect2.UnsafeMapType
	// elem is the element's encoder, found at the first Encode (not at
	// creation, where a map type holding itself would recurse).
	elem atomic.Pointer[jsoniter.ValEncoder]
}

// mapEntry is one key of a map and its element, in the map.
type mapEntry struct {
	key  string
	elem unsafe.Pointer
}

func (e *mapEncoder) Encode(ptr unsafe.Pointer, stream *jsoniter.Stream) {
	if *(*unsafe.Pointer)(ptr) == nil {
		stream.WriteNil()
		return
	}
	elem := e.elem.Load()
	if elem == nil {
		enc := encodeJSON.EncoderOf(e.typ.Elem())
		elem = &enc
		e.elem.Store(elem)
	}
	var small [8]mapEntry
	entries := small[:0]
	for it := e.typ.UnsafeIterate(ptr); it.HasNext(); {
		k, v := it.UnsafeNext()
		entries = append(entries, mapEntry{*(*string)(k), v})
	}
	slices.SortFunc(entries, func(a, b mapEntry) int { return strings.Compare(a.key, b.key) })
	buf := append(stream.Buffer(), '{')
	for i, en := range entries {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(appendString(buf, en.key), ':')
		stream.SetBuffer(buf)
		(*elem).Encode(en.elem, stream)
		buf = stream.Buffer()
	}
	stream.SetBuffer(append(buf, '}'))
}

func (e *mapEncoder) IsEmpty(ptr unsafe.Pointer) bool {
	return e.typ.UnsafeIsNil(ptr) || reflect.NewAt(e.typ.Type1(), ptr).Elem().Len() == 0
}

// marshalerEncoder writes a value that marshals itself as encoding/json
// does: what MarshalJSON returns, checked and compacted, with HTML
// characters and U+2028/2029 escaped.
type marshalerEncoder struct{ typ reflect2.Type }

func (e marshalerEncoder) Encode(ptr unsafe.Pointer, stream *jsoniter.Stream) {
	b, err := e.typ.UnsafeIndirect(ptr).(json.Marshaler).MarshalJSON()
	if err != nil {
		stream.Error = errNotFast
		return
	}
	appendMarshaled(stream, b)
}

// appendMarshaled writes b, what a MarshalJSON returned, as encoding/json
// does: checked and compacted, with HTML characters and U+2028/2029
// escaped; invalid JSON fails the encoding.
func appendMarshaled(stream *jsoniter.Stream, b []byte) {
	if writtenAsIs(b) {
		stream.SetBuffer(append(stream.Buffer(), b...))
		return
	}
	out := bytes.NewBuffer(stream.Buffer())
	if err := json.Compact(out, b); err != nil {
		stream.Error = errNotFast
		return
	}
	start := len(stream.Buffer())
	if compact := out.Bytes()[start:]; !compactSafe(compact) {
		var esc bytes.Buffer
		json.HTMLEscape(&esc, compact)
		stream.SetBuffer(append(out.Bytes()[:start], esc.Bytes()...))
		return
	}
	stream.SetBuffer(out.Bytes())
}

// writtenAsIs reports whether encoding/json writes b, what a MarshalJSON
// returned, unchanged: b is valid JSON with nothing to compact or escape.
func writtenAsIs(b []byte) bool {
	return plainJSON(b) || compactSafe(b) && validJSON(b)
}

// compactSafe reports whether b has no byte encoding/json's compaction
// would drop or escape: no whitespace, no HTML character and no 0xE2 (the
// first byte of U+2028 and U+2029, and of other characters, which only
// cost the slower path). Valid JSON that is compactSafe is written as it is.
func compactSafe(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r', '<', '>', '&', 0xE2:
			return false
		}
	}
	return true
}

// plainJSON reports whether b is a JSON string of printable ASCII
// without quotes, backslashes or HTML characters inside, or null: what
// encoding/json writes unchanged, and what times and quantities marshal to.
func plainJSON(b []byte) bool {
	if string(b) == "null" {
		return true
	}
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return false
	}
	for _, c := range b[1 : len(b)-1] {
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// IsEmpty is encoding/json's isEmptyValue: by kind, never for a struct.
func (e marshalerEncoder) IsEmpty(ptr unsafe.Pointer) bool {
	v := reflect.NewAt(e.typ.Type1(), ptr).Elem()
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

// encoder is a pooled encoding buffer.
type encoder struct {
	stream *jsoniter.Stream
	std    bytes.Buffer
}

// encoders are the pooled encoders; one whose buffer grew past
// maxPooledBuffer (a large object) is left to the garbage collector.
var encoders = sync.Pool{New: func() any {
	return &encoder{stream: jsoniter.NewStream(encodeJSON, nil, 1024)}
}}

const maxPooledBuffer = 64 << 10

func getEncoder() *encoder { return encoders.Get().(*encoder) }

func putEncoder(e *encoder) {
	if cap(e.stream.Buffer()) <= maxPooledBuffer && e.std.Cap() <= maxPooledBuffer {
		encoders.Put(e)
	}
}

// encode encodes v as json.Marshal does; the bytes are the encoder's
// until its next use. size, when known, is about the size of the
// encoding: the buffer is made that large at once instead of grown.
func (e *encoder) encode(v any, size int) ([]byte, error) {
	s := e.stream
	s.Error = nil
	if b := s.Buffer(); cap(b) < size {
		s.SetBuffer(make([]byte, 0, size))
	} else {
		s.SetBuffer(b[:0])
	}
	if fastEncode(s, v) {
		return s.Buffer(), nil
	}
	// An Encoder escapes HTML as Marshal does and writes into the pooled
	// buffer; it ends the value with a newline.
	e.std.Reset()
	if err := json.NewEncoder(&e.std).Encode(v); err != nil {
		return nil, err
	}
	b := e.std.Bytes()
	return b[:len(b)-1], nil
}

// fastEncode encodes v with encodeJSON and reports whether it did. A panic
// in json-iterator (none is known) counts as a refusal, and encoding/json
// then answers.
func fastEncode(s *jsoniter.Stream, v any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	s.WriteVal(v)
	return s.Error == nil
}

// AppendJSON appends v to dst encoded as json.Marshal encodes it (the same
// bytes, with the fast encoder where it applies), for the API's encodes of
// an object on the write path.
func AppendJSON(dst []byte, v any) ([]byte, error) {
	e := getEncoder()
	defer putEncoder(e)
	s := e.stream
	own := s.Buffer()
	s.Error = nil
	s.SetBuffer(dst)
	ok := fastEncode(s, v)
	out := s.Buffer()
	s.SetBuffer(own[:0])
	if ok {
		return out, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return dst, err
	}
	return append(dst, b...), nil
}

// fieldsV1Encoder writes a v1.FieldsV1 (a managedFields entry's fields,
// most of a created object's bytes) as marshalerEncoder does, without
// boxing it to call MarshalJSON: null for no bytes, else its bytes as they
// are when writtenAsIs shows encoding/json would keep them, else compacted
// and escaped (appendMarshaled). TestFieldsV1EncodeMatchesMarshal and FuzzFieldsV1Encode
// hold it to encoding/json's bytes.
type fieldsV1Encoder struct{}

func (fieldsV1Encoder) Encode(ptr unsafe.Pointer, stream *jsoniter.Stream) {
	raw := (*v1.FieldsV1)(ptr).Raw
	switch {
	case len(raw) == 0:
		stream.WriteNil() // FieldsV1.MarshalJSON's null
	default:
		appendMarshaled(stream, raw) // MarshalJSON's answer: raw itself
	}
}

func (fieldsV1Encoder) IsEmpty(unsafe.Pointer) bool { return false } // a struct
