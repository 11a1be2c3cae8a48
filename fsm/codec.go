package fsm

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"unicode/utf8"
	"unsafe"

	jsoniter "github.com/json-iterator/go"
	"github.com/modern-go/reflect2"
)

// objectJSON is the fast decoder of stored objects: json-iterator held to
// the strictest reading it offers. Keys must match a field's name exactly
// and be plain strings, and a key no field has is an error, so what it
// reads it reads as encoding/json would; what it does not (a key in another
// case, an escaped key, an unknown field, a value of the wrong type) makes
// it fail, and decodeObject reads that with encoding/json instead.
var objectJSON = func() jsoniter.API {
	api := jsoniter.Config{
		CaseSensitive:                 true,
		DisallowUnknownFields:         true,
		ObjectFieldMustBeSimpleString: true,
		EscapeHTML:                    true,
		SortMapKeys:                   true,
		ValidateJsonRawMessage:        true,
	}.Froze()
	api.RegisterExtension(&nullKeeps{})
	return api
}()

// nullKeeps makes a null leave a string, number or bool as it was, as
// encoding/json does (json-iterator zeroes a string): a key given twice,
// the second time null, keeps the first value.
type nullKeeps struct{ jsoniter.DummyExtension }

var (
	jsonUnmarshaler = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshaler = reflect.TypeFor[encoding.TextUnmarshaler]()
)

// DecorateDecoder wraps the decoders of scalar kinds that decode
// themselves with no method of their own.
func (*nullKeeps) DecorateDecoder(typ reflect2.Type, dec jsoniter.ValDecoder) jsoniter.ValDecoder {
	t := typ.Type1()
	switch t.Kind() {
	case reflect.String, reflect.Bool,
		reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
	default:
		return dec
	}
	if p := reflect.PointerTo(t); p.Implements(jsonUnmarshaler) || p.Implements(textUnmarshaler) {
		return dec
	}
	return nullKeepingDecoder{dec}
}

// nullKeepingDecoder is a scalar's decoder that passes over a null.
type nullKeepingDecoder struct{ jsoniter.ValDecoder }

// Decode reads a null as nothing and anything else as the wrapped decoder.
func (d nullKeepingDecoder) Decode(ptr unsafe.Pointer, iter *jsoniter.Iterator) {
	if iter.ReadNil() {
		return
	}
	d.ValDecoder.Decode(ptr, iter)
}

// decodeObject decodes data into obj, a pointer to a zero object, as
// json.Unmarshal does: the same object, and an error exactly when
// json.Unmarshal gives one (then json.Unmarshal's). Every master decodes
// stored objects with it (Record.Object) and Verify proves with it what is
// proposed, so the proof speaks of the decoder the masters use.
//
// What fsm's encoder writes (the canonical form) is read by
// decodeCanonical in one pass, several times faster; what it refuses goes
// to decodeGeneral. There, valid UTF-8 that is valid JSON with short
// integers only is read by objectJSON, about twice as fast as
// encoding/json; anything else, and anything objectJSON refuses, is read by
// encoding/json from a zero object again. objectJSON alone would differ
// from encoding/json on invalid UTF-8 (kept, not replaced by U+FFFD), on
// invalid JSON inside values it skips, on integers that overflow, on keys
// in another case and on unknown fields: those never reach it, or make it
// fail. FuzzDecodeObject and FuzzDecodeCanonical hold them all to the same
// answers on every kind.
func decodeObject(data []byte, obj any) error {
	if decodeCanonical(data, obj) {
		return nil
	}
	return decodeGeneral(data, obj)
}

// decodeGeneral is decodeObject for any input: json-iterator for what it
// reads as encoding/json does, encoding/json for the rest.
func decodeGeneral(data []byte, obj any) error {
	if utf8.Valid(data) && shortIntegers(data) && validJSON(data) && fastDecode(data, obj) {
		return nil
	}
	return json.Unmarshal(data, obj)
}

// maxFastDigits is the most digits a number objectJSON reads may have:
// json-iterator misses some overflows of wider numbers (5416471759 into an
// int32 wraps instead of failing), and no 9-digit integer overflows.
const maxFastDigits = 9

// shortIntegers reports whether every number in data, outside strings, is
// an integer of at most maxFastDigits digits (no fraction, no exponent).
// A false answer only sends data to encoding/json; data need not be JSON.
func shortIntegers(data []byte) bool {
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			// Skip the string: to the next quote that an even number of
			// backslashes precedes (the opening quote stops the count).
			for {
				j := bytes.IndexByte(data[i+1:], '"')
				if j < 0 {
					return true // no closing quote: not JSON, which validJSON tells
				}
				i += 1 + j
				k := i - 1
				for data[k] == '\\' {
					k--
				}
				if (i-1-k)%2 == 0 {
					break
				}
			}
		case c == '-' || c >= '0' && c <= '9':
			digits := 0
			for ; i < len(data); i++ {
				c := data[i]
				if c >= '0' && c <= '9' {
					digits++
				} else if c == '.' || c == 'e' || c == 'E' || c == '+' {
					return false
				} else if c != '-' {
					break
				}
			}
			if digits > maxFastDigits {
				return false
			}
			i--
		}
	}
	return true
}

// fastDecode decodes data into obj with objectJSON and reports whether it
// did; when not, obj is zero again. A panic in objectJSON (none is known)
// counts as a refusal: encoding/json then answers, so no input can make a
// master's decode panic through it.
func fastDecode(data []byte, obj any) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
		if !ok {
			reflect.ValueOf(obj).Elem().SetZero()
		}
	}()
	return objectJSON.Unmarshal(data, obj) == nil
}
