package fsm

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// TestEncodeFramed: a framed command is the type byte and the frame, in
// one allocation of exactly its length, and decodes back to its request.
func TestEncodeFramed(t *testing.T) {
	obj := []byte(`{"metadata":{"name":"p"}}`)
	for _, tc := range []struct {
		name string
		t    CommandType
		body framed
	}{
		{"create", CreateCommand, CreateRequest{Resource: "pods", Namespace: "ns", Name: "p", UID: "u", NodeName: "n1", Object: obj}},
		{"create, empty fields", CreateCommand, CreateRequest{Resource: "nodes", Name: "n", Object: obj}},
		{"update", UpdateCommand, UpdateRequest{Resource: "pods", Object: obj}},
		{"update status", UpdateStatusCommand, UpdateRequest{Resource: "pods", Object: nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			frame := tc.body.appendFrame(nil)
			if n := tc.body.frameLen(); n != len(frame) {
				t.Fatalf("frameLen = %d, the frame is %d bytes", n, len(frame))
			}
			got, err := Encode(tc.t, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if want := append([]byte{byte(tc.t)}, frame...); !bytes.Equal(got, want) {
				t.Fatalf("Encode = %q, want %q", got, want)
			}
			if len(got) != cap(got) {
				t.Fatalf("Encode's entry has capacity %d for %d bytes", cap(got), len(got))
			}
			body, err := EncodeBody(tc.t, tc.body)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(body, frame) {
				t.Fatalf("EncodeBody = %q, want %q", body, frame)
			}
			if c, ok := tc.body.(CreateRequest); ok {
				back, ok := decodeCreateFrame(got[1:])
				if !ok || back.Resource != c.Resource || back.Namespace != c.Namespace || back.Name != c.Name ||
					back.UID != c.UID || back.NodeName != c.NodeName || !bytes.Equal(back.Object, c.Object) {
					t.Fatalf("the frame decodes to %+v, want %+v", back, c)
				}
			}
		})
	}
}

// TestNewCreateAndUpdateEncodeAsMarshal: NewCreate's and NewUpdate's
// entries, whose objects are encoded in a pooled buffer, are those of the
// object's json.Marshal framed, for objects small and large (a buffer
// grown past the pool's bound is dropped), one after the other.
func TestNewCreateAndUpdateEncodeAsMarshal(t *testing.T) {
	big := benchPod("big")
	big.Annotations = map[string]string{"html": "<a href=\"x\">&</a>", "big": strings.Repeat("x", maxPooledBuffer+1)}
	for _, p := range []*v1.Pod{benchPod("web"), big, benchPod("small")} {
		got, err := NewCreate(p)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		want, err := Encode(CreateCommand, CreateRequest{Resource: "pods", Namespace: p.Namespace, Name: p.Name, UID: p.UID, NodeName: p.Spec.NodeName, Object: raw})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("NewCreate(%s) = %.200q, want %.200q", p.Name, got, want)
		}
		for _, status := range []bool{false, true} {
			got, err := NewUpdate(p, status)
			if err != nil {
				t.Fatal(err)
			}
			typ := UpdateCommand
			if status {
				typ = UpdateStatusCommand
			}
			want, err := Encode(typ, UpdateRequest{Resource: "pods", Object: raw})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("NewUpdate(%s, %v) = %.200q, want %.200q", p.Name, status, got, want)
			}
		}
	}
}
