package apiserver

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/randfill"

	v1 "orch.io/orch/api/v1"
)

// TestTrackCreateAdversarialShapes: pairs of creates that share as much
// of their shape as possible while their field sets could differ (raw
// content, duplicates, nulls against empties, keys that decode alike,
// status, other kinds' keyed maps) get the field manager's managedFields
// whichever comes first.
func TestTrackCreateAdversarialShapes(t *testing.T) {
	res := func(name string) v1.Resource {
		r, ok := v1.ResourceByName(name)
		if !ok {
			t.Fatalf("no resource %s", name)
		}
		return r
	}
	pod := func(f func(p *v1.Pod)) v1.Object {
		p := benchPod()
		f(p)
		v1.Default(p)
		return p
	}
	rev := func(raw string) v1.Object {
		return &v1.ControllerRevision{ObjectMeta: v1.ObjectMeta{Name: "r", Namespace: "default"}, Revision: 1,
			Data: runtime.RawExtension{Raw: []byte(raw)}}
	}
	cm := func(data map[string]string, bin map[string][]byte) v1.Object {
		return &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: "c", Namespace: "default"}, Data: data, BinaryData: bin}
	}
	sec := func(data map[string][]byte, sd map[string]string) v1.Object {
		return &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "s", Namespace: "default"}, Data: data, StringData: sd}
	}
	svc := func(ports ...v1.ServicePort) v1.Object {
		return &v1.Service{ObjectMeta: v1.ObjectMeta{Name: "s", Namespace: "default"}, Spec: v1.ServiceSpec{Ports: ports}}
	}
	one, zero := int32(1), int32(0)
	dep := func(r *int32) v1.Object {
		return &v1.Deployment{ObjectMeta: v1.ObjectMeta{Name: "d", Namespace: "default"}, Spec: v1.DeploymentSpec{Replicas: r}}
	}
	groups := [][]createCase{
		// Raw content: duplicate keys (the last wins when decoded), nulls,
		// empties, scalars and lists where an object was, invalid UTF-8.
		{
			{"raw a.b", res("controllerrevisions"), rev(`{"a":{"b":1}}`)},
			{"raw a.c", res("controllerrevisions"), rev(`{"a":{"c":1}}`)},
			{"raw a dup, object last", res("controllerrevisions"), rev(`{"a":2,"a":{"b":1}}`)},
			{"raw a dup, object first", res("controllerrevisions"), rev(`{"a":{"b":1},"a":2}`)},
			{"raw a dup, both objects", res("controllerrevisions"), rev(`{"a":{"b":1},"a":{"c":1}}`)},
			{"raw a dup, both objects swapped", res("controllerrevisions"), rev(`{"a":{"c":1},"a":{"b":1}}`)},
			{"raw a empty", res("controllerrevisions"), rev(`{"a":{}}`)},
			{"raw a null", res("controllerrevisions"), rev(`{"a":null}`)},
			{"raw a list", res("controllerrevisions"), rev(`{"a":[{"b":1}]}`)},
			{"raw a list 2", res("controllerrevisions"), rev(`{"a":[{"c":1},2]}`)},
			{"raw a string", res("controllerrevisions"), rev(`{"a":"x"}`)},
			{"raw list", res("controllerrevisions"), rev(`[{"a":1}]`)},
			{"raw string", res("controllerrevisions"), rev(`"x"`)},
			{"raw number", res("controllerrevisions"), rev(`1.0`)},
			{"raw empty", res("controllerrevisions"), rev(`{}`)},
			{"raw null", res("controllerrevisions"), rev(`null`)},
			{"raw spaced", res("controllerrevisions"), rev(`{ "a" : { "b" : 1 } }`)},
			{"raw invalid utf8 key 1", res("controllerrevisions"), rev("{\"\xff\":{\"b\":1}}")},
			{"raw invalid utf8 key 2", res("controllerrevisions"), rev("{\"\xfe\":{\"c\":1}}")},
			{"raw invalid utf8 keys dup", res("controllerrevisions"), rev("{\"\xff\":{\"b\":1},\"\xfe\":{\"c\":1}}")},
			{"raw unicode key", res("controllerrevisions"), rev(`{"é":{"b":1}}`)},
			{"raw escaped key", res("controllerrevisions"), rev(`{"\u00e9":{"b":1}}`)},
			{"raw deep", res("controllerrevisions"), rev(`{"a":{"b":{"c":{"d":{"e":[1]}}}}}`)},
			{"raw numbers 1", res("controllerrevisions"), rev(`{"a":1e2}`)},
			{"raw numbers 2", res("controllerrevisions"), rev(`{"a":100}`)},
		},
		// Keyed maps of other kinds.
		{
			{"cm data a", res("configmaps"), cm(map[string]string{"a": "1"}, nil)},
			{"cm data b", res("configmaps"), cm(map[string]string{"b": "1"}, nil)},
			{"cm data empty value", res("configmaps"), cm(map[string]string{"a": ""}, nil)},
			{"cm data empty map", res("configmaps"), cm(map[string]string{}, nil)},
			{"cm binary a", res("configmaps"), cm(nil, map[string][]byte{"a": {1}})},
			{"cm binary a empty", res("configmaps"), cm(nil, map[string][]byte{"a": {}})},
			{"cm binary a nil", res("configmaps"), cm(nil, map[string][]byte{"a": nil})},
			{"cm unicode key", res("configmaps"), cm(map[string]string{"日本": "1"}, nil)},
			{"cm key U+2028", res("configmaps"), cm(map[string]string{"a\u2028": "1"}, nil)},
			{"cm key DEL", res("configmaps"), cm(map[string]string{"a\x7f": "1"}, nil)},
			{"cm key invalid utf8", res("configmaps"), cm(map[string]string{"a\xff": "1"}, nil)},
			{"secret data a", res("secrets"), sec(map[string][]byte{"a": []byte("x")}, nil)},
			{"secret stringData a", res("secrets"), sec(nil, map[string]string{"a": "x"})},
			{"secret stringData b", res("secrets"), sec(nil, map[string]string{"b": "x"})},
			{"secret both", res("secrets"), sec(map[string][]byte{"a": nil}, map[string]string{"a": "x"})},
		},
		{
			{"deployment replicas 1", res("deployments"), dep(&one)},
			{"deployment replicas 0", res("deployments"), dep(&zero)},
			{"deployment replicas nil", res("deployments"), dep(nil)},
			{"svc port 80 TCP", res("services"), svc(v1.ServicePort{Port: 80, Protocol: "TCP"})},
			{"svc port 80 UDP", res("services"), svc(v1.ServicePort{Port: 80, Protocol: "UDP"})},
			{"svc port 80 twice", res("services"), svc(v1.ServicePort{Port: 80, Protocol: "TCP"}, v1.ServicePort{Port: 80, Protocol: "TCP", Name: "x"})},
			{"svc port no protocol", res("services"), svc(v1.ServicePort{Port: 80})},
			{"svc target int", res("services"), svc(v1.ServicePort{Port: 80, Protocol: "TCP", TargetPort: intstr.FromInt32(1)})},
			{"svc target str", res("services"), svc(v1.ServicePort{Port: 80, Protocol: "TCP", TargetPort: intstr.FromString("1")})},
		},
		// Pods: duplicates whose items differ, sets, atomic lists, status.
		{
			{"env dup, value then valueFrom", res("pods"), pod(func(p *v1.Pod) {
				p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "A", Value: "1"}, {Name: "A", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "x"}}}}
			})},
			{"env dup, valueFrom then value", res("pods"), pod(func(p *v1.Pod) {
				p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "A", ValueFrom: &v1.EnvVarSource{FieldRef: &v1.ObjectFieldSelector{FieldPath: "x"}}}, {Name: "A", Value: "1"}}
			})},
			{"env triple", res("pods"), pod(func(p *v1.Pod) {
				p.Spec.Containers[0].Env = []v1.EnvVar{{Name: "A", Value: "1"}, {Name: "A", Value: "2"}, {Name: "A"}}
			})},
			{"finalizers dup", res("pods"), pod(func(p *v1.Pod) { p.Finalizers = []string{"a", "a"} })},
			{"finalizers two", res("pods"), pod(func(p *v1.Pod) { p.Finalizers = []string{"a", "b"} })},
			{"finalizers empty string", res("pods"), pod(func(p *v1.Pod) { p.Finalizers = []string{""} })},
			{"tolerations 1", res("pods"), pod(func(p *v1.Pod) { p.Spec.Tolerations = []v1.Toleration{{Key: "a"}} })},
			{"tolerations 2", res("pods"), pod(func(p *v1.Pod) { p.Spec.Tolerations = []v1.Toleration{{Key: "a"}, {Key: "a"}} })},
			{"limits cpu", res("pods"), pod(func(p *v1.Pod) {
				p.Spec.Containers[0].Resources.Limits = v1.ResourceList{"cpu": resource.MustParse("1")}
			})},
			{"limits memory", res("pods"), pod(func(p *v1.Pod) {
				p.Spec.Containers[0].Resources.Limits = v1.ResourceList{"memory": resource.MustParse("1.0")}
			})},
			{"labels unicode", res("pods"), pod(func(p *v1.Pod) { p.Labels = map[string]string{"ü": "x"} })},
			{"labels unicode 2", res("pods"), pod(func(p *v1.Pod) { p.Labels = map[string]string{"u\u0308": "x"} })},
			{"annotations", res("pods"), pod(func(p *v1.Pod) { p.Annotations = map[string]string{"a": ""} })},
			{"status phase", res("pods"), pod(func(p *v1.Pod) { p.Status.Phase = "Running" })},
			{"status conditions", res("pods"), pod(func(p *v1.Pod) {
				p.Status.Conditions = []v1.PodCondition{{Type: "Ready", Status: "True"}}
			})},
			{"status podIPs", res("pods"), pod(func(p *v1.Pod) { p.Status.PodIPs = []v1.PodIP{{IP: "1.2.3.4"}, {IP: "1.2.3.4"}} })},
			{"port 0", res("pods"), pod(func(p *v1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 })},
			{"port negative", res("pods"), pod(func(p *v1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = -1 })},
			{"creation timestamp", res("pods"), pod(func(p *v1.Pod) { p.CreationTimestamp = v1.NewTime(time.Unix(1, 0)) })},
		},
	}
	managers := []string{"m", "", "kubectl", "kubectl-client-side-apply", "before-first-apply", "a:b", "1:m"}
	for _, group := range groups {
		for _, order := range []bool{false, true} {
			srv := trackServer(t)
			cases := group
			if order {
				cases = make([]createCase, len(group))
				for i := range group {
					cases[i] = group[len(group)-1-i]
				}
			}
			for round := 0; round < 2; round++ {
				for _, m := range managers {
					for _, c := range cases {
						v1.SetTypeMeta(c.obj)
						checkCreateTracked(t, srv, m, createCase{fmt.Sprintf("%s (manager %q)", c.name, m), c.r, c.obj})
					}
				}
			}
		}
	}
}

