package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestCreateStoresBytesAndDecodesOnDemand(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
	p := benchPod("lazy")
	p.Spec.NodeName = "n1"
	cmd, err := NewCreate(p)
	if err != nil {
		t.Fatal(err)
	}
	res := ApplyCommand(t, f, 7, cmd).(Result)
	if res.Err != nil {
		t.Fatal(res.Err)
	}
	rec, err := f.Store().Get("pods", "default", "lazy")
	if err != nil {
		t.Fatal(err)
	}
	if rec.obj.Load() != nil {
		t.Fatal("the create decoded the object; it should keep the bytes until asked")
	}
	// The indexes work without a decode.
	if pods, _ := f.Store().PodsOnNode("n1"); len(pods) != 1 {
		t.Fatalf("pods on n1: %d", len(pods))
	}
	raw, _ := rec.JSON()
	if !bytes.Contains(raw, []byte(`"resourceVersion":"7"`)) {
		t.Fatalf("stored bytes lack the resourceVersion: %s", raw)
	}
	got := rec.Object().(*v1.Pod)
	if got.ResourceVersion != "7" || got.Generation != 1 || got.Kind != "Pod" || got.UID != p.UID || got.Spec.NodeName != "n1" {
		t.Fatalf("decoded %+v", got.ObjectMeta)
	}
	// The bytes hold the same values as a fresh encoding of the object.
	fresh, _ := json.Marshal(got)
	if !sameJSON(t, raw, fresh) {
		t.Fatalf("stored %s\nfresh  %s", raw, fresh)
	}
}

func TestCreateInAnotherShapeIsStoredTyped(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
	// A hand-made body without kind and apiVersion: decoded at once.
	body := CreateRequest{Resource: "pods", Namespace: "default", Name: "typed",
		Object: json.RawMessage(`{"metadata":{"name":"typed","namespace":"default"},"spec":{"containers":[{"name":"c","image":"b"}]}}`)}
	cmd, err := Encode(CreateCommand, body)
	if err != nil {
		t.Fatal(err)
	}
	if res := ApplyCommand(t, f, 2, cmd).(Result); res.Err != nil {
		t.Fatal(res.Err)
	}
	rec, _ := f.Store().Get("pods", "default", "typed")
	m := rec.Meta()
	if m.ResourceVersion != "2" || m.Generation != 1 || rec.Object().GetTypeMeta().Kind != "Pod" {
		t.Fatalf("stored %+v %+v", rec.Object().GetTypeMeta(), m)
	}
}

