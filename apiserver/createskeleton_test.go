package apiserver

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// TestSkeletonFits: every kind served has the metadata skeletonKey takes
// (ObjectMeta's), as the field manager's schema has it.
func TestSkeletonFits(t *testing.T) {
	srv := trackServer(t)
	for _, r := range v1.Served() {
		tt, err := srv.fields.typeOf(gvkOf(r))
		if err != nil {
			t.Fatalf("%s: %v", r.Name, err)
		}
		if !tt.skeleton {
			t.Errorf("%s.%s: no skeleton", r.Name, r.Group)
		}
	}
	// A type whose metadata is otherwise is not skeletonised.
	pods, err := srv.fields.typeOf(gvkOf(podsResource(t)))
	if err != nil {
		t.Fatal(err)
	}
	if skeletonFits(pods.schema, pods.typeRef) != true {
		t.Fatal("pods do not fit")
	}
	spec, ok := pods.schema.Resolve(pods.typeRef)
	if !ok {
		t.Fatal("no pod type")
	}
	f, _ := spec.Map.FindField("spec")
	if skeletonFits(pods.schema, f.Type) {
		t.Error("a pod's spec (no metadata) fits")
	}
}

// TestSkeletonKey: objects whose JSON differs only in the values the
// skeleton leaves out share a skeleton; any other difference (a label
// key, a list key, a value elsewhere, an owner, a finalizer, a null for a
// value) gives another; JSON not laid out as json.Marshal writes it has
// none.
func TestSkeletonKey(t *testing.T) {
	skel := func(p *v1.Pod) (string, bool) {
		if p.UID == "" {
			p.UID = "u0"
		}
		v1.Default(p)
		v1.SetTypeMeta(p)
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		k, ok := skeletonKey(nil, []byte("v1/pods//1:m"), b)
		return string(k), ok
	}
	base, ok := skel(benchPod())
	if !ok {
		t.Fatal("the bench pod has no skeleton")
	}
	tests := []struct {
		name string
		edit func(p *v1.Pod)
		same bool
	}{
		{"other name, uid, time, generateName", func(p *v1.Pod) {
			p.Name, p.UID, p.GenerateName = "web-7", "0b6c", "web-"
			p.CreationTimestamp = v1.NewTime(time.Date(2026, 12, 5, 1, 2, 3, 0, time.UTC))
		}, false}, // generateName was absent: its key is new
		{"other name and uid", func(p *v1.Pod) { p.Name, p.UID = `<we"b>\`, "0b6c" }, true},
		{"other label and annotation values", func(p *v1.Pod) {
			p.Labels["app"], p.Annotations["note"] = "other }{,:\"", ""
		}, true},
		{"another label key", func(p *v1.Pod) { p.Labels["app2"] = p.Labels["app"]; delete(p.Labels, "app") }, false},
		{"another namespace", func(p *v1.Pod) { p.Namespace = "other" }, false},
		{"another image", func(p *v1.Pod) { p.Spec.Containers[0].Image = "nginx" }, false},
		{"another container name", func(p *v1.Pod) { p.Spec.Containers[0].Name = "app" }, false},
		{"an owner", func(p *v1.Pod) {
			p.OwnerReferences = []v1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs", UID: "u1"}}
		}, false},
		{"a finalizer", func(p *v1.Pod) { p.Finalizers = []string{"a/b"} }, false},
		{"no labels", func(p *v1.Pod) { p.Labels = nil }, false},
		{"empty labels", func(p *v1.Pod) { p.Labels = map[string]string{} }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := benchPod()
			tc.edit(p)
			k, ok := skel(p)
			if !ok {
				t.Fatal("no skeleton")
			}
			if (k == base) != tc.same {
				t.Errorf("same skeleton %v, want %v:\n%q\n%q", k == base, tc.same, k, base)
			}
		})
	}
	for _, in := range []string{``, `[]`, `{"metadata":{"name":"a"`, `{"metadata":{"na\"me":"a"}}`, `{"a\u0062":1}`} {
		if k, ok := skeletonKey(nil, nil, []byte(in)); ok {
			t.Errorf("skeleton %q of %q", k, in)
		}
	}
}

// TestTrackCreateSkeletonMatchesFieldManager: creates of objects of one
// skeleton (names, uids, times, label and annotation values of every
// kind, escapes among them) are served from the skeleton after the first,
// and each gets the field manager's managedFields byte for byte.
func TestTrackCreateSkeletonMatchesFieldManager(t *testing.T) {
	srv := trackServer(t)
	values := []string{"a", "", "web-1", `q"`, `<b>&`, "é", strings.Repeat("x", 300), `\`}
	served := 0
	for _, r := range v1.Served() {
		for i, val := range values {
			obj := r.New()
			m := obj.GetObjectMeta()
			m.Name, m.UID, m.Namespace = val+"n", val+"u", "default"
			m.CreationTimestamp = v1.NewTime(time.Unix(int64(1e9+i), 0))
			m.Labels = map[string]string{"app": val, "tier": "web"}
			m.Annotations = map[string]string{"note": val + val}
			if r.View != nil {
				obj = r.View.ToStored(obj)
			}
			v1.Default(obj)
			req := &request{verb: "create", namespace: "default", resource: r}
			buf := newShapeBuffer()
			tt, ok := srv.fields.encodeShape(buf, req, "orchctl", viewOf(r, v1.DeepCopy(obj)))
			if ok && tt.skeleton {
				if k, ok := skeletonKey(nil, buf.key, buf.jsonBytes()); ok {
					// (Not every time: a Job's defaults copy its uid
					// into its selector.)
					if _, hit := srv.fields.creates.getSkeleton(k); hit {
						served++
					}
				}
			}
			checkCreateTracked(t, srv, "orchctl", createCase{fmt.Sprintf("%s.%s %q", r.Kind, r.Group, val), r, obj})
		}
	}
	if served < len(v1.Served())*(len(values)-1)/2 {
		t.Errorf("only %d creates served from a skeleton", served)
	}
}
