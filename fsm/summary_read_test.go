package fsm

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// TestReadSummarySkipsAnyValue: values the summary does not read are
// skipped whatever they hold (brackets and quotes inside strings, escapes,
// nesting, whitespace), and what is read after them is read right.
func TestReadSummarySkipsAnyValue(t *testing.T) {
	for _, tc := range []struct{ name, raw string }{
		{"brackets in strings", `{"kind":"Pod","metadata":{"annotations":{"a":"}]{[\"","b":"\\"},"name":"p"},"spec":{"x":"}","schedulerName":"s"}}`},
		{"nested arrays and objects", `{"kind":"Pod","spec":{"a":[[{"b":[{}]}],[]],"schedulerName":"s"},"metadata":{"managedFields":[{"fieldsV1":{"k:{\"a\":1}":{".":{}}}}],"uid":"u"}}`},
		{"literals and numbers", `{"kind":"Pod","status":{"a":true,"b":false,"c":null,"d":-1.5e-3,"phase":"Failed"},"metadata":{"generation":12,"name":"p"}}`},
		{"whitespace", " {\n \"kind\" : \"Pod\" ,\t\"metadata\" : { \"name\" : \"p\" , \"labels\" : { \"a\" : \"b\" } , \"finalizers\" : [ \"f\" , \"g\" ] } , \"spec\" : { } } \n"},
		{"escaped label key", `{"kind":"Pod","metadata":{"labels":{"a\u0062":"c"}}}`},
		{"unicode", `{"kind":"Pod","metadata":{"name":"é","labels":{"k":"日本"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := readSummary([]byte(tc.raw))
			if !ok {
				t.Fatal("not read")
			}
			var p v1.Pod
			if err := json.Unmarshal([]byte(tc.raw), &p); err != nil {
				t.Fatal(err)
			}
			if want := summaryOf(&p); !reflect.DeepEqual(got, want) {
				t.Fatalf("summary read\n%#v\nencoding/json's\n%#v", got, want)
			}
		})
	}
}

// TestReadSummaryAllocations: a summary of a ~1 KiB pod allocates what it
// keeps (the summary, its strings, labels, owner and finalizer), not the
// keys of what it skips.
func TestReadSummaryAllocations(t *testing.T) {
	raw, err := json.Marshal(summaryPod())
	if err != nil {
		t.Fatal(err)
	}
	n := testing.AllocsPerRun(100, func() {
		if _, ok := readSummary(raw); !ok {
			t.Fatal("not read")
		}
	})
	// The summary, name, namespace, uid, resourceVersion, the labels' map
	// and its 4 strings, the owner references' slice and 4 strings, the
	// finalizers' slice and string, the controller flag: 19, and what the
	// timestamp's parse takes (jsoniter's reader took ~65).
	if n > 24 {
		t.Fatalf("%v allocations per summary, want at most 24", n)
	}
}

// FuzzReadSummary: any bytes read without panicking; the bytes of an
// object as encoding/json writes it read as the summary of the object it
// decodes them to.
func FuzzReadSummary(f *testing.F) {
	for _, p := range []*v1.Pod{summaryPod(), fullMetaPod()} {
		raw, err := json.Marshal(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{"kind":"Pod","metadata":{"name":"p\u002dq","labels":{"a\"b":"caf\u00e9"}},"spec":{"schedulerName":"s\/t"}}`))
	f.Add([]byte(`{"kind":"Pod","metadata":{"name":"p"`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := readSummary(raw)
		var p v1.Pod
		if json.Unmarshal(raw, &p) != nil {
			return
		}
		canonical, err := json.Marshal(&p)
		if err != nil || !bytes.Equal(canonical, raw) || p.Kind == "" {
			return // not bytes orch stores
		}
		if !ok {
			t.Fatalf("stored bytes not read: %s", raw)
		}
		if want := summaryOf(&p); !reflect.DeepEqual(got, want) {
			t.Fatalf("summary read\n%#v\nencoding/json's\n%#v", got, want)
		}
	})
}
