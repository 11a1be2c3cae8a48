package v1

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
)

func validRevision() *ControllerRevision {
	cr := &ControllerRevision{ObjectMeta: ObjectMeta{Name: "ds-7b9f", Namespace: "default"},
		Data: runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"$patch":"replace"}}}`)}, Revision: 2}
	Default(cr)
	return cr
}

func TestControllerRevisionValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ControllerRevision)
		field  string // "" for valid
		detail string
	}{
		{"valid", func(*ControllerRevision) {}, "", ""},
		{"revision 0", func(cr *ControllerRevision) { cr.Revision = 0 }, "", ""},
		{"no data", func(cr *ControllerRevision) { cr.Data = runtime.RawExtension{} }, "data", "data is mandatory"},
		{"null data", func(cr *ControllerRevision) { cr.Data.Raw = []byte(" null ") }, "data", "data is mandatory"},
		{"negative revision", func(cr *ControllerRevision) { cr.Revision = -1 }, "revision", "must be greater than or equal to 0"},
		{"bad name", func(cr *ControllerRevision) { cr.Name = "Bad_Name" }, "metadata.name", "a lowercase RFC 1123 subdomain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cr := validRevision()
			tt.mutate(cr)
			err := Validate(cr)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			c, ok := causeOf(err, tt.field)
			if !ok || !strings.Contains(c.Message, tt.detail) {
				t.Fatalf("Validate = %v, want %s: %s", err, tt.field, tt.detail)
			}
		})
	}
}

func TestControllerRevisionUpdate(t *testing.T) {
	old := validRevision()
	// The revision number may change (a controller renumbers a revision it
	// rolls back to); the same data written with other spacing is no change.
	next := validRevision()
	next.Revision = 5
	next.Data.Raw = []byte(`{ "spec": {"template": {"$patch": "replace"}} }`)
	if err := ValidateUpdate(next, old); err != nil {
		t.Fatalf("renumbering: %v", err)
	}
	next.Data.Raw = []byte(`{"spec":{"template":{"metadata":{"labels":{"a":"b"}}}}}`)
	err := ValidateUpdate(next, old)
	if c, ok := causeOf(err, "data"); !ok || !strings.Contains(c.Message, "field is immutable") {
		t.Fatalf("changed data: %v, want data: field is immutable", err)
	}
}

func TestControllerRevisionRoundTrip(t *testing.T) {
	in := `{"apiVersion":"apps/v1","kind":"ControllerRevision","metadata":{"name":"x","namespace":"default"},"data":{"spec":{"a":[1,"b",{"c":null}]}},"revision":3}`
	var cr ControllerRevision
	if err := json.Unmarshal([]byte(in), &cr); err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(&cr)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(out), `"data":{"spec":{"a":[1,"b",{"c":null}]}}`) || !strings.Contains(string(out), `"revision":3`) {
		t.Fatalf("round trip = %s", out)
	}
}