// TestTrackCreateConcurrentEviction: creates of more shapes than the
// cache holds, from several goroutines at once (under -race), each get
// the field manager's managedFields; the cache stays within its bounds.
func TestTrackCreateConcurrentEviction(t *testing.T) {
	srv := trackServer(t)
	pods := podsResource(t)
	const workers, each = 8, 160 // 1,280 creates of 2 x 320 shapes
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := (w*each + i) % 320
				p := benchPod()
				p.Labels = map[string]string{fmt.Sprintf("k%d", n): "x"}
				p.Spec.Containers[0].Name = fmt.Sprintf("c%d", n%7)
				v1.Default(p)
				manager := []string{"a", "b"}[w%2]
				ctx := withManager(context.Background(), manager, "")
				req := &request{verb: "create", namespace: "default", resource: pods}
				want := v1.DeepCopy(p)
				if err := srv.trackWrite(ctx, req, want, nil); err != nil {
					errs <- err
					return
				}
				if err := srv.trackUpdate(ctx, req, p, nil); err != nil {
					errs <- err
					return
				}
				g, wm := p.ManagedFields, want.ManagedFields
				if len(g) != 1 || len(wm) != 1 {
					errs <- fmt.Errorf("entries %d, want %d", len(g), len(wm))
					return
				}
				g[0].Time, wm[0].Time = nil, nil
				if !reflect.DeepEqual(g[0], wm[0]) {
					errs <- fmt.Errorf("entry\n got %s\nwant %s", entriesJSON(g), entriesJSON(wm))
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	srv.fields.creates.mu.RLock()
	defer srv.fields.creates.mu.RUnlock()
	if n := len(srv.fields.creates.entries); n > cachedShapes {
		t.Errorf("%d shapes remembered, at most %d", n, cachedShapes)
	}
}

// TestTrackCreateEntrySizes: the largest shape the cache keeps
// (maxShapeBytes) and the entry it keeps for it, for a pod of many keyed
// items: what a full cache can hold.
func TestTrackCreateEntrySizes(t *testing.T) {
	srv := trackServer(t)
	pods := podsResource(t)
	maxKey, maxEntry := 0, 0
	for n := 1; n < 400; n += 3 {
		p := benchPod()
		c := p.Spec.Containers[0]
		p.Spec.Containers = nil
		for i := 0; i < n; i++ {
			c.Name = fmt.Sprintf("%d", i)
			c.Ports = []v1.ContainerPort{{ContainerPort: int32(i)}}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}
		v1.Default(p)
		v1.SetTypeMeta(p)
		req := &request{verb: "create", namespace: "default", resource: pods}
		k, ok := srv.fields.shapeKey(newShapeBuffer(), req, "m", p)
		if !ok {
			continue
		}
		if err := srv.trackWrite(withManager(context.Background(), "m", ""), req, p, nil); err != nil {
			t.Fatal(err)
		}
		maxKey = max(maxKey, len(k))
		maxEntry = max(maxEntry, len(p.ManagedFields[0].FieldsV1.Raw))
	}
	t.Logf("largest key kept %d bytes, its entry's fieldsV1 %d bytes: a full cache of %d about %d KiB", maxKey, maxEntry, cachedShapes, cachedShapes*(maxKey+maxEntry)>>10)
	if maxKey > maxShapeBytes+256 {
		t.Errorf("a key of %d bytes kept", maxKey)
	}
}

// TestTrackCreateRandomUnicode: random pods, services, deployments and
// config maps whose strings are drawn from a few that JSON writes as
// they are (non-ASCII, a quote-free parenthesis, digits) or escapes
// (U+2028, invalid UTF-8), so keyed items and map keys repeat: the
// field manager's managedFields every time.
func TestTrackCreateRandomUnicode(t *testing.T) {
	srv := trackServer(t)
	names := []string{"é", "u\u0308", "a)b", "1", "", "a\u2028", "a\xff", "(x,\"y\")"}
	tried, remembered := 0, 0
	for seed := int64(100); seed < 112; seed++ {
		pick := names
		if seed%2 == 1 {
			pick = names[:5] // none JSON escapes: the cache serves them
		}
		f := randfill.NewWithSeed(seed).NilChance(0.4).NumElements(0, 3).MaxDepth(8).Funcs(
			func(s *string, c randfill.Continue) { *s = pick[c.Intn(len(pick))] },
			func(tm *v1.Time, c randfill.Continue) { *tm = v1.NewTime(time.Unix(c.Int63n(1<<33), 0)) },
			func(mt *v1.MicroTime, c randfill.Continue) {},
			func(q *resource.Quantity, c randfill.Continue) {
				*q = *resource.NewQuantity(c.Int63n(3), resource.DecimalSI)
			},
			func(x *intstr.IntOrString, c randfill.Continue) { *x = intstr.FromInt32(c.Int31n(2)) },
			func(x *v1.FieldsV1, c randfill.Continue) { x.Raw = []byte(`{}`) },
			func(r *runtime.RawExtension, c randfill.Continue) { r.Raw = []byte(`{"a":1}`) },
			func(p *int32, c randfill.Continue) { *p = int32(c.Intn(2)) },
			func(p *int64, c randfill.Continue) { *p = int64(c.Intn(2)) },
		)
		for _, name := range []string{"pods", "services", "deployments", "configmaps", "jobs", "statefulsets"} {
			r, _ := v1.ResourceByName(name)
			for i := 0; i < 8; i++ {
				obj := r.New()
				f.Fill(obj)
				obj.GetObjectMeta().ManagedFields = nil
				tried++
				if _, ok := checkCreateTracked(t, srv, "m", createCase{fmt.Sprintf("%s seed %d #%d", name, seed, i), r, obj}); ok {
					remembered++
				}
			}
		}
	}
	t.Logf("%d of %d remembered", remembered, tried)
}
