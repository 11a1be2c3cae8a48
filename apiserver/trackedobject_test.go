package apiserver

import (
	"context"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/managedfields"
	kjson "sigs.k8s.io/json"

	v1 "orch.io/orch/api/v1"
)

// referenceTrackUpdate is trackUpdate as the field manager documents its
// use: both objects as *unstructured.Unstructured, managedFields inside
// them, the result's converted back through JSON.
func referenceTrackUpdate(t *testing.T, s *Server, req *request, manager string, obj, old v1.Object) []v1.ManagedFieldsEntry {
	t.Helper()
	fm, err := s.fields.get(req.resource, trackedSub(req))
	if err != nil {
		t.Fatal(err)
	}
	toU := func(o v1.Object) *unstructured.Unstructured {
		b, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		u := &unstructured.Unstructured{}
		if err := kjson.UnmarshalCaseSensitivePreserveInts(b, &u.Object); err != nil {
			t.Fatal(err)
		}
		return u
	}
	live := emptyOf(req.resource)
	if old != nil {
		live = toU(old)
	}
	v1.SetTypeMeta(obj)
	next := toU(obj)
	if mf := obj.GetObjectMeta().ManagedFields; mf != nil && len(mf) == 0 {
		next.SetManagedFields([]metav1.ManagedFieldsEntry{})
	}
	out, err := fm.Update(live, next, manager)
	if err != nil {
		t.Fatalf("reference update: %v", err)
	}
	mf := out.(*unstructured.Unstructured).GetManagedFields()
	if len(mf) == 0 {
		return nil
	}
	b, err := json.Marshal(mf)
	if err != nil {
		t.Fatal(err)
	}
	var entries []v1.ManagedFieldsEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		t.Fatal(err)
	}
	return entries
}

// comparable is an entry with its fields set decoded and its time
// rounded, so two runs seconds apart compare alike.
type comparableEntry struct {
	Manager, Operation, APIVersion, FieldsType, Subresource string
	HasTime                                                 bool
	Fields                                                  any
}

func comparableEntries(t *testing.T, in []v1.ManagedFieldsEntry) []comparableEntry {
	t.Helper()
	var out []comparableEntry
	for _, e := range in {
		c := comparableEntry{Manager: e.Manager, Operation: e.Operation, APIVersion: e.APIVersion,
			FieldsType: e.FieldsType, Subresource: e.Subresource, HasTime: e.Time != nil}
		if e.Time != nil && (e.Time.Nanosecond() != 0 || e.Time.Location() != time.UTC) {
			t.Errorf("entry of %s: time %v is not UTC to the second", e.Manager, e.Time)
		}
		if e.FieldsV1 != nil {
			if err := json.Unmarshal(e.FieldsV1.Raw, &c.Fields); err != nil {
				t.Fatalf("entry of %s: fieldsV1 %s: %v", e.Manager, e.FieldsV1.Raw, err)
			}
		}
		out = append(out, c)
	}
	return out
}

