package v1

import (
	"encoding/json"
	"testing"
)

func TestFieldsV1JSON(t *testing.T) {
	tests := []struct {
		name string
		in   string
		// want is the Raw decoded ("" for none); wantErr: refused.
		want    string
		wantErr bool
	}{
		{name: "object", in: `{"fieldsV1":{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}}`, want: `{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}`},
		{name: "empty object", in: `{"fieldsV1":{}}`, want: `{}`},
		{name: "null", in: `{"fieldsV1":null}`},
		{name: "absent", in: `{}`},
		{name: "string", in: `{"fieldsV1":"f:spec"}`, wantErr: true},
		{name: "array", in: `{"fieldsV1":[{}]}`, wantErr: true},
		{name: "number", in: `{"fieldsV1":1}`, wantErr: true},
		{name: "invalid JSON inside", in: `{"fieldsV1":{"f:spec":}}`, wantErr: true},
		{name: "unterminated", in: `{"fieldsV1":{"f:spec":{}`, wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var e ManagedFieldsEntry
			err := json.Unmarshal([]byte(tc.in), &e)
			if (err != nil) != tc.wantErr {
				t.Fatalf("decode %s: error %v, want error: %v", tc.in, err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			var got string
			if e.FieldsV1 != nil {
				got = string(e.FieldsV1.Raw)
			}
			if got != tc.want {
				t.Fatalf("decode %s: raw %q, want %q", tc.in, got, tc.want)
			}
			out, err := json.Marshal(e)
			if err != nil {
				t.Fatal(err)
			}
			var back ManagedFieldsEntry
			if err := json.Unmarshal(out, &back); err != nil {
				t.Fatalf("decode %s again: %v", out, err)
			}
			if tc.want != "" && (back.FieldsV1 == nil || string(back.FieldsV1.Raw) != tc.want) {
				t.Fatalf("round trip of %s: %s", tc.in, out)
			}
		})
	}
}
