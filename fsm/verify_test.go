package fsm

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

func TestVerify(t *testing.T) {
	pod := benchPod("web")
	pod.Spec.Containers[0].Resources.Requests = v1.ResourceList{"cpu": resource.MustParse("1000m"), "memory": resource.MustParse("0.5Gi")}
	pod.CreationTimestamp = v1.Time{Time: time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("x", 3600))}
	create, err := NewCreate(pod)
	if err != nil {
		t.Fatal(err)
	}
	update, err := NewUpdate(pod, true)
	if err != nil {
		t.Fatal(err)
	}
	node, err := NewCreateNode(&v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n1"}}, "10.244.0.0/16", 24)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := NewCreateService(&v1.Service{ObjectMeta: v1.ObjectMeta{Name: "s", Namespace: "default"}}, "10.96.0.0/16")
	if err != nil {
		t.Fatal(err)
	}
	grace := int64(3)
	good := map[string][]byte{
		"create":         create,
		"update":         update,
		"create node":    node,
		"create service": svc,
		"delete":         mustEncode(t, DeleteCommand, DeleteRequest{Resource: "pods", Namespace: "default", Name: "web", GracePeriodSeconds: &grace, Now: v1.NewTime(time.Now())}),
		"bind":           mustEncode(t, BindCommand, BindRequest{Bindings: []Binding{{Namespace: "default", Name: "web", Node: "n1"}}}),
		"scale":          mustEncode(t, ScaleCommand, ScaleRequest{Namespace: "default", Name: "rc", Replicas: 3}),
		"master":         mustEncode(t, UpsertMasterCommand, MasterInfo{ID: "m1"}),
		"batch":          mustEncode(t, BatchCommand, BatchRequest{Items: []BatchItem{{Type: CreateCommand, Body: create[1:]}, {Type: UpdateStatusCommand, Body: update[1:]}}}),
		"ignorable":      {byte(IgnoreUnknown | 3), 'x'},
	}
	for name, cmd := range good {
		if err := Verify(cmd); err != nil {
			t.Errorf("%s: Verify = %v", name, err)
		}
	}

	year10000 := `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"x","namespace":"default","creationTimestamp":"10000-01-01T00:00:00Z"},"spec":{"containers":null}}`
	bad := []struct {
		name string
		cmd  []byte
		want string
	}{
		{"empty", nil, "the command is empty"},
		{"unknown type", []byte{0x33}, "unknown command type 51"},
		{"unknown resource", mustEncode(t, CreateCommand, CreateRequest{Resource: "widgets", Name: "x", Object: json.RawMessage(`{}`)}), `unknown resource "widgets"`},
		{"no name", mustEncode(t, CreateCommand, CreateRequest{Resource: "pods", Object: json.RawMessage(`{}`)}), "names no object"},
		{"a time that does not decode", mustEncode(t, CreateCommand, CreateRequest{Resource: "pods", Name: "x", Object: json.RawMessage(year10000)}), "the Pod does not decode"},
		{"status with a bad time", mustEncode(t, UpdateStatusCommand, UpdateRequest{Resource: "pods", Object: json.RawMessage(year10000)}), "the Pod does not decode"},
		{"not canonical", mustEncode(t, CreateCommand, CreateRequest{Resource: "pods", Name: "x", Object: json.RawMessage(`{"spec":{"containers":null},"kind":"Pod"}`)}), "does not survive a round trip"},
		{"a field the type lacks", mustEncode(t, CreateCommand, CreateRequest{Resource: "pods", Name: "x", Object: json.RawMessage(`{"metadata":{"name":"x"},"spec":{"containers":null},"extra":1}`)}), "does not survive a round trip"},
		{"bad delete", []byte{byte(DeleteCommand), '{', '}', ' '}, "does not survive a round trip"},
		{"delete of an unknown resource", mustEncode(t, DeleteCommand, DeleteRequest{Resource: "widgets", Name: "x"}), `unknown resource "widgets"`},
		{"nested batch", mustEncode(t, BatchCommand, BatchRequest{Items: []BatchItem{{Type: BatchCommand, Body: []byte(`{"items":null}`)}}}), "a batch may not hold a batch"},
		{"bad batch item", mustEncode(t, BatchCommand, BatchRequest{Items: []BatchItem{{Type: ScaleCommand, Body: []byte(`[]`)}}}), "batch item 0"},
		{"node with a bad object", mustEncode(t, CreateNodeCommand, CreateNodeRequest{Object: json.RawMessage(`{"metadata":{"name":1}}`)}), "the Node does not decode"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.cmd)
			if err == nil || v1.CodeOf(err) != 400 || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify = %v (code %d), want a 400 containing %q", err, v1.CodeOf(err), tt.want)
			}
		})
	}
}

// An object above 1.5 MiB once encoded is refused with 413; one just below is stored.
func TestVerifyObjectSize(t *testing.T) {
	for _, tt := range []struct {
		note int
		code int
	}{{MaxObjectBytes - 2000, 0}, {MaxObjectBytes, 413}} {
		p := benchPod("big")
		p.Annotations = map[string]string{"note": strings.Repeat("x", tt.note)}
		cmd, err := NewCreate(p)
		if err != nil {
			t.Fatal(err)
		}
		err = Verify(cmd)
		if code := v1.CodeOf(err); (err == nil) != (tt.code == 0) || (err != nil && code != tt.code) {
			t.Errorf("note of %d bytes: Verify = %v (code %d), want code %d", tt.note, err, code, tt.code)
		}
	}
}

// TestEncodeIntoMatchesMarshal: Verify's pooled encoding is json.Marshal's,
// HTML and line separators escaped alike, whatever the buffer held before
// (a larger object, then a smaller one).
func TestEncodeIntoMatchesMarshal(t *testing.T) {
	pod := benchPod("web")
	pod.Annotations = map[string]string{"html": "<a href=\"x\">&</a>", "sep": "a\u2028b\u2029c", "big": strings.Repeat("x", 5000)}
	small := benchPod("s")
	buf := getEncoder()
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"pod with escapes", pod},
		{"smaller pod after it", small},
		{"delete", DeleteRequest{Resource: "pods", Namespace: "default", Name: "<web>"}},
		{"nil", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			got, err := encodeInto(buf, tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("encodeInto = %s, json.Marshal = %s", got, want)
			}
		})
	}
}

// TestFrameHeaderMatchesSplitFrame: Verify reads a frame's header where
// the FSM's splitFrame reads it, for frames whole, short and odd.
func TestFrameHeaderMatchesSplitFrame(t *testing.T) {
	for _, body := range []string{
		"", "pods", "pods\x00", "pods\x00{}", "pods\x00default\x00web\x00uid\x00\x00{}",
		"pods\x00default\x00web\x00uid\x00{}", "\x00\x00\x00\x00\x00", "pods\x00\x00\x00\x00\x00{\x00}",
	} {
		for _, n := range []int{1, 5} {
			want, wantObj, wantOK := splitFrame([]byte(body), n)
			got := make([][]byte, n)
			obj, ok := frameHeader([]byte(body), got)
			if ok != wantOK || !bytes.Equal(obj, wantObj) {
				t.Errorf("%q, %d fields: frameHeader = %q, %v; splitFrame %q, %v", body, n, obj, ok, wantObj, wantOK)
				continue
			}
			for i := range want {
				if string(got[i]) != want[i] {
					t.Errorf("%q, %d fields: field %d is %q, splitFrame's %q", body, n, i, got[i], want[i])
				}
			}
		}
	}
}