// TestTrackUpdateMatchesUnstructured checks that trackUpdate's
// managedFields are those of the field manager run on Unstructured
// objects, for creates, updates, status and scale writes, managedFields
// sent by the client (kept, reset, or invalid and so ignored), and stored
// objects that predate managedFields.
func TestTrackUpdateMatchesUnstructured(t *testing.T) {
	s, err := newFieldManagers()
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{fields: s}
	created := time.Date(2026, 12, 4, 18, 0, 0, 0, time.UTC)
	stored := func(t *testing.T) *v1.Pod {
		// The bench pod as created by "orchctl" a while ago.
		p := benchPod()
		p.UID, p.ResourceVersion, p.CreationTimestamp = "u1", "5", v1.NewTime(created)
		v1.Default(p)
		if err := srv.trackUpdate(withManager(context.Background(), "orchctl", ""), benchRequest("create", "", ""), p, nil); err != nil {
			t.Fatal(err)
		}
		at := v1.NewTime(created)
		p.ManagedFields[0].Time = &at
		return p
	}
	rc := func() *v1.ReplicationController {
		n := int32(2)
		r := &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "default", UID: "u2", ResourceVersion: "9"},
			Spec: v1.ReplicationControllerSpec{Replicas: &n, Selector: map[string]string{"app": "web"},
				Template: &v1.PodTemplateSpec{ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "web"}},
					Spec: benchPod().Spec}}}
		v1.Default(r)
		return r
	}
	rcRequest := func(sub string) *request {
		req := &request{verb: "update", namespace: "default", name: "web", sub: sub}
		req.resource, _ = v1.ResourceByName("replicationcontrollers")
		return req
	}
	tests := []struct {
		name    string
		req     *request
		manager string
		// write returns the object written and the stored one (nil: a create).
		write func(t *testing.T) (obj, old v1.Object)
		// wantNone: no managedFields at all (a reset, or an object
		// stored without them: Kubernetes starts tracking with an apply).
		wantNone bool
	}{
		{name: "create", req: benchRequest("create", "", ""), manager: "orchbench",
			write: func(t *testing.T) (v1.Object, v1.Object) { p := benchPod(); v1.Default(p); return p, nil }},
		{name: "create with managedFields of the client", req: benchRequest("create", "", ""), manager: "orchbench",
			write: func(t *testing.T) (v1.Object, v1.Object) {
				p := stored(t)
				p.UID, p.ResourceVersion = "", ""
				return p, nil
			}},
		{name: "update by another manager", req: benchRequest("update", "web", ""), manager: "orch-controller",
			write: func(t *testing.T) (v1.Object, v1.Object) {
				old := stored(t)
				next := v1.DeepCopy(old)
				next.Labels["rollout"] = "2"
				next.Spec.Containers[0].Ports = append(next.Spec.Containers[0].Ports, v1.ContainerPort{ContainerPort: 9, Protocol: "UDP"})
				return next, old
			}},
		{name: "update by the same manager", req: benchRequest("update", "web", ""), manager: "orchctl",
			write: func(t *testing.T) (v1.Object, v1.Object) {
				old := stored(t)
				next := v1.DeepCopy(old)
				delete(next.Annotations, "note")
				return next, old
			}},
		{name: "update changing nothing", req: benchRequest("update", "web", ""), manager: "orch-controller",
			write: func(t *testing.T) (v1.Object, v1.Object) { old := stored(t); return v1.DeepCopy(old), old }},
		{name: "update without managedFields keeps the stored ones", req: benchRequest("update", "web", ""), manager: "orch-controller",
			write: func(t *testing.T) (v1.Object, v1.Object) {
				old := stored(t)
				next := v1.DeepCopy(old)
				next.ManagedFields = nil
				next.Labels["rollout"] = "3"
				return next, old
			}},
		{name: "update resetting managedFields", req: benchRequest("update", "web", ""), manager: "orch-controller",
			write: func(t *testing.T) (v1.Object, v1.Object) {
				old := stored(t)
				next := v1.DeepCopy(old)
				next.ManagedFields = []v1.ManagedFieldsEntry{}
				return next, old
			}, wantNone: true},
		{name: "update resetting with one empty entry", req: benchRequest("update", "web", ""), manager: "orch-controller",
			write: func(t *testing.T) (v1.Object, v1.Object) {
				old := stored(t)
				next := v1.DeepCopy(old)
				next.ManagedFields = []v1.ManagedFieldsEntry{{}}
				return next, old
			}, wantNone: true},
		{name: "update with managedFields of the client", req: benchRequest("update", "web", ""), manager: "orch-controller",
			write: func(t *testing.T) (v1.Object, v1.Object) {
				old := stored(t)
				next := v1.DeepCopy(old)
				next.ManagedFields[0].Manager = "someone-else"
				next.ManagedFields[0].FieldsV1 = &v1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:app":{}}}}`)}
				next.Labels["app"] = "other"
				return next, old
			}},
		{name: "update with invalid managedFields of the client", req: benchRequest("update", "web", ""), manager: "orch-controller",
			write: func(t *testing.T) (v1.Object, v1.Object) {
				old := stored(t)
				next := v1.DeepCopy(old)
				next.ManagedFields[0].Operation = "Bogus"
				next.Labels["app"] = "other"
				return next, old
			}},
		{name: "update of an object stored without managedFields", req: benchRequest("update", "web", ""), manager: "orch-controller",
			write: func(t *testing.T) (v1.Object, v1.Object) {
				old := stored(t)
				old.ManagedFields = nil
				next := v1.DeepCopy(old)
				next.Labels["app"] = "other"
				return next, old
			}, wantNone: true},
		{name: "status update by the node", req: benchRequest("update", "web", "status"), manager: "orch-node",
			write: func(t *testing.T) (v1.Object, v1.Object) {
				old := stored(t)
				next := v1.DeepCopy(old)
				next.Status = v1.PodStatus{Phase: v1.PodRunning, PodIP: "10.244.1.5", PodIPs: []v1.PodIP{{IP: "10.244.1.5"}},
					Conditions: []v1.PodCondition{{Type: "Ready", Status: v1.ConditionTrue, LastTransitionTime: v1.NewTime(created)}}}
				// A status write's managedFields are the stored ones, whatever it sends.
				next.ManagedFields = []v1.ManagedFieldsEntry{}
				return next, old
			}},
		{name: "scale", req: rcRequest("scale"), manager: "orchctl",
			write: func(t *testing.T) (v1.Object, v1.Object) {
				old := rc()
				if err := srv.trackUpdate(withManager(context.Background(), "orchctl", ""), rcRequest(""), old, v1.Object(nil)); err != nil {
					t.Fatal(err)
				}
				next := v1.DeepCopy(old)
				n := int32(5)
				next.Spec.Replicas = &n
				return next, old
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			obj, old := tc.write(t)
			var oldJSON []byte
			if old != nil {
				oldJSON, _ = json.Marshal(old)
			}
			ref := v1.DeepCopy(obj)
			// The JSON copy drops an empty list: keep the very entries.
			ref.GetObjectMeta().ManagedFields = obj.GetObjectMeta().ManagedFields
			want := referenceTrackUpdate(t, srv, tc.req, tc.manager, ref, old)
			if err := srv.trackUpdate(withManager(context.Background(), tc.manager, ""), tc.req, obj, old); err != nil {
				t.Fatal(err)
			}
			got := obj.GetObjectMeta().ManagedFields
			if tc.wantNone != (len(got) == 0) {
				t.Fatalf("managedFields %+v, want none: %v", got, tc.wantNone)
			}
			if g, w := comparableEntries(t, got), comparableEntries(t, want); !reflect.DeepEqual(g, w) {
				t.Errorf("managedFields\n got %+v\nwant %+v", g, w)
			}
			if old != nil {
				if b, _ := json.Marshal(old); string(b) != string(oldJSON) {
					t.Errorf("the stored object changed:\n%s\nwas\n%s", b, oldJSON)
				}
			}
			obj.GetObjectMeta().ManagedFields, ref.GetObjectMeta().ManagedFields = nil, nil
			if b, r := mustJSON(obj), mustJSON(ref); b != r {
				t.Errorf("the object besides managedFields:\n got %s\nwant %s", b, r)
			}
		})
	}
}

