package fsm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
)

// checkSameEncode fails unless encodeInto gives json.Marshal's bytes for
// v, or an error exactly when json.Marshal does (then json.Marshal's), and
// reports whether the fast encoder wrote it.
func checkSameEncode(t *testing.T, e *encoder, v any) (fast bool) {
	t.Helper()
	want, wantErr := json.Marshal(v)
	got, gotErr := encodeInto(e, v)
	if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) {
		t.Fatalf("%T: encodeInto error %v, json.Marshal %v", v, gotErr, wantErr)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%T:\nencodeInto   %s\njson.Marshal %s\n%s", v, got, want, firstDifference(want, got))
	}
	// AppendJSON: the same bytes after what dst holds, which it keeps.
	dst := append(make([]byte, 0, 8), "prefix"...)
	app, appErr := AppendJSON(dst, v)
	if fmt.Sprint(appErr) != fmt.Sprint(wantErr) || string(app) != "prefix"+string(want) {
		t.Fatalf("%T: AppendJSON = %q, %v; want %q, %v", v, app, appErr, "prefix"+string(want), wantErr)
	}
	e.stream.Error = nil
	e.stream.SetBuffer(e.stream.Buffer()[:0])
	return fastEncode(e.stream, v)
}

// TestEncodeMatchesMarshal encodes random objects of every served kind
// (HTML characters, escapes, U+2028/2029, control characters and invalid
// UTF-8 in strings and map keys, quantities, times, IntOrStrings, raw
// fields with spaces and HTML, nil and empty slices and maps) with the
// fast encoder and with json.Marshal: the same bytes. Most must be written
// by the fast encoder itself, or the test would hold it to nothing.
func TestEncodeMatchesMarshal(t *testing.T) {
	e := getEncoder()
	total, fast := 0, 0
	for kind, objs := range randomValues(3, 20) {
		t.Run(kind, func(t *testing.T) {
			for _, obj := range objs {
				total++
				if checkSameEncode(t, e, obj) {
					fast++
				}
			}
		})
	}
	f := randomFiller(5)
	t.Run("commands", func(t *testing.T) {
		for range 50 {
			for _, v := range []any{&DeleteRequest{}, &BindRequest{}, &ScaleRequest{}, &MasterInfo{},
				&CreateNodeRequest{}, &CreateServiceRequest{}, &BatchRequest{}} {
				f.Fill(v)
				total++
				if checkSameEncode(t, e, v) {
					fast++
				}
			}
		}
	})
	if t.Logf("%d of %d objects written by the fast encoder", fast, total); fast < total*9/10 {
		t.Errorf("only %d of %d objects written by the fast encoder", fast, total)
	}
}

