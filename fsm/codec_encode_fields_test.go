package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unsafe"

	jsoniter "github.com/json-iterator/go"
	"github.com/modern-go/reflect2"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
)

// oldFieldsV1Encode writes raw as a *v1.FieldsV1 with the encoder it had
// before fieldsV1Encoder (MarshalJSON through marshalerEncoder), and
// reports whether that encoder wrote it.
func oldFieldsV1Encode(raw []byte) ([]byte, bool) {
	s := jsoniter.NewStream(encodeJSON, nil, 64)
	f := &v1.FieldsV1{Raw: raw}
	enc := pointerEncoder{marshalerEncoder{typ: reflect2.TypeOf(v1.FieldsV1{})}}
	enc.Encode(unsafe.Pointer(&f), s)
	return s.Buffer(), s.Error == nil
}

// checkFieldsV1Encode fails unless a managedFields entry holding raw
// encodes as json.Marshal encodes it (bytes, error), fieldsV1Encoder writes
// what the old encoder wrote and refuses what it refused, and writtenAsIs
// holds only of raw that encoding/json writes unchanged. It reports
// whether writtenAsIs held.
func checkFieldsV1Encode(t *testing.T, e *encoder, raw []byte) (asIs bool) {
	t.Helper()
	checkSameEncode(t, e, &v1.ManagedFieldsEntry{Manager: "m", FieldsV1: &v1.FieldsV1{Raw: raw}})
	old, oldOK := oldFieldsV1Encode(raw)
	s := jsoniter.NewStream(encodeJSON, nil, 64)
	f := &v1.FieldsV1{Raw: raw}
	pointerEncoder{fieldsV1Encoder{}}.Encode(unsafe.Pointer(&f), s)
	if ok := s.Error == nil; ok != oldOK || ok && !bytes.Equal(s.Buffer(), old) {
		t.Fatalf("raw %q: fieldsV1Encoder %q (ok %v), old encoder %q (ok %v)", raw, s.Buffer(), ok, old, oldOK)
	}
	if !writtenAsIs(raw) {
		return false
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatalf("writtenAsIs(%q) but json.Compact: %v", raw, err)
	}
	var esc bytes.Buffer
	json.HTMLEscape(&esc, compact.Bytes())
	if !bytes.Equal(esc.Bytes(), raw) {
		t.Fatalf("writtenAsIs(%q) but encoding/json writes %q", raw, esc.Bytes())
	}
	return true
}

