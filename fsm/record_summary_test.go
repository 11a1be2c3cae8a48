package fsm

import (
	"encoding/json"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// summaryPod is a ~1 KiB pod as the API stores it: labels, an owner, a
// finalizer, a long annotation and a managedFields entry.
func summaryPod() *v1.Pod {
	now := v1.NewTime(time.Date(2026, 12, 5, 6, 0, 0, 0, time.UTC))
	yes := true
	return &v1.Pod{
		TypeMeta: v1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: v1.ObjectMeta{Name: "p", Namespace: "default", UID: "uid-p", ResourceVersion: "7", CreationTimestamp: now,
			Labels:          map[string]string{"app": "bench", "tier": "web"},
			Annotations:     map[string]string{"note": strings.Repeat("x", 420)},
			OwnerReferences: []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "rc", UID: "uid-rc", Controller: &yes}},
			Finalizers:      []string{"example.com/f"},
			ManagedFields: []v1.ManagedFieldsEntry{{Manager: "m", Operation: "Update", APIVersion: "v1", Time: &now,
				FieldsType: "FieldsV1", FieldsV1: &v1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{".":{},"f:app":{}}}}`)}}}},
		Spec: v1.PodSpec{SchedulerName: "other", Containers: []v1.Container{{Name: "web", Image: "busybox:1.35",
			Command: []string{"httpd", "-f", "-p", "8080"}}}},
		Status: v1.PodStatus{Phase: v1.PodSucceeded},
	}
}

// fullMetaPod is a pod whose metadata sets every field of v1.ObjectMeta.
func fullMetaPod() *v1.Pod {
	p := summaryPod()
	deleting := v1.NewTime(time.Date(2026, 12, 5, 7, 0, 0, 0, time.UTC))
	grace, no := int64(30), false
	p.GenerateName, p.Generation, p.DeletionTimestamp, p.DeletionGracePeriodSeconds = "p-", 3, &deleting, &grace
	p.OwnerReferences[0].BlockOwnerDeletion = &no
	return p
}

// metaOf returns m without the fields a summary leaves out.
func metaOf(m v1.ObjectMeta) v1.ObjectMeta {
	m.Annotations, m.ManagedFields = nil, nil
	return m
}

func TestRecordSummary(t *testing.T) {
	bare := &v1.Pod{TypeMeta: v1.TypeMeta{Kind: "Pod", APIVersion: "v1"}, ObjectMeta: v1.ObjectMeta{Name: "bare", Namespace: "ns"}}
	tokenSecret := &v1.Secret{TypeMeta: v1.TypeMeta{Kind: "Secret", APIVersion: "v1"}, ObjectMeta: v1.ObjectMeta{Name: "tok", Namespace: "ns"},
		Type: v1.SecretTypeServiceAccountToken, Data: map[string][]byte{"token": []byte("t")}}
	ns := &v1.Namespace{TypeMeta: v1.TypeMeta{Kind: "Namespace", APIVersion: "v1"},
		ObjectMeta: v1.ObjectMeta{Name: "ns", UID: "uid-ns", Labels: map[string]string{"team": "a"}},
		Status:     v1.NamespaceStatus{Phase: v1.NamespaceTerminating}}
	for _, tc := range []struct {
		name string
		obj  v1.Object
		want *Summary
	}{
		{"pod", summaryPod(), &Summary{Meta: metaOf(summaryPod().ObjectMeta), SchedulerName: "other", Phase: v1.PodSucceeded}},
		{"pod with every metadata field", fullMetaPod(), &Summary{Meta: metaOf(fullMetaPod().ObjectMeta), SchedulerName: "other", Phase: v1.PodSucceeded}},
		{"bare pod", bare, &Summary{Meta: bare.ObjectMeta}},
		{"namespace: no pod fields", ns, &Summary{Meta: ns.ObjectMeta}},
		{"token secret", tokenSecret, &Summary{Meta: tokenSecret.ObjectMeta, SecretType: v1.SecretTypeServiceAccountToken}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw, err := json.Marshal(tc.obj)
			if err != nil {
				t.Fatal(err)
			}
			res, _ := v1.ResourceByName(map[string]string{"Pod": "pods", "Namespace": "namespaces", "Secret": "secrets"}[v1.KindOf(tc.obj)])
			for _, way := range []struct {
				name string
				rec  *Record
			}{
				{"from bytes", NewLazyRecord(res, raw)},
				{"from the object", NewRecord(tc.obj, nil)},
				{"from bytes and the object", NewRecord(tc.obj, raw)},
			} {
				got := way.rec.Summary()
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s: summary\n%+v\nwant\n%+v", way.name, got, tc.want)
				}
				if way.rec.Summary() != got {
					t.Errorf("%s: a second call made another summary", way.name)
				}
			}
			if lazy := NewLazyRecord(res, raw); lazy.Summary() != nil && lazy.decoded() {
				t.Error("the summary decoded the whole object")
			}
		})
	}
}

// TestReadSummaryCoversObjectMeta fails when v1.ObjectMeta gains a field
// the summary does not read: fullMetaPod sets every field, and the summary
// read from its bytes must equal the one of the decoded pod.
func TestReadSummaryCoversObjectMeta(t *testing.T) {
	p := fullMetaPod()
	mv := reflect.ValueOf(p.ObjectMeta)
	for i := range mv.NumField() {
		if mv.Field(i).IsZero() {
			t.Fatalf("fullMetaPod leaves metadata field %s unset", mv.Type().Field(i).Name)
		}
	}
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	got, ok := readSummary(raw)
	if !ok {
		t.Fatal("the pod's bytes do not read as a summary")
	}
	if want := summaryOf(p); !reflect.DeepEqual(got, want) {
		t.Fatalf("summary read from bytes\n%+v\nwant\n%+v", got, want)
	}
}

// TestReadSummaryAsEncodingJSON: the summary read from an object's JSON
// equals the one of the object encoding/json decodes from it (nulls, empty
// maps and lists, escapes, fields in any order or unknown), or the bytes
// are refused and the caller decodes the object.
func TestReadSummaryAsEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		name, raw string
		ok        bool
	}{
		{"nulls", `{"kind":"Pod","metadata":{"name":"p","labels":null,"ownerReferences":null,"finalizers":null,` +
			`"deletionTimestamp":null,"deletionGracePeriodSeconds":null,"generation":null,"creationTimestamp":null},"spec":null,"status":null}`, true},
		{"empty", `{"kind":"Pod","metadata":{"name":"p","labels":{},"ownerReferences":[],"finalizers":[],"annotations":{}},"spec":{},"status":{}}`, true},
		{"escapes", `{"kind":"Pod","metadata":{"name":"p\u002dq","labels":{"a\"b":"caf\u00e9 \ud83d\ude00"}},"spec":{"schedulerName":"s\/t"}}`, true},
		{"order and unknown fields", `{"status":{"phase":"Running","x":[1,{"y":null}]},"spec":{"containers":[{"name":"c"}],"schedulerName":"s"},` +
			`"metadata":{"other":{"deep":[true,false,1.5e3]},"managedFields":[{"fieldsV1":{"f:a":{}}}],"namespace":"ns","name":"p",` +
			`"ownerReferences":[{"kind":"ReplicaSet","name":"rs","uid":"u","apiVersion":"apps/v1","controller":true,"extra":1}]},"kind":"Pod","apiVersion":"v1"}`, true},
		{"another kind keeps no pod fields", `{"kind":"Namespace","metadata":{"name":"n"},"spec":{"schedulerName":"s"},"status":{"phase":"Active"}}`, true},
		{"a secret's type", `{"kind":"Secret","type":"kubernetes.io/service-account-token","metadata":{"name":"s"},"data":{"a":"YQ=="}}`, true},
		{"a secret's type after its kind, escaped", `{"type":"kubernetes.io\/service-account-token","metadata":{"name":"s"},"kind":"Secret"}`, true},
		{"a secret's null type", `{"kind":"Secret","type":null,"metadata":{"name":"s"}}`, true},
		{"another kind's type of another shape", `{"kind":"Pod","type":{"a":[1]},"metadata":{"name":"p"}}`, true},
		{"no kind", `{"metadata":{"name":"p"}}`, false},
		{"labels of the wrong type", `{"kind":"Pod","metadata":{"name":"p","labels":["a"]}}`, false},
		{"generation of the wrong type", `{"kind":"Pod","metadata":{"name":"p","generation":"1"}}`, false},
		{"bad timestamp", `{"kind":"Pod","metadata":{"name":"p","creationTimestamp":"yesterday"}}`, false},
		{"cut short", `{"kind":"Pod","metadata":{"name":"p"`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := readSummary([]byte(tc.raw))
			if ok != tc.ok {
				t.Fatalf("read: ok %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			var obj v1.Object = &v1.Pod{}
			if strings.Contains(tc.raw, `"kind":"Namespace"`) {
				obj = &v1.Namespace{}
			}
			if strings.Contains(tc.raw, `"kind":"Secret"`) {
				obj = &v1.Secret{}
			}
			if err := json.Unmarshal([]byte(tc.raw), obj); err != nil {
				t.Fatal(err)
			}
			if want := summaryOf(obj); !reflect.DeepEqual(got, want) {
				t.Fatalf("summary read\n%#v\nencoding/json's\n%#v", got, want)
			}
		})
	}
}

// A record keeps its summary while a reader holds it, so the controllers
// that look at one change share one, and lets it go at the first garbage
// collection after that: a master whose controllers read every pod's
// summary keeps none of them. A later read makes an equal one.
func TestRecordHoldsSummaryWeakly(t *testing.T) {
	raw, err := json.Marshal(summaryPod())
	if err != nil {
		t.Fatal(err)
	}
	res, _ := v1.ResourceByName("pods")
	r := NewLazyRecord(res, raw)
	first := r.Summary()
	want := *first
	if r.Summary() != first {
		t.Fatal("a second read while the first is held made another summary")
	}
	first = nil
	runtime.GC()
	if r.sum.Load().Value() != nil {
		t.Fatal("after a GC with no reader the record still holds its summary")
	}
	if got := r.Summary(); !reflect.DeepEqual(*got, want) {
		t.Fatalf("summary made again %+v, want %+v", *got, want)
	}
}

// TestRecordSummaryOfUndecodableBytes: bytes that do not decode give the
// summary of the salvaged object, as Meta does.
func TestRecordSummaryOfUndecodableBytes(t *testing.T) {
	res, _ := v1.ResourceByName("pods")
	rec := NewLazyRecord(res, []byte(`{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"default","uid":"u","labels":{"a":"b"},"generation":"x"}}`))
	got := rec.Summary()
	if got.Meta.Name != "p" || got.Meta.UID != "u" || got.Meta.Labels["a"] != "b" {
		t.Fatalf("summary %+v, want the salvaged name, uid and labels", got.Meta)
	}
	if rec.DecodeError() == nil {
		t.Fatal("no decode error")
	}
}

// BenchmarkRecordMetadata compares what a controller's first look at a
// stored pod costs: its summary, or its whole object (Meta).
func BenchmarkRecordMetadata(b *testing.B) {
	raw, err := json.Marshal(summaryPod())
	if err != nil {
		b.Fatal(err)
	}
	res, _ := v1.ResourceByName("pods")
	for _, bc := range []struct {
		name string
		read func(r *Record)
	}{
		{"Summary", func(r *Record) { r.Summary() }},
		{"Meta", func(r *Record) { r.Meta() }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				bc.read(NewLazyRecord(res, raw))
			}
		})
	}
}