// TestUnstructuredContentMatchesJSON checks that the reflection
// newTrackedObject converts objects with gives what their JSON decodes
// to, for every kind, with every field set and with none.
func TestUnstructuredContentMatchesJSON(t *testing.T) {
	for _, r := range v1.Resources() {
		for _, empty := range []bool{false, true} {
			obj := r.New()
			if !empty {
				fill(reflect.ValueOf(obj).Elem(), 0)
			}
			b, err := json.Marshal(obj)
			if err != nil {
				t.Fatalf("%s: %v", r.Kind, err)
			}
			var want map[string]any
			if err := kjson.UnmarshalCaseSensitivePreserveInts(b, &want); err != nil {
				t.Fatalf("%s: %v", r.Kind, err)
			}
			tracked, err := newTrackedObject(obj)
			if err != nil {
				t.Fatalf("%s: %v", r.Kind, err)
			}
			if m, ok := want["metadata"].(map[string]any); ok {
				delete(m, "managedFields") // kept beside the content
			}
			if !reflect.DeepEqual(tracked.Object, want) {
				t.Errorf("%s (empty %v):\n got %v\nwant %v", r.Kind, empty, tracked.Object, want)
			}
			if !empty && len(tracked.managed) != 1 {
				t.Errorf("%s: managed %v, want the one entry", r.Kind, tracked.managed)
			}
		}
	}
}