// TestFieldsV1EncodeMatchesMarshal encodes managedFields entries whose
// fields are valid and invalid JSON of odd content (whitespace inside and
// outside strings, HTML characters, U+2028/2029 and other 0xE2
// characters, escapes, control characters, invalid UTF-8, numbers, deep
// nesting, truncations and random byte edits of real fields): the bytes
// json.Marshal and the old encoder write.
func TestFieldsV1EncodeMatchesMarshal(t *testing.T) {
	deep := func(n int) string { return strings.Repeat(`{"a":`, n) + "{}" + strings.Repeat("}", n) }
	deepArr := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	table := []string{
		"", "null", "{}", "[]", `""`, `"x"`, "0", "-0", "01", "1.", "1.5e+3", "-1E-7", "1e", "true", "false", "nul", "tru",
		benchFields, `{"f:a":{}}`, `{"f:a":{},}`, `{"f:a" :{}}`, `{ "f:a":{}}`, "{\"f:a\":{}}\n", ` {"a":{}}`,
		`{"a b":{}}`, `{"<a>":{}}`, `{"a":"&"}`, "{\"\u2028\":{}}", "{\"\u2029\":1}", "{\"é€😀\":{}}", "{\"\xe2\x82\xac\":{}}",
		"{\"\xe2\":{}}", "{\"\xff\xfe\":{}}", "{\"a\x00\":{}}", "{\"a\x1f\":{}}", "{\"a\x7f\":{}}", "{\"a\t\":{}}",
		`{"k:{\"name\":\"web\"}":{}}`, `{"\u003c\u2028\/\b\f\n\r\t\\":{}}`, `{"\u12":{}}`, `{"\x":{}}`, `{"a\`, `{"a"`, `{"a":`,
		`{"a":{}`, `{"a":{}}}`, `{"a":{}}x`, `{"a":[1,2,{"b":null}],"c":[]}`, `[1,]`, `[,1]`, `{,}`, `{"a"}`, `{"a":1,"a":2}`,
		`{1:2}`, `}`, `]`, `[}`, `{]`, deep(63), deep(64), deep(65), deep(200), deepArr(64), deepArr(65), deepArr(10001),
		strings.Repeat(`"abcdefgh`, 3) + `"`, `"abcdefgh<"`, `"abcdefghijklmno&"`, "\"abcdefghijklmno\xe2\x80\xa8\"",
	}
	e := getEncoder()
	for _, raw := range table {
		checkFieldsV1Encode(t, e, []byte(raw))
	}
	// Random edits of real fields: most stay as they are, some not.
	rnd := rand.New(rand.NewPCG(17, 5))
	edits := []string{" ", "\n", "<", ">", "&", "\xe2", "\u2028", "\u2029", "€", "\\", `"`, "\x00", "\x1f", "\xff", "{", "}", "[", "]", ",", ":", "1", "-", "e", ".", `\u00e9`, `\n`, "null"}
	asIs, total := 0, 0
	for range 20000 {
		b := []byte(benchFields)
		if rnd.IntN(2) == 0 {
			b = []byte(fmt.Sprintf(`{"f:%d":{"v":[%d,-%d.5e%d,true,false,null,"s"]},"k:{\"a\":%d}":{}}`, rnd.IntN(1000), rnd.IntN(1000), rnd.IntN(9), rnd.IntN(9), rnd.IntN(9)))
		}
		for n := rnd.IntN(3); n > 0; n-- {
			i := rnd.IntN(len(b) + 1)
			switch rnd.IntN(3) {
			case 0: // insert
				b = append(b[:i:i], append([]byte(edits[rnd.IntN(len(edits))]), b[i:]...)...)
			case 1: // delete
				if i < len(b) {
					b = append(b[:i:i], b[i+1:]...)
				}
			default: // truncate
				b = b[:i]
			}
		}
		total++
		if checkFieldsV1Encode(t, e, b) {
			asIs++
		}
	}
	if t.Logf("%d of %d random fields written as they are", asIs, total); asIs < total/10 || asIs > total*9/10 {
		t.Errorf("%d of %d random fields written as they are: the test holds writtenAsIs to little", asIs, total)
	}
}

// FuzzFieldsV1Encode: any bytes as a managedFields entry's fields encode
// as json.Marshal and the old encoder encode them.
func FuzzFieldsV1Encode(f *testing.F) {
	for _, s := range []string{benchFields, `{"f:a":{}}`, "{ \"<a>\" : \"\u2028\" }", `[1,-0.5e3,true,null]`, "{\"\xe2\":1}", `{"a":`} {
		f.Add([]byte(s))
	}
	e := getEncoder()
	f.Fuzz(func(t *testing.T, raw []byte) { checkFieldsV1Encode(t, e, raw) })
}

// TestOwnEncodersBehindPointers: a pointer to a value one of ownEncoder's
// encoders writes (a time, a micro time, an IntOrString, fields) encodes as
// json.Marshal encodes it: null for nil, else the element's MarshalJSON,
// an error where that refuses.
func TestOwnEncodersBehindPointers(t *testing.T) {
	type holder struct {
		T   *v1.Time            `json:"t"`
		TO  *v1.Time            `json:"to,omitempty"`
		M   *v1.MicroTime       `json:"m"`
		I   *intstr.IntOrString `json:"i"`
		IO  *intstr.IntOrString `json:"io,omitempty"`
		F   *v1.FieldsV1        `json:"f"`
		FO  *v1.FieldsV1        `json:"fo,omitempty"`
		PPT **v1.Time           `json:"ppt"`
	}
	at := v1.NewTime(time.Date(2026, 12, 5, 13, 0, 0, 5, time.FixedZone("x", 3600)))
	far := v1.NewTime(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))
	zero := v1.Time{}
	pat := &at
	cases := map[string]holder{
		"nil":             {},
		"set":             {T: &at, TO: &at, M: &v1.MicroTime{Time: at.Time}, I: ptr(intstr.FromInt32(-3)), IO: ptr(intstr.FromString("<a>\u2028")), F: &v1.FieldsV1{Raw: []byte(`{"f:a":{}}`)}, FO: &v1.FieldsV1{}, PPT: &pat},
		"zero times":      {T: &zero, TO: &zero, M: &v1.MicroTime{}},
		"time too far":    {T: &far},
		"micro too far":   {M: &v1.MicroTime{Time: far.Time}},
		"int or string 7": {I: &intstr.IntOrString{Type: 7}},
		"bad fields":      {F: &v1.FieldsV1{Raw: []byte(`{"a"`)}},
		"spaced fields":   {FO: &v1.FieldsV1{Raw: []byte(" { \"<a>\" : [ 1 , 2 ] } ")}},
	}
	e := getEncoder()
	for name, h := range cases {
		t.Run(name, func(t *testing.T) { checkSameEncode(t, e, &h) })
	}
}
