package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"

	v1 "orch.io/orch/api/v1"
)

// createCase is an object created through a resource.
type createCase struct {
	name string
	r    v1.Resource
	obj  v1.Object // the stored kind, as decodeObject gives it
}

// checkCreateTracked runs the create of c's object through the field
// manager (trackWrite) and through trackUpdate twice (the second time the
// shape is remembered), and fails unless all three give the same
// managedFields byte for byte (the times are the write's: UTC, to the
// second, within the test's run) or the same refusal.
func checkCreateTracked(t *testing.T, srv *Server, manager string, c createCase) (seen, remembered bool) {
	t.Helper()
	ctx := withManager(context.Background(), manager, "")
	req := &request{verb: "create", namespace: c.obj.GetObjectMeta().Namespace, resource: c.r}
	obj := v1.DeepCopy(c.obj)
	v1.SetTypeMeta(obj)
	key, ok := srv.fields.shapeKey(newShapeBuffer(), req, manager, viewOf(c.r, obj))
	key = bytes.Clone(key)
	if ok {
		_, seen = srv.fields.creates.get(key)
	}
	start := time.Now().UTC().Truncate(time.Second)
	want := v1.DeepCopy(c.obj)
	wantErr := srv.trackWrite(ctx, req, want, nil)
	for try := 0; try < 2; try++ {
		got := v1.DeepCopy(c.obj)
		err := srv.trackUpdate(ctx, req, got, nil)
		end := time.Now().UTC()
		if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
			t.Fatalf("%s (try %d): trackUpdate: %v; the field manager: %v", c.name, try, err, wantErr)
		}
		if err != nil {
			continue
		}
		g, w := got.GetObjectMeta().ManagedFields, want.GetObjectMeta().ManagedFields
		if len(g) != len(w) {
			t.Fatalf("%s (try %d): %d entries, the field manager %d:\n got %s\nwant %s", c.name, try, len(g), len(w), entriesJSON(g), entriesJSON(w))
		}
		for i := range g {
			if g[i].Time == nil || w[i].Time == nil {
				t.Fatalf("%s (try %d): entry %d without a time", c.name, try, i)
			}
			if tm := g[i].Time.Time; tm.Before(start) || tm.After(end) || tm.Location() != time.UTC || tm.Nanosecond() != 0 {
				t.Errorf("%s (try %d): time %v, not the write's (%v to %v) in UTC to the second", c.name, try, tm, start, end)
			}
			ge, we := g[i], w[i]
			ge.Time, we.Time = nil, nil
			if !reflect.DeepEqual(ge, we) {
				t.Errorf("%s (try %d): entry\n got %s\nwant %s", c.name, try, entriesJSON([]v1.ManagedFieldsEntry{ge}), entriesJSON([]v1.ManagedFieldsEntry{we}))
			}
		}
		// The object itself is left as the field manager leaves it.
		gm, wm := got.GetObjectMeta().ManagedFields, want.GetObjectMeta().ManagedFields
		got.GetObjectMeta().ManagedFields, want.GetObjectMeta().ManagedFields = nil, nil
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s (try %d): the object changed otherwise:\n got %+v\nwant %+v", c.name, try, got, want)
		}
		got.GetObjectMeta().ManagedFields, want.GetObjectMeta().ManagedFields = gm, wm
	}
	if !ok || wantErr != nil || len(c.obj.GetObjectMeta().ManagedFields) > 0 {
		return seen, false
	}
	// Whether the second try was served from the cache.
	_, remembered = srv.fields.creates.get(key)
	return seen, remembered
}

func entriesJSON(e []v1.ManagedFieldsEntry) string {
	b, _ := json.Marshal(e)
	return string(b)
}

// trackServer is a server with only the field managers.
func trackServer(t *testing.T) *Server {
	t.Helper()
	f, err := newFieldManagers()
	if err != nil {
		t.Fatal(err)
	}
	return &Server{fields: f}
}