// fill sets every settable field of v, to a depth of 12, to a value
// that is not its zero, so every field shows in the encoding.
func fill(v reflect.Value, depth int) {
	if depth > 12 {
		return
	}
	switch v.Interface().(type) {
	case v1.Time:
		v.Set(reflect.ValueOf(v1.NewTime(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))))
		return
	case v1.MicroTime:
		var mt v1.MicroTime
		json.Unmarshal([]byte(`"2026-01-02T03:04:05.123456Z"`), &mt)
		v.Set(reflect.ValueOf(mt))
		return
	case resource.Quantity:
		v.Set(reflect.ValueOf(resource.MustParse("100m")))
		return
	case intstr.IntOrString:
		v.Set(reflect.ValueOf(intstr.FromString("http")))
		return
	case v1.FieldsV1:
		v.Set(reflect.ValueOf(v1.FieldsV1{Raw: []byte(`{"f:a":{}}`)}))
		return
	case runtime.RawExtension:
		v.Set(reflect.ValueOf(runtime.RawExtension{Raw: []byte(`{"spec":{"template":{"metadata":{"labels":{"a":"b"}}}}}`)}))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Field(i).CanSet() {
				fill(v.Field(i), depth+1)
			}
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), depth+1)
		v.Set(p)
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 1, 1)
		fill(s.Index(0), depth+1)
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fill(k, depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.String:
		v.SetString("s")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1.5)
	}
}

// referenceApplied is appliedObject as the field manager documents its
// use: the live object an Unstructured, the merged one decoded from its
// JSON, managedFields and all.
func referenceApplied(t *testing.T, req *request, fm *managedfields.FieldManager, live v1.Object, patch *unstructured.Unstructured, manager string, force bool) (v1.Object, error) {
	t.Helper()
	liveU := emptyOf(req.resource)
	if live != nil {
		b, err := json.Marshal(live)
		if err != nil {
			t.Fatal(err)
		}
		liveU = &unstructured.Unstructured{}
		if err := kjson.UnmarshalCaseSensitivePreserveInts(b, &liveU.Object); err != nil {
			t.Fatal(err)
		}
	}
	out, err := fm.Apply(liveU, patch, manager, force)
	if err != nil {
		return nil, applyError(err)
	}
	b, err := json.Marshal(out.(*unstructured.Unstructured).Object)
	if err != nil {
		t.Fatal(err)
	}
	return decodeObject(req, b)
}