func TestSpliceResourceVersion(t *testing.T) {
	tests := []struct {
		raw  string
		want string
		ok   bool
	}{
		{`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"a"},"spec":{}}`, `{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"42","name":"a"},"spec":{}}`, true},
		{`{"kind":"Pod","apiVersion":"v1","metadata":{}}`, "", false},
		{`{"kind":"Node","apiVersion":"v1","metadata":{"name":"a"}}`, "", false},
		{`{"metadata":{"name":"a"},"kind":"Pod","apiVersion":"v1"}`, "", false},
		{`{"kind":"Pods","apiVersion":"v1","metadata":{"name":"a"}}`, "", false},
		{`{"kind":"Pod","apiVersion":"v2","metadata":{"name":"a"}}`, "", false},
		{`{"kind":"Pod","apiVersion":"v1","metadata":{"`, `{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"42","`, true},
	}
	for _, tt := range tests {
		var got []byte
		ok := hasCreateShape("Pod", []byte(tt.raw))
		if ok {
			got = spliceResourceVersion("Pod", []byte(tt.raw), 42)
		}
		if ok != tt.ok || string(got) != tt.want {
			t.Errorf("splice(%s) = %s, %v; want %s, %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}

func TestRestoreKeepsBytesUndecoded(t *testing.T) {
	src := NewTestFSM(t)
	MustCreate(t, src, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
	for i := 0; i < 5; i++ {
		p := benchPod(fmt.Sprintf("p%d", i))
		p.Spec.NodeName = "n1"
		MustCreate(t, src, uint64(2+i), p)
	}
	var buf bytes.Buffer
	if err := src.Store().writeSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	dst := NewTestFSM(t)
	if err := dst.Restore(nopCloser{strings.NewReader(buf.String())}); err != nil {
		t.Fatal(err)
	}
	rec, _ := dst.Store().Get("pods", "default", "p3")
	if rec.obj.Load() != nil {
		t.Fatal("restore decoded the object")
	}
	pods, _ := dst.Store().PodsOnNode("n1") // the node index works on restored records
	if len(pods) != 5 {
		t.Fatalf("restored %d pods on n1, want 5", len(pods))
	}
	if rec.Meta().UID != "uid-p3" || rec.Meta().ResourceVersion != "5" {
		t.Fatalf("restored %+v", rec.Meta())
	}
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// A log written by an older orch may hold a create, in the shape NewCreate
// makes, whose object does not decode: an RC whose template carries a time
// written as year 10000. The FSM stores such bytes without decoding them;
// reading the record must not panic, and the record can still be found,
// listed and deleted.
func TestUndecodableStoredRecordIsSalvaged(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, nsObj("default"))
	obj := `{"kind":"ReplicationController","apiVersion":"v1","metadata":{"name":"web","namespace":"default","uid":"u1","labels":{"app":"web"}},` +
		`"spec":{"replicas":1,"template":{"metadata":{"creationTimestamp":"10000-01-01T23:58:59Z"},"spec":{"containers":[{"name":"a","image":"b"}]}}}}`
	cmd := mustEncode(t, CreateCommand, CreateRequest{Resource: "replicationcontrollers", Namespace: "default", Name: "web", UID: "u1", Object: json.RawMessage(obj)})
	if res := ApplyCommand(t, f, 2, cmd).(Result); res.Err != nil {
		t.Fatalf("create: %v", res.Err)
	}
	rec, err := f.Store().Get("replicationcontrollers", "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	rc, ok := rec.Object().(*v1.ReplicationController)
	if !ok {
		t.Fatalf("Object() = %T", rec.Object())
	}
	if err := rec.DecodeError(); err == nil || !strings.Contains(err.Error(), "10000-01-01") {
		t.Errorf("DecodeError() = %v, want the decode failure", err)
	}
	if rc.Name != "web" || rc.Namespace != "default" || rc.UID != "u1" || rc.ResourceVersion != "2" || rc.Labels["app"] != "web" || rc.Kind != "ReplicationController" {
		t.Errorf("salvaged metadata = %+v %+v", rc.TypeMeta, rc.ObjectMeta)
	}
	if rc.Spec.Template != nil {
		t.Errorf("salvaged template = %+v, want none", rc.Spec.Template)
	}
	del := mustEncode(t, DeleteCommand, DeleteRequest{Resource: "replicationcontrollers", Namespace: "default", Name: "web", Propagation: v1.PropagationBackground})
	if res := ApplyCommand(t, f, 3, del).(Result); res.Err != nil {
		t.Fatalf("delete: %v", res.Err)
	}
	if _, err := f.Store().Get("replicationcontrollers", "default", "web"); !v1.IsNotFound(err) {
		t.Errorf("after delete: %v", err)
	}
}

// A record made from an object encodes it to json.Marshal's bytes, for
// every served kind (its JSON is the fast encoder's, held to the same).
func TestRecordJSONIsMarshal(t *testing.T) {
	for kind, objs := range randomValues(7, 10) {
		for i, obj := range objs {
			want, err := json.Marshal(obj)
			if err != nil {
				t.Fatalf("%s %d: %v", kind, i, err)
			}
			got, err := NewRecord(obj, nil).JSON()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s %d: record JSON (err %v)\n%s\nwant json.Marshal's\n%s", kind, i, err, got, want)
			}
		}
	}
}
