package fsm

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	kjson "sigs.k8s.io/json"

	v1 "orch.io/orch/api/v1"
)

// checkStrictDecode fails unless DecodeRequest, when it decodes data as r's
// kind, gives what a strict decode gives with no error and no strict
// error, and leaves the object zero when it does not. It reports whether
// DecodeRequest decoded.
func checkStrictDecode(t *testing.T, r v1.Resource, data []byte) bool {
	t.Helper()
	got := r.New()
	if !DecodeRequest(data, got) {
		if !reflect.DeepEqual(got, r.New()) {
			t.Fatalf("%s %q: DecodeRequest refused but left %+v", r.Kind, data, got)
		}
		return false
	}
	want := r.New()
	strict, err := kjson.UnmarshalStrict(data, want)
	if err != nil || len(strict) > 0 {
		t.Fatalf("%s %q: DecodeRequest decoded, the strict decode says %v %v", r.Kind, data, err, strict)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %q:\nDecodeRequest %+v\nstrict        %+v", r.Kind, data, got, want)
	}
	return true
}

// strictAlterations are bodies a strict decode refuses or reads unlike
// encoding/json: keys given twice (nested, in arrays, in maps), escaped,
// in another case, unknown, and integers where an interface would keep them.
func strictAlterations(raw []byte) [][]byte {
	s := string(raw)
	out := alterations(raw)
	for _, a := range []string{
		`,"metadata":{"labels":{"a":"1","b":"2","a":"3"}}}`,
		`,"metadata":{"name":"x","name":"x"}}`,
		`,"metadata":{"ownerReferences":[{"name":"a","kind":"b"},{"name":"a","name":"c"}]}}`,
		`,"metadata":{"labels":{"a\u0062":"1","ab":"2"}}}`,
		`,"metadata":{"labels":{"a":"1"},"annotations":{"a":"1"}}}`,
		`,"metadata":{"labels":{"\"":"1","\\":"2"}}}`,
		`,"kind":"x","kind":"y"}`,
		`,"metadata":{"Labels":{"a":"1"}}}`,
	} {
		out = append(out, []byte(s[:len(s)-1]+a))
	}
	return out
}

// TestDecodeRequestMatchesStrict decodes random objects of every served
// kind, as stored and altered, with DecodeRequest and the strict decoder;
// most stored objects must be decoded by DecodeRequest itself.
func TestDecodeRequestMatchesStrict(t *testing.T) {
	kinds := make(map[string]v1.Resource)
	for _, r := range v1.Served() {
		kinds[r.Kind+"."+r.Group] = r
	}
	total, fast := 0, 0
	for kind, raws := range randomObjects(t, 6, 12) {
		r := kinds[kind]
		t.Run(kind, func(t *testing.T) {
			for _, raw := range raws {
				total++
				if checkStrictDecode(t, r, raw) {
					fast++
				}
				for _, alt := range strictAlterations(raw) {
					checkStrictDecode(t, r, alt)
				}
			}
		})
	}
	// Random objects often have a wide integer; a quarter must still be
	// decoded fast, and every plain object, or the test would hold
	// DecodeRequest to nothing.
	if t.Logf("%d of %d stored objects decoded by DecodeRequest", fast, total); fast < total/4 {
		t.Errorf("only %d of %d stored objects decoded by DecodeRequest", fast, total)
	}
	for _, obj := range verifyBenchObjects() {
		raw, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := v1.ResourceOf(obj)
		if !checkStrictDecode(t, r, raw) {
			t.Errorf("DecodeRequest refuses a plain %s", r.Kind)
		}
		// A typed client's body is in the canonical form: one pass.
		if !decodeCanonical(raw, r.New()) {
			t.Errorf("a typed client's %s is not read by decodeCanonical", r.Kind)
		}
	}
}

func TestUniqueKeys(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{`{}`, true},
		{`{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}`, true},
		{`{"a":1,"a":2}`, false},
		{`{"a":{"b":1,"b":1}}`, false},
		{`[{"a":1,"b":[],"a":2}]`, false},
		{`{"a":{"x":1},"b":{"x":1},"x":1}`, true},
		{`{"a":"\"a\":","b":"a"}`, true},
		{`{"a\"":1,"a":2}`, true},
		{`{"a\u0062":1,"ab":2}`, false},
		{`{"\ud800":1,"\udfff":2}`, false}, // both U+FFFD
		{`{"\/":1,"/":2}`, false},
		{`{"a":["b","b"],"b":"a"}`, true},
		{`{"` + strings.Repeat("k", 3) + `":1}`, true},
	} {
		if got := uniqueKeys([]byte(tt.in)); got != tt.want {
			t.Errorf("uniqueKeys(%s) = %v, want %v", tt.in, got, tt.want)
		}
	}
	var many strings.Builder
	many.WriteString("{")
	for i := range maxUniqueKeys + 1 {
		if i > 0 {
			many.WriteString(",")
		}
		many.WriteString(`"k` + strings.Repeat("x", i) + `":1`)
	}
	many.WriteString("}")
	if uniqueKeys([]byte(many.String())) {
		t.Errorf("uniqueKeys of an object of %d keys = true, want false (left to the strict decoder)", maxUniqueKeys+1)
	}
}

// FuzzDecodeRequest decodes arbitrary bytes as an object of a served kind
// with DecodeRequest and the strict decoder: when DecodeRequest decodes,
// the same object and no strict error.
func FuzzDecodeRequest(f *testing.F) {
	served := v1.Served()
	objects := randomObjects(f, 7, 1)
	for i, r := range served {
		for _, raw := range objects[r.Kind+"."+r.Group] {
			f.Add(uint8(i), raw)
			if r.Kind == "Pod" || r.Kind == "ConfigMap" || r.Kind == "Deployment" {
				for _, alt := range strictAlterations(raw) {
					f.Add(uint8(i), alt)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		checkStrictDecode(t, served[int(kind)%len(served)], data)
	})
}