// TestAppliedObjectMatchesUnstructured checks that appliedObject merges
// and tracks as the field manager does on Unstructured objects: a create,
// a new field, a conflict, a forced one, an apply that changes nothing
// and one to an object stored without managedFields.
func TestAppliedObjectMatchesUnstructured(t *testing.T) {
	fields, err := newFieldManagers()
	if err != nil {
		t.Fatal(err)
	}
	srv := &Server{fields: fields}
	req := benchRequest("patch", "web", "")
	fm, err := fields.get(req.resource, "")
	if err != nil {
		t.Fatal(err)
	}
	// stored is the bench pod as created by orchbench, then applied by
	// kubectl with an extra label.
	config := func(labels map[string]string) *unstructured.Unstructured {
		p := benchPod()
		p.APIVersion, p.Kind = "v1", "Pod"
		for k, v := range labels {
			p.Labels[k] = v
		}
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		u, err := decodeApplyPatch(b, 100)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	stored := func(t *testing.T) *v1.Pod {
		p := benchPod()
		p.UID, p.ResourceVersion = "u1", "5"
		v1.Default(p)
		if err := srv.trackUpdate(withManager(context.Background(), "orchbench", ""), benchRequest("create", "", ""), p, nil); err != nil {
			t.Fatal(err)
		}
		obj, err := appliedObject(req, fm, p, config(map[string]string{"applied": "1"}), "kubectl", false)
		if err != nil {
			t.Fatal(err)
		}
		obj.GetObjectMeta().ResourceVersion = "6"
		return obj.(*v1.Pod)
	}
	tests := []struct {
		name    string
		live    func(t *testing.T) v1.Object
		labels  map[string]string
		force   bool
		wantErr bool
	}{
		{name: "create", live: func(t *testing.T) v1.Object { return nil }, labels: map[string]string{"new": "1"}},
		{name: "a new field", live: func(t *testing.T) v1.Object { return stored(t) }, labels: map[string]string{"applied": "1", "new": "1"}},
		{name: "nothing changes", live: func(t *testing.T) v1.Object { return stored(t) }, labels: map[string]string{"applied": "1"}},
		{name: "a conflict", live: func(t *testing.T) v1.Object { return stored(t) }, labels: map[string]string{"app": "other"}, wantErr: true},
		{name: "a forced conflict", live: func(t *testing.T) v1.Object { return stored(t) }, labels: map[string]string{"app": "other"}, force: true},
		{name: "stored without managedFields", live: func(t *testing.T) v1.Object {
			p := stored(t)
			p.ManagedFields = nil
			return p
		}, labels: map[string]string{"new": "1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			live := tc.live(t)
			want, wantErr := referenceApplied(t, req, fm, live, config(tc.labels), "kubectl", tc.force)
			got, err := appliedObject(req, fm, live, config(tc.labels), "kubectl", tc.force)
			if (err != nil) != tc.wantErr || (wantErr != nil) != tc.wantErr {
				t.Fatalf("error %v, reference's %v, want an error: %v", err, wantErr, tc.wantErr)
			}
			if tc.wantErr {
				if err.Error() != wantErr.Error() {
					t.Errorf("error %q, reference's %q", err, wantErr)
				}
				return
			}
			if g, w := comparableEntries(t, got.GetObjectMeta().ManagedFields), comparableEntries(t, want.GetObjectMeta().ManagedFields); !reflect.DeepEqual(g, w) {
				t.Errorf("managedFields\n got %+v\nwant %+v", g, w)
			}
			got.GetObjectMeta().ManagedFields, want.GetObjectMeta().ManagedFields = nil, nil
			if g, w := mustJSON(got), mustJSON(want); g != w {
				t.Errorf("the applied object besides managedFields:\n got %s\nwant %s", g, w)
			}
		})
	}
}

// TestTrackUpdateUnvalidatedAsValidated: trackUpdate, which does not
// validate typed objects against the schema, gives the managedFields and
// refusals of the field manager validating them, for objects the merge
// must refuse (list items without their key) and ones it must take
// (duplicate keys, which a write that is not an apply may hold), creates
// and updates.
func TestTrackUpdateUnvalidatedAsValidated(t *testing.T) {
	newServer := func(validate bool) *Server {
		f, err := newFieldManagers()
		if err != nil {
			t.Fatal(err)
		}
		tc := f.tc.(trackedConverter)
		tc.validate = validate
		f.tc = tc
		return &Server{fields: f}
	}
	plain, checked := newServer(false), newServer(true)
	pod := func(f func(p *v1.Pod)) *v1.Pod { p := benchPod(); v1.Default(p); f(p); return p }
	tests := []struct {
		name string
		obj  *v1.Pod
		old  bool // an update of the bench pod as created
	}{
		{"create", pod(func(*v1.Pod) {}), false},
		{"container without a name", pod(func(p *v1.Pod) { p.Spec.Containers[0].Name = "" }), false},
		{"two containers of one name", pod(func(p *v1.Pod) { p.Spec.Containers = append(p.Spec.Containers, p.Spec.Containers[0]) }), false},
		{"port without its key", pod(func(p *v1.Pod) { p.Spec.Containers[0].Ports = []v1.ContainerPort{{Name: "x"}} }), false},
		{"env without a name", pod(func(p *v1.Pod) { p.Spec.Containers[0].Env = []v1.EnvVar{{Value: "v"}} }), true},
		{"duplicate env", pod(func(p *v1.Pod) {
			p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}}
		}), true},
		{"update", pod(func(p *v1.Pod) { p.Labels["rollout"] = "2" }), true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var old v1.Object
			req := benchRequest("create", "", "")
			if tc.old {
				p := benchPod()
				v1.Default(p)
				p.UID, p.ResourceVersion = "u1", "5"
				if err := checked.trackUpdate(withManager(context.Background(), "orchctl", ""), req, p, nil); err != nil {
					t.Fatal(err)
				}
				old, req = p, benchRequest("update", "web", "")
				tc.obj.UID, tc.obj.ResourceVersion = "u1", "5"
				tc.obj.ManagedFields = p.ManagedFields
			}
			ctx := withManager(context.Background(), "orch-controller", "")
			a, b := v1.DeepCopy(tc.obj), v1.DeepCopy(tc.obj)
			errA := plain.trackUpdate(ctx, req, a, old)
			errB := checked.trackUpdate(ctx, req, b, old)
			if (errA == nil) != (errB == nil) {
				t.Fatalf("unvalidated: %v; validated: %v", errA, errB)
			}
			if errA != nil {
				if v1.CodeOf(errA) != v1.CodeOf(errB) {
					t.Fatalf("unvalidated refused with %d (%v), validated with %d (%v)", v1.CodeOf(errA), errA, v1.CodeOf(errB), errB)
				}
				return
			}
			if g, w := comparableEntries(t, a.ManagedFields), comparableEntries(t, b.ManagedFields); !reflect.DeepEqual(g, w) {
				t.Errorf("managedFields\n got %+v\nwant %+v", g, w)
			}
		})
	}
}

