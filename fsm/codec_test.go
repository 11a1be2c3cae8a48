package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"

	v1 "orch.io/orch/api/v1"
)

// randomObjects returns n random objects of every kind the API serves, with
// every field filled or left out at random (strings from ASCII, HTML and
// escapes to arbitrary Unicode), encoded as the API stores them.
func randomObjects(tb testing.TB, seed int64, n int) map[string][][]byte {
	tb.Helper()
	out := make(map[string][][]byte)
	for kind, objs := range randomValues(seed, n) {
		for _, obj := range objs {
			raw, err := json.Marshal(obj)
			if err != nil {
				continue // a value no encoder writes (a NaN, a time out of range)
			}
			out[kind] = append(out[kind], raw)
		}
	}
	return out
}

// randomValues returns n random objects of every kind the API serves,
// keyed by kind and group, with every field filled or left out at random:
// strings from ASCII, HTML characters, escapes, line separators, control
// characters and invalid UTF-8 to arbitrary Unicode.
func randomValues(seed int64, n int) map[string][]v1.Object {
	f := randomFiller(seed)
	out := make(map[string][]v1.Object)
	for _, r := range v1.Served() {
		for range n {
			obj := r.New()
			f.Fill(obj)
			v1.SetTypeMeta(obj)
			out[r.Kind+"."+r.Group] = append(out[r.Kind+"."+r.Group], obj)
		}
	}
	return out
}

