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

// verifyObjectGeneral is verifyObject as it was before verifyCanonical:
// decode, encode, compare. The oracle verifyObject is held to.
func verifyObjectGeneral(resource, raw []byte) error {
	r, ok := v1.ResourceByName(string(resource))
	if !ok || r.Name != string(resource) {
		return badCommand("unknown resource %q", resource)
	}
	if len(raw) > MaxObjectBytes {
		return v1.NewRequestTooLarge(fmt.Sprintf("the %s is %d bytes once encoded, above the limit of %d bytes", r.Kind, len(raw), MaxObjectBytes))
	}
	obj := r.New()
	if err := decodeGeneral(raw, obj); err != nil {
		return badCommand("the %s does not decode: %v", r.Kind, err)
	}
	buf := getEncoder()
	defer putEncoder(buf)
	back, err := buf.encode(obj, len(raw))
	if err != nil {
		return badCommand("the %s does not encode: %v", r.Kind, err)
	}
	if !bytes.Equal(back, raw) {
		return badCommand("the %s does not survive a round trip: %s", r.Kind, firstDifference(raw, back))
	}
	return nil
}

// checkSameVerify fails unless verifyObject answers as verifyObjectGeneral
// (nil, or the same error text) for raw as an object of r. It reports
// whether raw round-trips, and whether verifyCanonical proved it itself.
func checkSameVerify(t *testing.T, r v1.Resource, raw []byte) (roundTrips, proved bool) {
	t.Helper()
	want := verifyObjectGeneral([]byte(r.Name), raw)
	got := verifyObject([]byte(r.Name), raw)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s %q: verifyObject %v, before %v", r.Kind, raw, got, want)
	}
	stored, _ := v1.ResourceByName(r.Name) // what Verify decodes (a view's stored kind)
	proved = verifyCanonical(raw, stored.New())
	if proved && want != nil {
		t.Fatalf("%s %q: verifyCanonical proves what does not round-trip: %v", r.Kind, raw, want)
	}
	return want == nil, proved
}

// verifyAlterations returns raw changed in ways that decode but may not
// encode back: fields the encoder leaves out when empty given empty,
// fields it always writes left out, escapes it would not write, characters
// it would escape, times and int-or-strings written otherwise, fieldsV1
// with whitespace, map keys out of order.
func verifyAlterations(raw []byte) [][]byte {
	s := string(raw)
	var out [][]byte
	alt := func(x string) { out = append(out, []byte(x)) }
	for _, r := range [][2]string{
		{`"creationTimestamp":null,`, ``},
		{`"creationTimestamp":null`, `"creationTimestamp":"2026-01-01T00:00:00Z"`},
		{`"creationTimestamp":null`, `"creationTimestamp":"2026-01-01T00:00:00+00:00"`},
		{`"creationTimestamp":null`, `"creationTimestamp":""`},
		{`"namespace":"default"`, `"namespace":""`},
		{`"name":"web"`, `"name":"w\u0065b"`},
		{`"name":"web"`, `"name":"w<b"`},
		{`"name":"web"`, `"name":"w\u003cb"`},
		{`"name":"web"`, `"name":"w` + "\u2028" + `b"`},
		{`"name":"web"`, `"name":"w` + "\u2027" + `b"`},
		{`"name":"web"`, `"name":"w` + "\u00e9" + `b"`},
		{`"name":"web"`, `"name":"w\/b"`},
		{`"labels":{"app":"bench","tier":"web"}`, `"labels":{"tier":"web","app":"bench"}`},
		{`"labels":{"app":"bench","tier":"web"}`, `"labels":{}`},
		{`"labels":{"app":"bench","tier":"web"}`, `"labels":null`},
		{`"labels":{"app":"bench","tier":"web"}`, `"labels":{"app":""}`},
		{`"fieldsType":"FieldsV1","fieldsV1":{`, `"fieldsType":"FieldsV1","fieldsV1": {`},
		{`"fieldsV1":{"f:metadata":{`, `"fieldsV1":{"f:metadata" : {`},
		{`"fieldsV1":{"f:metadata":{`, `"fieldsV1":{"f:<metadata>":{},"f:metadata":{`},
		{`"fieldsV1":{"f:metadata":{`, `"fieldsV1":{"f:\u003cmetadata\u003e":{},"f:metadata":{`},
		{`"time":"2026-12-04T19:00:00Z"`, `"time":"2026-12-04T20:00:00+01:00"`},
		{`"time":"2026-12-04T19:00:00Z"`, `"time":null`},
		{`"time":"2026-12-04T19:00:00Z",`, ``},
		{`"containerPort":8080`, `"containerPort":8080,"hostPort":0`},
		{`"containerPort":8080`, `"containerPort":8080,"hostPort":80`},
		{`"protocol":"TCP"`, `"protocol":"TCP","hostIP":""`},
		{`"resources":{}`, `"resources":{"limits":{}}`},
		{`"resources":{}`, `"resources":{"limits":{"cpu":"1"}}`},
		{`"resources":{}`, `"resources":{"limits":{"cpu":"1000m"}}`},
		{`"resources":{},`, ``},
		{`"command":["httpd","-f","-p","8080"]`, `"command":[]`},
		{`"command":["httpd","-f","-p","8080"]`, `"command":null`},
		{`"terminationGracePeriodSeconds":30`, `"terminationGracePeriodSeconds":0`},
		{`"terminationGracePeriodSeconds":30`, `"terminationGracePeriodSeconds":null`},
		{`"securityContext":{}`, `"securityContext":null`},
		{`"securityContext":{}`, `"securityContext":{"runAsNonRoot":false}`},
		{`"securityContext":{}`, `"securityContext":{"runAsUser":0}`},
		{`"restartPolicy":"Always",`, ``},
		{`"status":{"phase":"Pending"}`, `"status":{}`},
		{`"status":{"phase":"Pending"}`, `"status":{"phase":""}`},
		{`,"status":{"phase":"Pending"}`, ``},
		{`"replicas":3`, `"replicas":0`},
		{`"replicas":3`, `"replicas":-0`},
		{`"maxSurge":"25%"`, `"maxSurge":25`},
		{`"maxUnavailable":"25%"`, `"maxUnavailable":"25\u0025"`},
		{`"strategy":{`, `"strategy":{"type":"","x":`},
	} {
		if strings.Contains(s, r[0]) {
			alt(strings.Replace(s, r[0], r[1], 1))
		}
	}
	return out
}