// TestTrackCreateEveryKindUnvalidated: the create of an object of every
// kind served, with every field set and with none, gets the managedFields
// (or the refusal) of the field manager validating it.
func TestTrackCreateEveryKindUnvalidated(t *testing.T) {
	newServer := func(validate bool) *Server {
		f, err := newFieldManagers()
		if err != nil {
			t.Fatal(err)
		}
		tc := f.tc.(trackedConverter)
		tc.validate = validate
		f.tc = tc
		return &Server{fields: f}
	}
	plain, checked := newServer(false), newServer(true)
	ctx := withManager(context.Background(), "orchctl", "")
	created := 0
	for _, r := range v1.Resources() {
		for _, empty := range []bool{false, true} {
			obj := r.New()
			if !empty {
				fill(reflect.ValueOf(obj).Elem(), 0)
			}
			obj.GetObjectMeta().ManagedFields = nil
			req := &request{verb: "create", namespace: obj.GetObjectMeta().Namespace, resource: r}
			a, b := v1.DeepCopy(obj), v1.DeepCopy(obj)
			errA := plain.trackUpdate(ctx, req, a, nil)
			errB := checked.trackUpdate(ctx, req, b, nil)
			if (errA == nil) != (errB == nil) {
				t.Errorf("%s (empty %v): unvalidated: %v; validated: %v", r.Kind, empty, errA, errB)
				continue
			}
			if errA != nil {
				continue
			}
			created++
			if g, w := comparableEntries(t, a.GetObjectMeta().ManagedFields), comparableEntries(t, b.GetObjectMeta().ManagedFields); !reflect.DeepEqual(g, w) {
				t.Errorf("%s (empty %v): managedFields\n got %+v\nwant %+v", r.Kind, empty, g, w)
			}
		}
	}
	if created < len(v1.Resources()) {
		t.Errorf("%d of %d creates tracked", created, 2*len(v1.Resources()))
	}
}