// randomFiller fills values at random as randomValues describes.
func randomFiller(seed int64) *randfill.Filler {
	words := []string{"a", "web", "", "a<b>&c", `q"\`, "\u2028\u2029", "\x00\x1f\b\f\t\x7f", "é€😀", "K\u212a", strings.Repeat("x", 300), "bad\xff\xfeutf8", "\xe2\x80", "z"}
	return randfill.NewWithSeed(seed).NilChance(0.3).NumElements(0, 3).MaxDepth(12).Funcs(
		func(s *string, c randfill.Continue) {
			if c.Intn(4) == 0 {
				c.FillNoCustom(s) // arbitrary Unicode
				return
			}
			*s = words[c.Intn(len(words))]
		},
		func(tm *v1.Time, c randfill.Continue) {
			if c.Intn(5) > 0 {
				*tm = v1.NewTime(time.Unix(c.Int63n(1<<35), 0))
			}
		},
		func(mt *v1.MicroTime, c randfill.Continue) {
			if c.Intn(5) > 0 {
				*mt = v1.NewMicroTime(time.Unix(c.Int63n(1<<35), c.Int63n(1e9)))
			}
		},
		func(q *resource.Quantity, c randfill.Continue) {
			*q = *resource.NewMilliQuantity(c.Int63()-c.Int63(), resource.DecimalSI)
		},
		func(x *intstr.IntOrString, c randfill.Continue) {
			if c.Bool() {
				*x = intstr.FromInt32(c.Int31() - c.Int31())
			} else {
				*x = intstr.FromString(words[c.Intn(len(words))])
			}
		},
		func(x *v1.FieldsV1, c randfill.Continue) {
			x.Raw = [][]byte{nil, []byte(`{"f:a":{}}`), []byte(`{"f:metadata":{"f:labels":{".":{},"f:app":{}}},"k:{\"name\":\"a\"}":{}}`),
				[]byte("{ \"k:{\\\"name\\\":\\\"<a&b>\u2028\\\"}\" :\n{} }")}[c.Intn(4)]
		},
		func(p *int32, c randfill.Continue) {
			if *p = int32(c.Intn(2000) - 1000); c.Intn(4) == 0 {
				*p = c.Int31() - c.Int31()
			}
		},
		func(p *int64, c randfill.Continue) {
			if *p = int64(c.Intn(2000) - 1000); c.Intn(4) == 0 {
				*p = c.Int63() - c.Int63()
			}
		},
		func(r *runtime.RawExtension, c randfill.Continue) {
			r.Raw = [][]byte{nil, []byte(`{"a":1}`), []byte(`{"big":123456789012345678901234567890,"f":1e300,"n":null,"s":"\u00e9"}`), []byte(`[1,-0.0,{"a":[]}]`),
				[]byte("{ \"h\": \"<&>\u2029\" ,\t\"e\":[ ] }")}[c.Intn(5)]
		},
	)
}

// checkSameDecode fails unless decodeObject gives what json.Unmarshal gives
// for data decoded as r's kind: an equal object, or the same error.
func checkSameDecode(t *testing.T, r v1.Resource, data []byte) {
	t.Helper()
	want, got := r.New(), r.New()
	wantErr := json.Unmarshal(data, want)
	gotErr := decodeObject(data, got)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%s %q: decodeObject error %v, json.Unmarshal %v", r.Kind, data, gotErr, wantErr)
	}
	if wantErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %q:\ndecodeObject %+v\njson.Unmarshal %+v", r.Kind, data, got, want)
	}
}

// TestDecodeObjectMatchesEncodingJSON decodes random objects of every kind
// as stored and then altered as no encoder writes them: each must decode
// as json.Unmarshal decodes it, and what the API stores must be read by the
// fast decoder itself (else it would save nothing).
func TestDecodeObjectMatchesEncodingJSON(t *testing.T) {
	objects := randomObjects(t, 1, 12)
	kinds := make(map[string]v1.Resource)
	for _, r := range v1.Served() {
		kinds[r.Kind+"."+r.Group] = r
	}
	if len(objects) != len(kinds) {
		t.Fatalf("random objects of %d kinds, want all %d", len(objects), len(kinds))
	}
	stored, fast := 0, 0
	for kind, raws := range objects {
		r := kinds[kind]
		t.Run(kind, func(t *testing.T) {
			for _, raw := range raws {
				if err := objectJSON.Unmarshal(raw, r.New()); err != nil {
					t.Fatalf("the fast decoder refuses a stored %s: %v\n%s", r.Kind, err, raw)
				}
				stored++
				if utf8.Valid(raw) && shortIntegers(raw) && validJSON(raw) {
					fast++
				}
				checkSameDecode(t, r, raw)
				for _, alt := range alterations(raw) {
					checkSameDecode(t, r, alt)
				}
			}
		})
	}
	// Random objects have a wide integer now and then; the rest must be
	// read by the fast decoder, or the test would hold it to nothing.
	if t.Logf("%d of %d stored objects read by the fast decoder", fast, stored); fast < stored/3 {
		t.Errorf("only %d of %d stored objects read by the fast decoder", fast, stored)
	}
}

func TestShortIntegers(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{``, true},
		{`{"a":1,"b":-999999999,"c":[0,12,true,null]}`, true},
		{`{"a":1234567890}`, false},
		{`{"a":-1234567890}`, false},
		{`{"a":1.5}`, false},
		{`{"a":1e2}`, false},
		{`{"a":1E+2}`, false},
		{`{"a":"1234567890.5e9","b":"\"99999999999"}`, true},
		{`{"a":"\\","b":12345678901}`, false},
		{`{"1234567890":1}`, true},
		{`"unterminated 1234567890`, true},
		{`12345678901`, false},
		{`["a\\\"",12345678901]`, false},
		{`["a\\\\",12345678901]`, false},
		{`["\\\\\"12345678901"]`, true},
		{`"\"`, true},
	} {
		if got := shortIntegers([]byte(tt.in)); got != tt.want {
			t.Errorf("shortIntegers(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// alterations returns raw changed in the ways encoding/json and a faster
// decoder are known to read differently: keys given twice (the second time
// null or another value), keys in another case or escaped, unknown keys,
// invalid UTF-8, escapes, big numbers, trailing bytes, invalid JSON.
func alterations(raw []byte) [][]byte {
	var out [][]byte
	alt := func(b []byte) { out = append(out, b) }
	s := string(raw)
	rest := s[1:]
	alt([]byte(`{"metadata":{"name":"x","name":null,"namespace":"a","namespace":"b"},` + rest))
	alt([]byte(s[:len(s)-1] + `,"metadata":null}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"labels":null,"name":null,"generation":null}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"generation":1.0}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"generation":1e2}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"generation":99999999999999999999}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"generation":21000000000000000000}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"generation":-9223372036854775809}}`))
	alt([]byte(strings.ReplaceAll(s, `":1`, `":5416471759`)))
	alt([]byte(strings.ReplaceAll(s, `":-`, `":-5416471759`)))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"generation":"1"}}`))
	alt([]byte(s[:len(s)-1] + `,"Metadata":{"Name":"folded","nAmE":"x"}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"n\u0061me":"escaped"}}`))
	alt([]byte(s[:len(s)-1] + `,"unknown":{"a":[1,2,{"b":null}]}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"name":"\ud800\udc00\ud800x\u00e9\/"}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"name":"bad` + "\xff\xfe" + `utf8"}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"creationTimestamp":"2026-01-01T00:00:00+01:00"}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"creationTimestamp":null,"labels":{"a":"1","a":"2"}}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"managedFields":[{"fieldsV1":{"f:a":{}}},{"fieldsV1":null}]}}`))
	alt([]byte(s[:len(s)-1] + `,"metadata":{"managedFields":[{"fieldsV1":[1,01]}]}}`))
	alt([]byte(s + ` `))
	alt([]byte(s + ` x`))
	alt([]byte(s + `{}`))
	alt([]byte(strings.ReplaceAll(s, `":`, `" :`)))
	alt([]byte(strings.ReplaceAll(s, `":"`, `":null,"x":"`)))
	alt([]byte(strings.ReplaceAll(s, `":{`, `":null,"x":{`)))
	alt([]byte(strings.ReplaceAll(s, `":[`, `":null,"x":[`)))
	alt([]byte(strings.ReplaceAll(s, `":0`, `":-0`)))
	alt([]byte(strings.ReplaceAll(s, `":1`, `":1.5`)))
	alt([]byte(strings.ReplaceAll(s, `":true`, `":"true"`)))
	alt([]byte(strings.ReplaceAll(s, `"a":1`, `"a":123456789012345678901234567890e5`)))
	alt([]byte(strings.ReplaceAll(s, `"a":1`, `"a":1e400`)))
	alt([]byte(strings.ReplaceAll(s, `\u003c`, `<`)))
	alt(bytes.ToUpper(raw))
	alt(raw[:len(raw)/2])
	// Each key given twice: first as stored, then as stored once more.
	alt([]byte(s[:len(s)-1] + "," + s[1:]))
	return out
}

// FuzzDecodeObject decodes arbitrary bytes as an object of a kind the API
// serves, with decodeObject and with json.Unmarshal: the same object or the
// same error. The seeds are a random object of every kind and, for a few
// kinds, the alterations above.
func FuzzDecodeObject(f *testing.F) {
	served := v1.Served()
	objects := randomObjects(f, 2, 1)
	for i, r := range served {
		for _, raw := range objects[r.Kind+"."+r.Group] {
			f.Add(uint8(i), raw)
			if r.Kind == "Pod" || r.Kind == "ControllerRevision" || r.Kind == "ConfigMap" {
				for _, alt := range alterations(raw) {
					f.Add(uint8(i), alt)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		checkSameDecode(t, served[int(kind)%len(served)], data)
	})
}