// TestVerifyCanonicalMatchesGeneral holds Verify's answer for objects of
// every kind, stored and altered, to what it was before verifyCanonical,
// and verifyCanonical to proving what the API stores (else it would save
// nothing).
func TestVerifyCanonicalMatchesGeneral(t *testing.T) {
	objects := randomObjects(t, 5, scaled(12))
	proved, roundTrip := 0, 0
	for k, r := range v1.Served() {
		t.Run(r.Kind+"."+r.Group, func(t *testing.T) {
			for i, raw := range objects[r.Kind+"."+r.Group] {
				// A random object's JSON need not round-trip (invalid
				// UTF-8 comes back as U+FFFD, a pointer to a zero time
				// as nil), but what it decodes to mostly does.
				checkSameVerify(t, r, raw)
				obj := r.New()
				if err := json.Unmarshal(raw, obj); err != nil {
					t.Fatal(err)
				}
				raw, err := json.Marshal(obj)
				if err != nil {
					continue
				}
				if ok, p := checkSameVerify(t, r, raw); ok {
					roundTrip++
					if p {
						proved++
					}
				}
				for _, alt := range verifyAlterations(raw) {
					checkSameVerify(t, r, alt)
				}
				// Altered: the first object of each kind (of every third
				// kind under the race detector) and three pods (one).
				if altered := i == 0 && (!raceDetector || k%3 == 0) || r.Kind == "Pod" && i < scaled(3); !altered {
					continue
				}
				for _, alt := range canonicalAlterations(raw) {
					checkSameVerify(t, r, alt)
				}
				for _, alt := range alterations(raw) {
					checkSameVerify(t, r, alt)
				}
			}
		})
	}
	if t.Logf("verifyCanonical proves %d of the %d random objects that round-trip", proved, roundTrip); proved < roundTrip*9/10 || roundTrip < scaled(20) {
		t.Errorf("verifyCanonical proves only %d of the %d random objects that round-trip", proved, roundTrip)
	}
	for _, obj := range append(verifyBenchObjects(), benchPod("p"), deployObj("ns", "d", 2)) {
		raw, err := NewRecord(obj, nil).JSON()
		if err != nil {
			t.Fatal(err)
		}
		r, err := v1.ResourceOf(obj)
		if err != nil {
			t.Fatal(err)
		}
		if _, proved := checkSameVerify(t, r, raw); !proved {
			t.Errorf("verifyCanonical does not prove a stored %s", r.Kind)
		}
		if len(raw) > 64<<10 {
			continue // the big configmap: its alterations cost seconds and add nothing
		}
		for _, alt := range verifyAlterations(raw) {
			checkSameVerify(t, r, alt)
		}
		for _, alt := range canonicalAlterations(raw) {
			checkSameVerify(t, r, alt)
		}
	}
}

