package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// checkCanonical fails unless decodeCanonical, on data decoded as r's
// kind, either refuses it and leaves the object zero, or reads it as
// json.Unmarshal and decodeGeneral (the decoder before it) do, with no
// error. It reports whether decodeCanonical read it.
func checkCanonical(t *testing.T, r v1.Resource, data []byte) bool {
	t.Helper()
	got := r.New()
	in := bytes.Clone(data)
	ok := decodeCanonical(in, got)
	clear(in) // the object must not share the input's bytes
	if !ok {
		if !reflect.DeepEqual(got, r.New()) {
			t.Fatalf("%s %q: refused, but the object is not zero: %+v", r.Kind, data, got)
		}
		return false
	}
	want := r.New()
	if err := json.Unmarshal(data, want); err != nil {
		t.Fatalf("%s %q: decodeCanonical reads what json.Unmarshal refuses: %v", r.Kind, data, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s %q:\ndecodeCanonical %+v\njson.Unmarshal %+v", r.Kind, data, got, want)
	}
	general := r.New()
	if err := decodeGeneral(data, general); err != nil || !reflect.DeepEqual(got, general) {
		t.Fatalf("%s %q: decodeGeneral %v %+v\ndecodeCanonical %+v", r.Kind, data, err, general, got)
	}
	return true
}

// canonicalAlterations returns raw changed in the ways a decoder of the
// canonical form must notice: whitespace, keys out of order, repeated or
// in another case, nulls where a scalar stands, empty and missing
// containers, numbers at and past their limits or written otherwise,
// escapes, map keys out of order or repeated, and garbled bytes.
func canonicalAlterations(raw []byte) [][]byte {
	s := string(raw)
	head := s[:len(s)-1]
	var out [][]byte
	alt := func(x string) { out = append(out, []byte(x)) }
	for _, meta := range []string{
		`{"name":"a","namespace":"b"}`,
		`{"namespace":"b","name":"a"}`,
		`{"name":"a","name":"b"}`,
		`{"name":"a","Name":"b"}`,
		`{"Name":"a"}`,
		`{"name":null}`,
		`{"name":"a\u003cb\u0026c\u2028\ud800"}`,
		`{"name":"\u00e9t\u00e9","uid":"` + "\u00e9t\u00e9" + `"}`,
		`{"n\u0061me":"a"}`,
		`{"generation":2147483647}`,
		`{"generation":9223372036854775807}`,
		`{"generation":9223372036854775808}`,
		`{"generation":-9223372036854775808}`,
		`{"generation":-9223372036854775809}`,
		`{"generation":18446744073709551616}`,
		`{"generation":1234567890123456789012}`,
		`{"generation":-0}`,
		`{"generation":0}`,
		`{"generation":01}`,
		`{"generation":1.0}`,
		`{"generation":1e3}`,
		`{"generation":"1"}`,
		`{"generation":null}`,
		`{"generation":true}`,
		`{"deletionGracePeriodSeconds":null}`,
		`{"deletionGracePeriodSeconds":-7}`,
		`{"labels":{}}`,
		`{"labels":null}`,
		`{"labels":{"a":"1","b":"2"}}`,
		`{"labels":{"b":"1","a":"2"}}`,
		`{"labels":{"a":"1","a":"2"}}`,
		`{"labels":{"a":"1","\u0061":"2"}}`,
		`{"labels":{"\u0062":"1","a":"2"}}`,
		`{"labels":{"a":null}}`,
		`{"labels":{"a":1}}`,
		`{"labels":{"a":"1",}}`,
		`{"finalizers":[]}`,
		`{"finalizers":null}`,
		`{"finalizers":["a","b","a"]}`,
		`{"finalizers":["a",null]}`,
		`{"finalizers":["a",]}`,
		`{"finalizers":[,]}`,
		`{"ownerReferences":[]}`,
		`{"ownerReferences":[{}]}`,
		`{"ownerReferences":[{"controller":true,"blockOwnerDeletion":false}]}`,
		`{"ownerReferences":[{"controller":null}]}`,
		`{"ownerReferences":[null]}`,
		`{"creationTimestamp":null}`,
		`{"creationTimestamp":"2026-01-01T00:00:00Z"}`,
		`{"creationTimestamp":"2026-01-01T00:00:00+01:00"}`,
		`{"creationTimestamp":""}`,
		`{"creationTimestamp":"bad"}`,
		`{"creationTimestamp":5}`,
		`{"creationTimestamp":"2026-01-01T00:00:00\u005a"}`,
		`{"managedFields":[{"time":null,"fieldsV1":null}]}`,
		`{"managedFields":[{"time":"2026-01-01T00:00:00Z","fieldsV1":{"f:a":{}}}]}`,
		`{"managedFields":[{"fieldsV1":{ "f:a" : { } }}]}`,
		`{"managedFields":[{"fieldsV1":[]}]}`,
		`{"managedFields":[{"fieldsV1":{"f:a":{}}}`,
		`{"managedFields":[{"fieldsV1":{"f:a":01}}]}`,
		`{"managedFields":[{"fieldsV1":{"f:a":"` + "\xff" + `"}}]}`,
		`{"managedFields":[{"fieldsV1":{"f:a":"` + "\x01" + `"}}]}`,
		`{"managedFields":[{"fieldsV1": {"f:a":{}}}]}`,
		`{"annotations":{"a":"` + strings.Repeat("é", 80) + `","b":"` + strings.Repeat("x", 65) + `"}}`,
		`{"annotations":{"a":"bad` + "\xff" + `"}}`,
		`{"annotations":{"a":"tab` + "\t" + `"}}`,
		`{"annotations":{"a":"` + "\u2028" + `"}}`,
		`{"unknown":1}`,
		`{}`,
		`null`,
		`[]`,
		`{"name":"a"} `,
		` {"name":"a"}`,
		`{"name" :"a"}`,
		`{"name": "a"}`,
		`{"name":"a" }`,
	} {
		alt(head + `,"metadata":` + meta + `}`)
		alt(`{"metadata":` + meta + `}`)
	}
	alt(s + " ")
	alt(" " + s)
	alt(s + "x")
	alt(head)
	alt(`{"kind":"a","kind":"b"}`)
	alt(`{"apiVersion":"v1","kind":"Pod"}`)
	alt(`{"kind":"Pod","apiVersion":"v1"}`)
	alt(`{"spec":{"containers":[{"name":"a","ports":[{"containerPort":2147483647},{"containerPort":2147483648},{"containerPort":-2147483648}]}]}}`)
	alt(`{"spec":{"containers":[{"name":"a","ports":[{"containerPort":-2147483649}]}]}}`)
	alt(`{"spec":{"containers":[{"resources":{"limits":{"cpu":"1","memory":"1Gi"}}}]}}`)
	alt(`{"spec":{"containers":[{"resources":{"limits":{"memory":"1Gi","cpu":"1"}}}]}}`)
	alt(`{"spec":{"containers":[{"resources":{"limits":{"cpu":1}}}]}}`)
	alt(`{"spec":{"containers":[{"resources":{"limits":{"cpu":"x"}}}]}}`)
	alt(`{"spec":{"containers":[{"livenessProbe":{"httpGet":{"port":8080}}},{"livenessProbe":{"httpGet":{"port":"http"}}}]}}`)
	alt(`{"spec":{"containers":[{"livenessProbe":{"httpGet":{"port":1.5}}}]}}`)
	alt(`{"spec":{"containers":[{"livenessProbe":{"httpGet":{"port":null}}}]}}`)
	alt(`{"spec":{"containers":[],"initContainers":null,"volumes":[{}]}}`)
	alt(`{"spec":{"containers":[{"name":"a"},{"name":"b"}],"containers":[{"name":"c"}]}}`)
	alt(`{"spec":{"containers":[{"stdin":true,"tty":false}]}}`)
	alt(`{"spec":{"containers":[{"stdin":tru}]}}`)
	alt(`{"spec":{"containers":[{"stdin":nul}]}}`)
	alt(`{"spec":{"priority":2147483647,"terminationGracePeriodSeconds":-1}}`)
	alt(`{"spec":{"securityContext":{"runAsUser":0,"fsGroup":9223372036854775807}}}`)
	// Truncations and single garbled bytes of the stored form.
	for i := 0; i < len(raw); i += 1 + len(raw)/29 {
		alt(s[:i])
		for _, c := range []byte{'"', '\\', '}', ']', ',', ' ', '0', 0xff} {
			b := []byte(s)
			b[i] = c
			out = append(out, b)
		}
	}
	return out
}

// TestDecodeCanonicalMatchesEncodingJSON decodes random objects of every
// kind as stored, and altered, with decodeCanonical: each it reads must be
// read so by json.Unmarshal and decodeGeneral, each it refuses must leave
// the object zero, and it must read most stored objects itself.
func TestDecodeCanonicalMatchesEncodingJSON(t *testing.T) {
	objects := randomObjects(t, 3, scaled(12))
	read, stored := 0, 0
	for _, r := range v1.Served() {
		t.Run(r.Kind+"."+r.Group, func(t *testing.T) {
			for i, raw := range objects[r.Kind+"."+r.Group] {
				stored++
				if checkCanonical(t, r, raw) {
					read++
				}
				// Altered: two objects of each kind and six pods (a
				// third of those under the race detector).
				if i >= scaled(2) && (r.Kind != "Pod" || i >= scaled(6)) {
					continue
				}
				for _, alt := range canonicalAlterations(raw) {
					checkCanonical(t, r, alt)
				}
				for _, alt := range alterations(raw) {
					checkCanonical(t, r, alt)
				}
			}
		})
	}
	// Random objects hold base64 bytes, floats and other kinds read the
	// general way now and then; most must be read in the canonical way,
	// or the test would hold it to nothing.
	if t.Logf("%d of %d stored objects read by decodeCanonical", read, stored); read < stored*2/3 {
		t.Errorf("only %d of %d stored objects read by decodeCanonical", read, stored)
	}
}

// TestDecodeCanonicalReadsStoredForms holds decodeCanonical to reading
// what fsm's encoder writes for the benchmarks' objects and the objects of
// the apply tests: a refusal there would cost every master the general path.
func TestDecodeCanonicalReadsStoredForms(t *testing.T) {
	objs := append(verifyBenchObjects(), benchPod("p"), deployObj("ns", "d", 2))
	for _, obj := range objs {
		raw, err := NewRecord(obj, nil).JSON()
		if err != nil {
			t.Fatal(err)
		}
		r, err := v1.ResourceOf(obj)
		if err != nil {
			t.Fatal(err)
		}
		if !checkCanonical(t, r, raw) {
			t.Errorf("decodeCanonical refuses a stored %s: %s", r.Kind, raw)
		}
	}
}

// TestDecodeCanonicalTable pins a few answers: what is read, what is
// refused, and how nil and empty containers come out.
func TestDecodeCanonicalTable(t *testing.T) {
	for _, tt := range []struct {
		in   string
		ok   bool
		want *v1.ConfigMap
	}{
		{`{}`, true, &v1.ConfigMap{}},
		{`{"data":{}}`, true, &v1.ConfigMap{Data: map[string]string{}}},
		{`{"data":null}`, true, &v1.ConfigMap{}},
		{`{"metadata":{"finalizers":[]}}`, true, &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Finalizers: []string{}}}},
		{`{"metadata":{"finalizers":["a\u003c"]}}`, true, &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Finalizers: []string{"a<"}}}},
		{`{"data":{"a\u003c":"x","b":"y"}}`, true, &v1.ConfigMap{Data: map[string]string{"a<": "x", "b": "y"}}},
		{`{"metadata":{"generation":-5}}`, true, &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Generation: -5}}},
		{`{"data":{"b":"x","a":"y"}}`, false, nil},
		{`{"data":{"a":"x","a":"y"}}`, false, nil},
		{`{"metadata":{"generation":1.0}}`, false, nil},
		{`{"metadata":{"generation":-0}}`, false, nil},
		{`{"metadata":{"name":"a","name":"b"}}`, false, nil},
		{`{"metadata":{"Name":"a"}}`, false, nil},
		{`{"metadata":{"name":null}}`, false, nil},
		{`{"nope":1}`, false, nil},
		{`{"data":{"a":"b"}} `, false, nil},
		{`{"binaryData":{"a":"AAAA"}}`, false, nil},
	} {
		got := &v1.ConfigMap{}
		ok := decodeCanonical([]byte(tt.in), got)
		if ok != tt.ok {
			t.Errorf("%s: read %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		want := tt.want
		if !ok {
			want = &v1.ConfigMap{}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, want %#v", tt.in, got, want)
		}
		r, err := v1.ResourceOf(&v1.ConfigMap{})
		if err != nil {
			t.Fatal(err)
		}
		checkCanonical(t, r, []byte(tt.in))
	}
}

// FuzzDecodeCanonical decodes arbitrary bytes as an object of a kind the
// API serves with decodeCanonical, json.Unmarshal and decodeGeneral: what
// decodeCanonical reads, the others read the same with no error; what it
// refuses leaves the object zero. The seeds are a random object of every
// kind and, for pods, deployments and configmaps, their alterations.
func FuzzDecodeCanonical(f *testing.F) {
	served := v1.Served()
	objects := randomObjects(f, 4, 1)
	for i, r := range served {
		for _, raw := range objects[r.Kind+"."+r.Group] {
			f.Add(uint8(i), raw)
			if r.Kind == "Pod" || r.Kind == "Deployment" || r.Kind == "ConfigMap" {
				for j, alt := range canonicalAlterations(raw) {
					if j%7 == 0 {
						f.Add(uint8(i), alt)
					}
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		checkCanonical(t, served[int(kind)%len(served)], data)
	})
}

// TestPlanRefusals lists the types reachable from the served kinds that
// decodeCanonical does not read at all, so that a new one is a decision.
func TestPlanRefusals(t *testing.T) {
	refused := map[string]bool{}
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		if seen[ty] {
			return
		}
		seen[ty] = true
		if reflect.ValueOf(planOf(ty).decode).Pointer() == reflect.ValueOf(decodeFunc(refuse)).Pointer() {
			refused[ty.String()] = true
			return
		}
		switch ty.Kind() {
		case reflect.Pointer, reflect.Slice, reflect.Map:
			walk(ty.Elem())
		case reflect.Struct:
			if reflect.PointerTo(ty).Implements(jsonUnmarshaler) {
				return
			}
			for i := range ty.NumField() {
				walk(ty.Field(i).Type)
			}
		}
	}
	for _, r := range v1.Served() {
		walk(reflect.TypeOf(r.New()).Elem())
	}
	t.Logf("refused: %v", fmt.Sprint(refused))
	for _, kind := range []string{"v1.Pod", "v1.Deployment", "v1.ReplicaSet", "v1.ConfigMap", "v1.ObjectMeta", "v1.PodSpec", "v1.Container"} {
		if refused[kind] {
			t.Errorf("%s is refused", kind)
		}
	}
}