func podsResource(t *testing.T) v1.Resource {
	r, ok := v1.ResourceByName("pods")
	if !ok {
		t.Fatal("no pods")
	}
	return r
}

// TestTrackCreateMatchesFieldManager: the managedFields of creates of
// pods, services, controllers and config of many shapes, and of every
// kind served (views too) with every field set and with none, are the
// field manager's, byte for byte, the first time a shape is seen and when
// it is remembered; and objects of one shape with other values, or of
// shapes that differ only in a list key, a map key or a null, get their
// own.
func TestTrackCreateMatchesFieldManager(t *testing.T) {
	srv := trackServer(t)
	pods := podsResource(t)
	pod := func(f func(p *v1.Pod)) *v1.Pod {
		p := benchPod()
		p.UID, p.CreationTimestamp = "u1", v1.NewTime(time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC))
		f(p)
		v1.Default(p)
		return p
	}
	res := func(name string) v1.Resource {
		r, ok := v1.ResourceByName(name)
		if !ok {
			t.Fatalf("no resource %s", name)
		}
		return r
	}
	ctr := func(name string) v1.Container {
		return v1.Container{Name: name, Image: "busybox", Ports: []v1.ContainerPort{{ContainerPort: 80}}}
	}
	cases := []createCase{
		{"bench pod", pods, pod(func(*v1.Pod) {})},
		{"bench pod, another name and image", pods, pod(func(p *v1.Pod) {
			p.Name, p.UID, p.Spec.Containers[0].Image = "web-2", "u2", "nginx"
		})},
		{"another container name", pods, pod(func(p *v1.Pod) { p.Spec.Containers[0].Name = "app" })},
		{"another port", pods, pod(func(p *v1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 9090 })},
		{"another protocol", pods, pod(func(p *v1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "UDP" })},
		{"one port, two protocols", pods, pod(func(p *v1.Pod) {
			p.Spec.Containers[0].Ports = []v1.ContainerPort{{ContainerPort: 53, Protocol: "UDP"}, {ContainerPort: 53, Protocol: "TCP"}}
		})},
		{"another label key", pods, pod(func(p *v1.Pod) { p.Labels = map[string]string{"app": "bench", "role": "web"} })},
		{"a label key JSON escapes", pods, pod(func(p *v1.Pod) { p.Labels = map[string]string{"a<b": "x", "app": "bench"} })},
		{"a label key with a quote", pods, pod(func(p *v1.Pod) { p.Labels = map[string]string{`a"b`: "x"} })},
		{"a container name JSON escapes", pods, pod(func(p *v1.Pod) { p.Spec.Containers[0].Name = "a&b" })},
		{"no labels", pods, pod(func(p *v1.Pod) { p.Labels = nil })},
		{"empty labels", pods, pod(func(p *v1.Pod) { p.Labels = map[string]string{} })},
		{"two containers", pods, pod(func(p *v1.Pod) { p.Spec.Containers = append(p.Spec.Containers, ctr("side")) })},
		{"two containers, swapped", pods, pod(func(p *v1.Pod) { p.Spec.Containers = []v1.Container{ctr("side"), p.Spec.Containers[0]} })},
		{"two containers of one name", pods, pod(func(p *v1.Pod) { p.Spec.Containers = append(p.Spec.Containers, p.Spec.Containers[0]) })},
		{"three containers, two of one name", pods, pod(func(p *v1.Pod) {
			p.Spec.Containers = []v1.Container{ctr("a"), ctr("b"), ctr("a")}
		})},
		{"port without its key", pods, pod(func(p *v1.Pod) { p.Spec.Containers[0].Ports = []v1.ContainerPort{{Name: "x"}} })},
		{"container without a name", pods, pod(func(p *v1.Pod) { p.Spec.Containers[0].Name = "" })},
		{"env, mounts, volumes, init containers", pods, pod(func(p *v1.Pod) {
			c := &p.Spec.Containers[0]
			c.Env = []v1.EnvVar{{Name: "A", Value: "1"}, {Name: "POD", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "metadata.name"}}}}
			c.VolumeMounts = []v1.VolumeMount{{Name: "data", MountPath: "/data"}, {Name: "cfg", MountPath: "/etc/cfg", ReadOnly: true}}
			c.Args = []string{"-v", "-v"}
			c.Resources = v1.ResourceRequirements{Requests: v1.ResourceList{"cpu": resource.MustParse("100m")}}
			p.Spec.Volumes = []v1.Volume{{Name: "data", EmptyDir: &v1.EmptyDirVolumeSource{}},
				{Name: "cfg", ConfigMap: &v1.ConfigMapVolumeSource{LocalObjectRef: v1.LocalObjectRef{Name: "cfg"}}}}
			p.Spec.InitContainers = []v1.Container{ctr("init")}
			p.Spec.NodeSelector = map[string]string{"disk": "ssd"}
			p.Spec.Tolerations = []v1.Toleration{{Key: "k", Operator: "Exists"}}
		})},
		{"duplicate env", pods, pod(func(p *v1.Pod) {
			p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}}
		})},
		{"owned by a controller", pods, pod(func(p *v1.Pod) {
			yes := true
			p.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "rc", UID: "rc-1", Controller: &yes}}
			p.Finalizers = []string{"example.com/a", "example.com/b"}
		})},
		{"owned by another controller", pods, pod(func(p *v1.Pod) {
			p.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: "rc", UID: "rc-2"}}
		})},
		{"bound", pods, pod(func(p *v1.Pod) { p.Spec.NodeName = "n1" })},
		{"service", res("services"), &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "s", Namespace: "default"},
			Spec: v1.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: []v1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}, {Name: "dns", Port: 53, Protocol: "UDP"}}}}},
		{"service, other ports", res("services"), &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "s", Namespace: "default"},
			Spec: v1.ServiceSpec{Selector: map[string]string{"app": "x"}, Ports: []v1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromInt32(80)}}}}},
		{"config map", res("configmaps"), &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "c", Namespace: "default"}, Data: map[string]string{"a.conf": "x", "b": ""}}},
		{"config map, no data", res("configmaps"), &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "c", Namespace: "default"}}},
		{"replication controller", res("replicationcontrollers"), &v1.ReplicationController{ObjectMeta: v1.ObjectMeta{Name: "rc", Namespace: "default"},
			Spec: v1.ReplicationControllerSpec{Selector: map[string]string{"app": "x"}, Template: &v1.PodTemplateSpec{
				ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": "x"}}, Spec: v1.PodSpec{Containers: []v1.Container{ctr("a")}}}}}},
	}
	uncached := map[string]bool{"a label key JSON escapes": true, "a label key with a quote": true,
		"a container name JSON escapes": true}
	for _, c := range cases {
		v1.Default(c.obj)
		v1.SetTypeMeta(c.obj)
		if _, got := checkCreateTracked(t, srv, "orchctl", c); got == uncached[c.name] {
			t.Errorf("%s: remembered %v, want %v", c.name, got, !uncached[c.name])
		}
		// Another manager: its own entry.
		checkCreateTracked(t, srv, "kube-controller-manager", c)
	}
	remembered := 0
	for _, r := range v1.Served() {
		for _, empty := range []bool{false, true} {
			obj := r.New()
			if !empty {
				fill(reflect.ValueOf(obj).Elem(), 0)
			}
			if r.View != nil {
				obj = r.View.ToStored(obj)
			}
			obj.GetObjectMeta().ManagedFields = nil
			if _, ok := checkCreateTracked(t, srv, "orchctl", createCase{fmt.Sprintf("%s.%s (empty %v)", r.Kind, r.Group, empty), r, obj}); ok {
				remembered++
			}
		}
	}
	if remembered < len(v1.Served()) {
		t.Errorf("%d of %d kinds' creates remembered", remembered, 2*len(v1.Served()))
	}
	// Sent managedFields, even an empty list (a reset), is the field
	// manager's to read.
	reset := pod(func(p *v1.Pod) { p.ManagedFields = []v1.ManagedFieldsEntry{} })
	checkCreateTracked(t, srv, "orchctl", createCase{"managedFields reset", pods, reset})
	sent := pod(func(p *v1.Pod) {
		p.ManagedFields = []v1.ManagedFieldsEntry{{Manager: "other", Operation: "Update", APIVersion: "v1", FieldsType: "FieldsV1",
			FieldsV1: &v1.FieldsV1{Raw: []byte(`{"f:metadata":{"f:labels":{"f:app":{}}}}`)}}}
	})
	checkCreateTracked(t, srv, "orchctl", createCase{"managedFields sent", pods, sent})
}

// TestTrackCreateRandomObjects: creates of random objects of every kind
// get the field manager's managedFields or refusal. Strings are drawn
// from a few (keys JSON escapes among them) or are all one, and numbers
// from three, so that shapes repeat with other values (the cache serves
// them), and list items share keys (duplicates).
func TestTrackCreateRandomObjects(t *testing.T) {
	srv := trackServer(t)
	names := []string{"a", "b", "web", "", "a<b", `q"`}
	tried, remembered, seen := 0, 0, 0
	for seed := int64(0); seed < 16; seed++ {
		str := func(s *string, c randfill.Continue) { *s = names[c.Intn(len(names))] }
		if seed%2 == 1 {
			str = func(s *string, c randfill.Continue) { *s = "k" }
		}
		f := randfill.NewWithSeed(seed).NilChance(0.5).NumElements(0, 2).MaxDepth(10).Funcs(
			str,
			func(tm *v1.Time, c randfill.Continue) { *tm = v1.NewTime(time.Unix(c.Int63n(1<<33), 0)) },
			func(mt *v1.MicroTime, c randfill.Continue) {
				json.Unmarshal([]byte(`"2026-01-02T03:04:05.123456Z"`), mt)
			},
			func(q *resource.Quantity, c randfill.Continue) {
				*q = *resource.NewMilliQuantity(c.Int63n(1<<20), resource.DecimalSI)
			},
			func(x *intstr.IntOrString, c randfill.Continue) {
				if c.Bool() {
					*x = intstr.FromInt32(c.Int31n(3))
				} else {
					*x = intstr.FromString("http")
				}
			},
			func(x *v1.FieldsV1, c randfill.Continue) { x.Raw = []byte(`{"f:a":{}}`) },
			func(r *runtime.RawExtension, c randfill.Continue) {
				r.Raw = []byte(fmt.Sprintf(`{"a":%d}`, c.Intn(3)))
			},
			func(p *int32, c randfill.Continue) { *p = int32(c.Intn(3)) },
			func(p *int64, c randfill.Continue) { *p = int64(c.Intn(3)) },
		)
		for _, r := range v1.Served() {
			for i := 0; i < 6; i++ {
				obj := r.New()
				f.Fill(obj)
				if r.View != nil {
					obj = r.View.ToStored(obj)
				}
				obj.GetObjectMeta().ManagedFields = nil
				tried++
				s, ok := checkCreateTracked(t, srv, "orchctl", createCase{fmt.Sprintf("%s.%s seed %d #%d", r.Kind, r.Group, seed, i), r, obj})
				if ok {
					remembered++
				}
				if s {
					seen++
				}
			}
		}
	}
	t.Logf("%d of %d random creates remembered, %d of a shape seen before", remembered, tried, seen)
	if remembered < tried/4 || seen < tried/20 {
		t.Errorf("only %d of %d random creates remembered, %d of a shape seen before", remembered, tried, seen)
	}
}

// TestShapeKey: the shape names what the field set depends on and
// nothing else, and refuses what it cannot write exactly.
func TestShapeKey(t *testing.T) {
	srv := trackServer(t)
	pods := podsResource(t)
	key := func(p *v1.Pod) (string, bool) {
		v1.Default(p)
		v1.SetTypeMeta(p)
		k, ok := srv.fields.shapeKey(newShapeBuffer(), &request{verb: "create", namespace: "default", resource: pods}, "m", p)
		return string(k), ok
	}
	base, ok := key(benchPod())
	if !ok {
		t.Fatal("the bench pod has no shape")
	}
	for _, want := range []string{`"name"L`, `"labels"{"app"L"tier"L}`, `"containers"[("web"){`, `"ports"[(8080,"TCP"){`, `"command"L`} {
		if !strings.Contains(base, want) {
			t.Errorf("shape %s lacks %s", base, want)
		}
	}
	tests := []struct {
		name string
		edit func(p *v1.Pod)
		same bool // the same shape as the bench pod's
		ok   bool
	}{
		{"other values", func(p *v1.Pod) {
			p.Name, p.Spec.Containers[0].Image, p.Spec.Containers[0].Command = "x", "nginx", []string{"a", "b", "c"}
			p.Labels["app"] = "other"
		}, true, true},
		{"another container name", func(p *v1.Pod) { p.Spec.Containers[0].Name = "app" }, false, true},
		{"another port", func(p *v1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 1 }, false, true},
		{"another label key", func(p *v1.Pod) { p.Labels = map[string]string{"app": "bench", "tie": "web"} }, false, true},
		{"a field set", func(p *v1.Pod) { p.Spec.NodeName = "n1" }, false, true},
		{"an empty list", func(p *v1.Pod) { p.Spec.Containers[0].Ports = []v1.ContainerPort{} }, false, true},
		{"an escaped label key", func(p *v1.Pod) { p.Labels["a&b"] = "x" }, false, false},
		{"an escaped container name", func(p *v1.Pod) { p.Spec.Containers[0].Name = "<web>" }, false, false},
		{"a port without its protocol key", func(p *v1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "" }, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := benchPod()
			tc.edit(p)
			if tc.name == "a port without its protocol key" {
				// Defaulting would put the protocol back.
				v1.SetTypeMeta(p)
				k, ok := srv.fields.shapeKey(newShapeBuffer(), &request{verb: "create", namespace: "default", resource: pods}, "m", p)
				if ok {
					t.Errorf("a shape %s for an item without its key", k)
				}
				return
			}
			k, ok := key(p)
			if ok != tc.ok {
				t.Fatalf("ok %v, want %v (%s)", ok, tc.ok, k)
			}
			if ok && (k == base) != tc.same {
				t.Errorf("same shape %v, want %v:\n%s\n%s", k == base, tc.same, k, base)
			}
		})
	}
	// The manager and the resource are part of the key.
	p := benchPod()
	v1.Default(p)
	v1.SetTypeMeta(p)
	other, _ := srv.fields.shapeKey(newShapeBuffer(), &request{verb: "create", namespace: "default", resource: pods}, "n", p)
	if bytes.Equal(other, []byte(base)) {
		t.Error("two managers share a key")
	}
}

// TestSkipValue: skipValue finds the end of every kind of JSON value
// json.Marshal writes, strings with escapes and brackets in them too.
func TestSkipValue(t *testing.T) {
	for _, v := range []string{`"a"`, `"a\"b"`, `"a\\"`, `"[{"`, `{"a":"}","b":[1,{"c":"]"}]}`, `[]`, `{}`, `12.5e3`, `-1`, `true`, `false`, `null`} {
		for _, after := range []string{"", ",", "}", "]"} {
			in := []byte(v + after)
			end, err := skipValue(in, 0)
			if err != nil || end != len(v) {
				t.Errorf("skipValue(%s) = %d, %v; want %d", in, end, err, len(v))
			}
		}
	}
	for _, bad := range []string{`"a`, `{"a":1`, `[`, ``} {
		if _, err := skipValue([]byte(bad), 0); err == nil {
			t.Errorf("skipValue(%s): no error", bad)
		}
	}
}