// TestEncodeAdversarial: values the fast encoder must write as
// encoding/json does, or leave to it.
func TestEncodeAdversarial(t *testing.T) {
	at := v1.NewTime(time.Date(2026, 12, 5, 13, 0, 0, 0, time.UTC))
	weird := []string{"", "<script>&amp;</script>", "\u2028\u2029", "\x00\x01\b\f\n\r\t\x1f\x7f", "\xff", "a\xe2\x80\xa8b", "\xe2\x80", `"\/`, "é€😀\U0010ffff", "\xed\xa0\x80"}
	pod := func(mut func(p *v1.Pod)) *v1.Pod {
		p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default"}}
		v1.SetTypeMeta(p)
		mut(p)
		return p
	}
	cases := map[string]any{
		"nil":       nil,
		"empty pod": &v1.Pod{},
		"nil and empty maps and slices": pod(func(p *v1.Pod) {
			p.Labels = map[string]string{}
			p.Annotations = nil
			p.Spec.Containers = []v1.Container{}
			p.Finalizers = nil
		}),
		"keys ordered by bytes": pod(func(p *v1.Pod) {
			p.Labels = map[string]string{}
			for _, k := range weird {
				p.Labels[k] = k
				p.Labels[k+"\xfe"] = "x"
				p.Labels[strings.ToUpper(k)+"a"] = k
			}
		}),
		"strings": pod(func(p *v1.Pod) {
			p.Name = strings.Join(weird, "")
			p.Finalizers = weird
			p.Spec.NodeSelector = map[string]string{"\xfe": "1", "\ufffd": "2", "\xff": "3"}
		}),
		"quantities": pod(func(p *v1.Pod) {
			p.Spec.Containers = []v1.Container{{Name: "c", Resources: v1.ResourceRequirements{
				Limits:   v1.ResourceList{"cpu": resource.MustParse("1.5"), "memory": resource.MustParse("1Gi"), "<x>": resource.MustParse("-3e9")},
				Requests: v1.ResourceList{},
			}}}
		}),
		"times": pod(func(p *v1.Pod) {
			p.CreationTimestamp = at
			p.DeletionTimestamp = &at
			p.ManagedFields = []v1.ManagedFieldsEntry{{Time: &at}, {Time: nil}}
		}),
		"time out of range": pod(func(p *v1.Pod) {
			p.CreationTimestamp = v1.NewTime(time.Date(10001, 1, 1, 0, 0, 0, 0, time.UTC))
		}),
		"int or string": &v1.Service{Spec: v1.ServiceSpec{Ports: []v1.ServicePort{
			{TargetPort: intstr.FromString("<http>\u2028")}, {TargetPort: intstr.FromInt32(-7)}, {},
		}}},
		"int or string of no type": &v1.Service{Spec: v1.ServiceSpec{Ports: []v1.ServicePort{{TargetPort: intstr.IntOrString{Type: 7}}}}},
		"micro time out of range":  &v1.Lease{Spec: v1.LeaseSpec{RenewTime: &v1.MicroTime{Time: time.Date(0, 12, 31, 23, 0, 0, 0, time.UTC)}}},
		"micro time with offset":   &v1.Lease{Spec: v1.LeaseSpec{AcquireTime: &v1.MicroTime{Time: time.Date(2026, 1, 2, 3, 4, 5, 6789, time.FixedZone("x", -3600))}}},
		"time with offset": pod(func(p *v1.Pod) {
			p.CreationTimestamp = v1.Time{Time: time.Date(9999, 12, 31, 23, 30, 0, 5, time.FixedZone("x", -3600))}
		}),
		"fields": pod(func(p *v1.Pod) {
			p.ManagedFields = []v1.ManagedFieldsEntry{
				{FieldsV1: &v1.FieldsV1{Raw: []byte("{ \"f:<a>\" : {\n}, \"x\":\"\u2028\xff\" }")}},
				{FieldsV1: &v1.FieldsV1{Raw: []byte(`{"f:a":{}}`)}},
				{FieldsV1: &v1.FieldsV1{}},
				{FieldsV1: nil},
			}
		}),
		"invalid fields": pod(func(p *v1.Pod) {
			p.ManagedFields = []v1.ManagedFieldsEntry{{FieldsV1: &v1.FieldsV1{Raw: []byte(`{"a":}`)}}}
		}),
		"fields not an object": pod(func(p *v1.Pod) {
			p.ManagedFields = []v1.ManagedFieldsEntry{{FieldsV1: &v1.FieldsV1{Raw: []byte(` "str" `)}}}
		}),
		"raw extension":         &v1.ControllerRevision{Data: runtime.RawExtension{Raw: []byte("{ \"a\" : [1, 2.50, 1e400, \"<\u2029>\"] }")}},
		"raw extension invalid": &v1.ControllerRevision{Data: runtime.RawExtension{Raw: []byte(`{`)}},
		"secret bytes":          &v1.Secret{Data: map[string][]byte{"a": nil, "b": {}, "<c>": []byte("\xff\x00<")}},
		"delete request":        DeleteRequest{Resource: "pods", Namespace: "<ns>", Name: "\u2028"},
		"map of floats":         map[string]float64{"a": 1e-7, "b": 1e21, "c": 0.1},
		"float":                 1e-7,
		"text marshaler":        map[string]time.Time{"a": time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)},
		"int keys":              map[int]string{2: "b", 10: "a"},
	}
	e := getEncoder()
	for name, v := range cases {
		t.Run(name, func(t *testing.T) { checkSameEncode(t, e, v) })
	}
}

// FuzzEncode decodes arbitrary bytes into an object of a served kind and
// encodes it with the fast encoder and with json.Marshal: the same bytes.
// The fuzzed string is also written into names, labels and annotations,
// as keys and values, and as the raw fields of managedFields.
func FuzzEncode(f *testing.F) {
	served := v1.Served()
	objects := randomObjects(f, 4, 1)
	for i, r := range served {
		for _, raw := range objects[r.Kind+"."+r.Group] {
			f.Add(uint8(i), raw, "<a>\u2028\xff")
		}
	}
	e := getEncoder()
	f.Fuzz(func(t *testing.T, kind uint8, data []byte, s string) {
		r := served[int(kind)%len(served)]
		obj := r.New()
		if json.Unmarshal(data, obj) != nil {
			obj = r.New()
		}
		checkSameEncode(t, e, obj)
		m := obj.GetObjectMeta()
		m.Name = s
		m.Labels = map[string]string{s: s, "a": s, s + "\xff": "b"}
		m.Annotations = map[string]string{s: s}
		m.ManagedFields = append(m.ManagedFields, v1.ManagedFieldsEntry{Manager: s, FieldsV1: &v1.FieldsV1{Raw: []byte(s)}})
		checkSameEncode(t, e, obj)
	})
}