// FuzzVerifyObject holds verifyObject to verifyObjectGeneral's answer on
// arbitrary bytes as an object of a kind the API serves.
func FuzzVerifyObject(f *testing.F) {
	served := v1.Served()
	for i, obj := range append(verifyBenchObjects()[:2], benchPod("p")) {
		raw, err := NewRecord(obj, nil).JSON()
		if err != nil {
			f.Fatal(err)
		}
		r, err := v1.ResourceOf(obj)
		if err != nil {
			f.Fatal(err)
		}
		for j, s := range served {
			if s.Name == r.Name {
				f.Add(uint8(j), raw)
				for k, alt := range verifyAlterations(raw) {
					if k%3 == i%3 {
						f.Add(uint8(j), alt)
					}
				}
			}
		}
	}
	objects := randomObjects(f, 6, 1)
	for i, r := range served {
		for _, raw := range objects[r.Kind+"."+r.Group] {
			f.Add(uint8(i), raw)
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, data []byte) {
		checkSameVerify(t, served[int(kind)%len(served)], data)
	})
}

// checkEncodesAsIs fails unless encodesAsIs says of s, a string
// plainString returns (valid UTF-8, no quote, backslash or control
// character), what appendString does: written between quotes unchanged.
func checkEncodesAsIs(t *testing.T, s string) {
	t.Helper()
	d := canonicalDecoder{data: []byte(`"` + s + `"`)}
	b, ok := d.plainString()
	if !ok || d.i != len(d.data) {
		return // not a string plainString returns
	}
	want := string(appendString(nil, s)) == `"`+s+`"`
	if got := encodesAsIs(b); got != want {
		t.Fatalf("encodesAsIs(%q) = %v, appendString says %v", s, got, want)
	}
}

func TestEncodesAsIs(t *testing.T) {
	for _, s := range []string{"", "a", "a<b", ">", "&", "\u2028", "\u2029", "\u2027", "\u202a", "x\u2028y", "é€😀",
		"\xe2", "\xe2\x80", "\u00e2\u0080\u00a8", "K\u212a", "\x7f", "tab\t", strings.Repeat("é", 40) + "<"} {
		checkEncodesAsIs(t, s)
	}
}

// FuzzEncodesAsIs holds encodesAsIs to appendString on arbitrary strings.
func FuzzEncodesAsIs(f *testing.F) {
	for _, s := range []string{"a<b", "\u2028", "\u2029x", "é", "\xe2\x80\xa8"} {
		f.Add(s)
	}
	f.Fuzz(checkEncodesAsIs)
}

// TestEmptyValue holds emptyValue to encoding/json's omitempty: a struct
// with each kind of field, empty and not, encodes without the field
// exactly when emptyValue says it is empty.
func TestEmptyValue(t *testing.T) {
	type kinds struct {
		S   string            `json:"s,omitempty"`
		B   bool              `json:"b,omitempty"`
		I8  int8              `json:"i8,omitempty"`
		I16 int16             `json:"i16,omitempty"`
		I32 int32             `json:"i32,omitempty"`
		I   int               `json:"i,omitempty"`
		U64 uint64            `json:"u64,omitempty"`
		P   *int              `json:"p,omitempty"`
		L   []string          `json:"l,omitempty"`
		M   map[string]string `json:"m,omitempty"`
		F   float64           `json:"f,omitempty"`
		A   any               `json:"a,omitempty"`
	}
	one := 1
	values := []kinds{{}, {S: "x", B: true, I8: -1, I16: 256, I32: 1 << 20, I: -1 << 40, U64: 1 << 63, P: &one,
		L: []string{}, M: map[string]string{}, F: 0.5, A: 0}, {L: []string{"a"}, M: map[string]string{"a": ""}, P: new(int)}}
	for _, v := range values {
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		var present map[string]json.RawMessage
		if err := json.Unmarshal(b, &present); err != nil {
			t.Fatal(err)
		}
		rv := reflect.ValueOf(&v).Elem()
		for i := range rv.NumField() {
			f := rv.Type().Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			_, written := present[name]
			omitted := !written
			if got := emptyValue(f.Type, rv.Field(i).Addr().UnsafePointer()); got != omitted {
				t.Errorf("%s in %s: emptyValue %v, omitted %v", name, b, got, omitted)
			}
		}
	}
}
