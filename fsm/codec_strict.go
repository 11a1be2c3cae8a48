package fsm

import (
	"bytes"
	"encoding/json"
	"reflect"
	"unicode/utf8"
	"unsafe"

	jsoniter "github.com/json-iterator/go"
	"github.com/modern-go/reflect2"
)

// requestJSON is objectJSON (keys exact, unknown fields an error, a null
// keeps a scalar) that also refuses to decode into an interface: a strict
// request decode keeps integers there as int64 where json-iterator and
// encoding/json make float64s, so such a body goes to the strict decoder.
var requestJSON = func() jsoniter.API {
	api := jsoniter.Config{
		CaseSensitive:                 true,
		DisallowUnknownFields:         true,
		ObjectFieldMustBeSimpleString: true,
		EscapeHTML:                    true,
		SortMapKeys:                   true,
		ValidateJsonRawMessage:        true,
	}.Froze()
	api.RegisterExtension(&nullKeeps{})
	api.RegisterExtension(&noInterfaces{})
	return api
}()

// noInterfaces makes decoding into an interface fail.
type noInterfaces struct{ jsoniter.DummyExtension }

// CreateDecoder returns a failing decoder for interface kinds.
func (*noInterfaces) CreateDecoder(typ reflect2.Type) jsoniter.ValDecoder {
	if typ.Kind() == reflect.Interface {
		return refuseDecoder{}
	}
	return nil
}

// refuseDecoder fails the decode.
type refuseDecoder struct{}

// Decode reports an error.
func (refuseDecoder) Decode(_ unsafe.Pointer, iter *jsoniter.Iterator) {
	iter.ReportError("decode", "an interface is left to the strict decoder")
}

// DecodeRequest decodes a request body into obj, a pointer to a zero
// object, when it can prove the answer is that of a strict decode
// (sigs.k8s.io/json's UnmarshalStrict, as the API server decodes bodies
// with fieldValidation=Strict): the same object, and no error, duplicate
// field or unknown field. It reports false, obj zero again, for anything
// else — invalid UTF-8 or JSON, an integer of more than 9 digits, a number
// with a fraction or exponent, a key given twice, a key no field
// has or in another case, an interface field — and the caller then decodes
// with the strict decoder, which gives the exact error.
//
// The proof: a body in the canonical form (decodeCanonical: exact keys in
// declaration order, each once, no interface) is read as json.Unmarshal
// reads it, and so is what passes the checks below by json-iterator
// (decodeObject, held so by FuzzDecodeObject); with exact keys, no
// duplicates and no interfaces encoding/json and the strict decoder read
// the same. FuzzDecodeRequest holds the two equal. A typed client's body
// (json.Marshal of orch's own types) is in the canonical form and read in
// one pass; others take the checks and json-iterator.
func DecodeRequest(data []byte, obj any) bool {
	if decodeCanonical(data, obj) {
		return true
	}
	if !utf8.Valid(data) || !shortIntegers(data) || !validJSON(data) || !uniqueKeys(data) {
		return false
	}
	ok := false
	func() {
		defer func() {
			if recover() != nil {
				ok = false
			}
		}()
		ok = requestJSON.Unmarshal(data, obj) == nil
	}()
	if !ok {
		reflect.ValueOf(obj).Elem().SetZero()
	}
	return ok
}

// maxUniqueKeys is the most keys uniqueKeys compares in one object (each
// with all before it); an object with more goes to the strict decoder.
const maxUniqueKeys = 64

// uniqueKeys reports whether no object in data, valid UTF-8 and valid
// JSON, has a key twice, keys compared as decoded (an escaped key is
// decoded, and the rest are as written). False only sends data to the
// strict decoder.
func uniqueKeys(data []byte) bool {
	type frame struct {
		object bool
		first  int // the index in keys of the object's first key
	}
	var frames [16]frame
	var keyArr [64][]byte
	stack, keys := frames[:0], keyArr[:0]
	expectKey := false
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '{':
			stack = append(stack, frame{object: true, first: len(keys)})
			expectKey = true
		case '[':
			stack = append(stack, frame{first: len(keys)})
			expectKey = false
		case '}', ']':
			if len(stack) == 0 {
				return false // not valid JSON, which validJSON tells
			}
			keys = keys[:stack[len(stack)-1].first]
			stack = stack[:len(stack)-1]
			expectKey = false
		case ',':
			expectKey = len(stack) > 0 && stack[len(stack)-1].object
		case '"':
			end := closingQuote(data, i+1)
			if end < 0 {
				return false
			}
			if expectKey {
				k := data[i+1 : end]
				if bytes.IndexByte(k, '\\') >= 0 {
					// Compared as decoded: two escapes can spell one key.
					var d string
					if json.Unmarshal(data[i:end+1], &d) != nil {
						return false
					}
					k = []byte(d)
				}
				first := stack[len(stack)-1].first
				if len(keys)-first >= maxUniqueKeys {
					return false
				}
				for _, o := range keys[first:] {
					if bytes.Equal(o, k) {
						return false
					}
				}
				keys = append(keys, k)
				expectKey = false
			}
			i = end
		}
	}
	return true
}

// closingQuote returns the index of the quote that closes the string whose
// text starts at data[from], or -1.
func closingQuote(data []byte, from int) int {
	for {
		n := bytes.IndexByte(data[from:], '"')
		if n < 0 {
			return -1
		}
		q := from + n
		k := q - 1
		for k >= from && data[k] == '\\' {
			k--
		}
		if (q-1-k)%2 == 0 {
			return q
		}
		from = q + 1
	}
}
