package fsm

import (
	"encoding/json"
	"reflect"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// TestRecordResource: a record names its resource from its type, and a
// lazy record does so without decoding its bytes.
func TestRecordResource(t *testing.T) {
	pods, _ := v1.ResourceByName("pods")
	services, _ := v1.ResourceByName("services")
	raw, err := json.Marshal(benchPod("res"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		rec     *Record
		want    string
		decoded bool // the record holds its object after Resource
	}{
		{"lazy pod", NewLazyRecord(pods, raw), "pods", false},
		{"lazy service, undecodable bytes", NewLazyRecord(services, []byte("{not json")), "services", false},
		{"record of an object", NewRecord(benchPod("res"), nil), "pods", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.rec.Resource()
			if err != nil || got.Name != tc.want {
				t.Fatalf("Resource() = %q, %v; want %q", got.Name, err, tc.want)
			}
			if d := tc.rec.decoded(); d != tc.decoded {
				t.Errorf("decoded after Resource() = %v, want %v", d, tc.decoded)
			}
		})
	}
}

// TestRecordResourceEveryResource: for every resource, a lazy record and a
// record whose object was collected name the resource v1.ResourceOf names
// for an object of its kind, without allocating.
func TestRecordResourceEveryResource(t *testing.T) {
	for _, res := range v1.Resources() {
		want, err := v1.ResourceOf(res.New())
		if err != nil {
			t.Fatalf("%s: %v", res.Name, err)
		}
		collected := &Record{newObj: newOfSameType(res.New())}
		collected.obj.Store(&objRef{typ: reflect.TypeOf(res.New()).Elem()}) // as a weak ref after a collection
		for name, rec := range map[string]*Record{
			"lazy":      NewLazyRecord(res, []byte(`{}`)),
			"collected": collected,
			"object":    NewRecord(res.New(), nil),
		} {
			got, err := rec.Resource()
			if err != nil || got.Name != want.Name || got.Group != want.Group || got.Kind != want.Kind || got.Version != want.Version {
				t.Errorf("%s %s: Resource() = %+v, %v; want %+v", res.Name, name, got, err, want)
			}
			if n := testing.AllocsPerRun(10, func() { _, _ = rec.Resource() }); n != 0 {
				t.Errorf("%s %s: Resource() allocates %v times", res.Name, name, n)
			}
			if name != "object" && rec.decoded() {
				t.Errorf("%s %s: Resource() decoded the record", res.Name, name)
			}
		}
	}
}

// TestRecordResourceUnknownConstructor: a record whose constructor no
// resource has (a closure, as newOfSameType makes) still names its
// resource, by making an object.
func TestRecordResourceUnknownConstructor(t *testing.T) {
	rec := &Record{newObj: newOfSameType(&v1.Service{})}
	got, err := rec.Resource()
	if err != nil || got.Name != "services" {
		t.Fatalf("Resource() = %q, %v; want services", got.Name, err)
	}
}

// BenchmarkRecordResource measures naming a lazy pod record's resource,
// as the leader does for each forwarded create's answer.
func BenchmarkRecordResource(b *testing.B) {
	pods, _ := v1.ResourceByName("pods")
	raw, err := json.Marshal(benchPod("res"))
	if err != nil {
		b.Fatal(err)
	}
	rec := NewLazyRecord(pods, raw)
	loopCPU(b, func() {
		if _, err := rec.Resource(); err != nil {
			b.Fatal(err)
		}
	})
}
