package apiserver

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// basePod is the stored pod the patch tests start from.
const basePod = `{"kind":"Pod","apiVersion":"v1",
"metadata":{"name":"p","namespace":"default","finalizers":["a/x","b/y"],
  "ownerReferences":[{"apiVersion":"v1","kind":"ReplicationController","name":"rc","uid":"u1"}]},
"spec":{
  "volumes":[{"name":"data","emptyDir":{}}],
  "containers":[
    {"name":"web","image":"nginx:1","ports":[{"containerPort":80},{"containerPort":443}],
     "env":[{"name":"A","value":"1"},{"name":"B","value":"2"}],
     "volumeMounts":[{"name":"data","mountPath":"/data"}]},
    {"name":"side","image":"busybox:1"}],
  "tolerations":[{"key":"k1","operator":"Exists"}]},
"status":{"conditions":[{"type":"Ready","status":"False"},{"type":"PodScheduled","status":"True"}]}}`

// pick returns the value at a dotted path of a JSON document; numbers in
// the path index lists.
func pick(t *testing.T, doc []byte, path string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("decode %s: %v", doc, err)
	}
	for _, seg := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			v = x[seg]
		case []any:
			i := 0
			for _, c := range seg {
				i = i*10 + int(c-'0')
			}
			if i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
	}
	return v
}

// listKeys returns the "name" (or key) of each element of a list.
func listKeys(v any, key string) []any {
	var out []any
	for _, e := range v.([]any) {
		out = append(out, e.(map[string]any)[key])
	}
	return out
}

func TestApplyPatch(t *testing.T) {
	tests := []struct {
		name  string
		typ   string
		patch string
		code  int // 0: must apply
		check func(t *testing.T, out []byte)
	}{
		{name: "strategic: containers merge by name", typ: strategicPatchType,
			patch: `{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}`,
			check: func(t *testing.T, out []byte) {
				if got := listKeys(pick(t, out, "spec.containers"), "name"); !reflect.DeepEqual(got, []any{"web", "side"}) {
					t.Errorf("containers %v", got)
				}
				if pick(t, out, "spec.containers.0.image") != "nginx:2" || pick(t, out, "spec.containers.1.image") != "busybox:1" {
					t.Errorf("images %s", out)
				}
				if len(pick(t, out, "spec.containers.0.env").([]any)) != 2 {
					t.Errorf("the container's env was not kept")
				}
			}},
		{name: "merge: a list is replaced whole", typ: mergePatchType,
			patch: `{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}`,
			check: func(t *testing.T, out []byte) {
				if got := listKeys(pick(t, out, "spec.containers"), "name"); !reflect.DeepEqual(got, []any{"web"}) {
					t.Errorf("containers %v", got)
				}
			}},
		{name: "strategic: ports merge by containerPort with $setElementOrder", typ: strategicPatchType,
			// kubectl apply after the manifest's ports went from 80,443 to 8080,80.
			patch: `{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"side"}],
			  "containers":[{"$setElementOrder/ports":[{"containerPort":8080},{"containerPort":80}],"name":"web",
			  "ports":[{"containerPort":8080},{"$patch":"delete","containerPort":443}]}]}}`,
			check: func(t *testing.T, out []byte) {
				if got := listKeys(pick(t, out, "spec.containers.0.ports"), "containerPort"); !reflect.DeepEqual(got, []any{8080.0, 80.0}) {
					t.Errorf("ports %v", got)
				}
			}},
		{name: "strategic: env merges by name", typ: strategicPatchType,
			patch: `{"spec":{"containers":[{"name":"web","env":[{"name":"B","value":"two"},{"name":"C","value":"3"}]}]}}`,
			check: func(t *testing.T, out []byte) {
				env := pick(t, out, "spec.containers.0.env")
				if got := listKeys(env, "name"); !reflect.DeepEqual(got, []any{"A", "B", "C"}) {
					t.Errorf("env %v", got)
				}
				if pick(t, out, "spec.containers.0.env.1.value") != "two" {
					t.Errorf("B not updated: %s", out)
				}
			}},
		{name: "strategic: $patch delete of an env var", typ: strategicPatchType,
			patch: `{"spec":{"containers":[{"name":"web","env":[{"name":"A","$patch":"delete"}]}]}}`,
			check: func(t *testing.T, out []byte) {
				if got := listKeys(pick(t, out, "spec.containers.0.env"), "name"); !reflect.DeepEqual(got, []any{"B"}) {
					t.Errorf("env %v", got)
				}
			}},
		{name: "strategic: $patch replace of a list", typ: strategicPatchType,
			patch: `{"spec":{"containers":[{"name":"only","image":"x"},{"$patch":"replace"}]}}`,
			check: func(t *testing.T, out []byte) {
				if got := listKeys(pick(t, out, "spec.containers"), "name"); !reflect.DeepEqual(got, []any{"only"}) {
					t.Errorf("containers %v", got)
				}
			}},
		{name: "strategic: $patch delete of a container", typ: strategicPatchType,
			patch: `{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}`,
			check: func(t *testing.T, out []byte) {
				if got := listKeys(pick(t, out, "spec.containers"), "name"); !reflect.DeepEqual(got, []any{"web"}) {
					t.Errorf("containers %v", got)
				}
			}},
		// Without $setElementOrder the patch's elements come first, as in Kubernetes.
		{name: "strategic: volumeMounts merge by mountPath", typ: strategicPatchType,
			patch: `{"spec":{"containers":[{"name":"web","volumeMounts":[{"name":"data","mountPath":"/other"}]}]}}`,
			check: func(t *testing.T, out []byte) {
				if got := listKeys(pick(t, out, "spec.containers.0.volumeMounts"), "mountPath"); !reflect.DeepEqual(got, []any{"/other", "/data"}) {
					t.Errorf("mounts %v", got)
				}
			}},
		{name: "strategic: $retainKeys switches a volume's source", typ: strategicPatchType,
			patch: `{"spec":{"volumes":[{"name":"data","hostPath":{"path":"/srv"},"$retainKeys":["hostPath","name"]}]}}`,
			check: func(t *testing.T, out []byte) {
				if pick(t, out, "spec.volumes.0.emptyDir") != nil || pick(t, out, "spec.volumes.0.hostPath.path") != "/srv" {
					t.Errorf("volume %v", pick(t, out, "spec.volumes.0"))
				}
			}},
		{name: "strategic: without $retainKeys the old source stays", typ: strategicPatchType,
			patch: `{"spec":{"volumes":[{"name":"data","hostPath":{"path":"/srv"}}]}}`,
			check: func(t *testing.T, out []byte) {
				if pick(t, out, "spec.volumes.0.emptyDir") == nil {
					t.Errorf("volume %v", pick(t, out, "spec.volumes.0"))
				}
			}},
		{name: "strategic: $retainKeys naming a key the patch lacks", typ: strategicPatchType,
			patch: `{"spec":{"volumes":[{"name":"data","hostPath":{"path":"/srv"},"$retainKeys":["name"]}]}}`,
			code:  http.StatusBadRequest},
		{name: "strategic: $deleteFromPrimitiveList of finalizers", typ: strategicPatchType,
			patch: `{"metadata":{"$deleteFromPrimitiveList/finalizers":["a/x"]}}`,
			check: func(t *testing.T, out []byte) {
				if got := pick(t, out, "metadata.finalizers"); !reflect.DeepEqual(got, []any{"b/y"}) {
					t.Errorf("finalizers %v", got)
				}
			}},
		{name: "strategic: finalizers merge as a set", typ: strategicPatchType,
			patch: `{"metadata":{"finalizers":["c/z","a/x"]}}`,
			check: func(t *testing.T, out []byte) {
				if got := pick(t, out, "metadata.finalizers"); len(got.([]any)) != 3 {
					t.Errorf("finalizers %v", got)
				}
			}},
		{name: "strategic: ownerReferences merge by uid", typ: strategicPatchType,
			patch: `{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"ReplicationController","name":"rc2","uid":"u2"}]}}`,
			check: func(t *testing.T, out []byte) {
				if got := listKeys(pick(t, out, "metadata.ownerReferences"), "uid"); !reflect.DeepEqual(got, []any{"u2", "u1"}) {
					t.Errorf("owners %v", got)
				}
			}},
		{name: "strategic: conditions merge by type", typ: strategicPatchType,
			patch: `{"status":{"conditions":[{"type":"Ready","status":"True"}]}}`,
			check: func(t *testing.T, out []byte) {
				if pick(t, out, "status.conditions.0.status") != "True" || len(pick(t, out, "status.conditions").([]any)) != 2 {
					t.Errorf("conditions %v", pick(t, out, "status.conditions"))
				}
			}},
		{name: "strategic: tolerations have no merge key and are replaced", typ: strategicPatchType,
			patch: `{"spec":{"tolerations":[{"key":"k2","operator":"Exists"}]}}`,
			check: func(t *testing.T, out []byte) {
				if got := listKeys(pick(t, out, "spec.tolerations"), "key"); !reflect.DeepEqual(got, []any{"k2"}) {
					t.Errorf("tolerations %v", got)
				}
			}},
		{name: "strategic: an element without its merge key", typ: strategicPatchType,
			patch: `{"spec":{"containers":[{"image":"x"}]}}`, code: http.StatusBadRequest},
		{name: "strategic: an unknown directive", typ: strategicPatchType,
			patch: `{"spec":{"containers":[{"name":"web","$patch":"explode"}]}}`, code: http.StatusBadRequest},
		{name: "json: replace and add", typ: jsonPatchType,
			patch: `[{"op":"replace","path":"/spec/containers/0/image","value":"nginx:3"},{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]`,
			check: func(t *testing.T, out []byte) {
				if pick(t, out, "spec.containers.0.image") != "nginx:3" || pick(t, out, "metadata.labels.a") != "b" {
					t.Errorf("patched %s", out)
				}
			}},
		{name: "json: remove", typ: jsonPatchType, patch: `[{"op":"remove","path":"/spec/containers/1"}]`,
			check: func(t *testing.T, out []byte) {
				if got := listKeys(pick(t, out, "spec.containers"), "name"); !reflect.DeepEqual(got, []any{"web"}) {
					t.Errorf("containers %v", got)
				}
			}},
		{name: "json: test then move", typ: jsonPatchType,
			patch: `[{"op":"test","path":"/spec/containers/0/name","value":"web"},{"op":"move","from":"/spec/containers/1","path":"/spec/containers/0"}]`,
			check: func(t *testing.T, out []byte) {
				if got := listKeys(pick(t, out, "spec.containers"), "name"); !reflect.DeepEqual(got, []any{"side", "web"}) {
					t.Errorf("containers %v", got)
				}
			}},
		{name: "json: copy", typ: jsonPatchType, patch: `[{"op":"copy","from":"/spec/containers/0/image","path":"/spec/containers/1/image"}]`,
			check: func(t *testing.T, out []byte) {
				if pick(t, out, "spec.containers.1.image") != "nginx:1" {
					t.Errorf("patched %s", out)
				}
			}},
		{name: "json: a failed test changes nothing", typ: jsonPatchType,
			patch: `[{"op":"replace","path":"/spec/containers/0/image","value":"x"},{"op":"test","path":"/spec/containers/0/name","value":"other"}]`,
			code:  http.StatusUnprocessableEntity},
		{name: "json: a missing path", typ: jsonPatchType, patch: `[{"op":"remove","path":"/spec/nothing"}]`,
			code: http.StatusUnprocessableEntity},
		{name: "json: copies past the limit", typ: jsonPatchType,
			patch: `[{"op":"copy","from":"/spec","path":"/metadata/a"},{"op":"copy","from":"/metadata/a","path":"/metadata/b"},{"op":"copy","from":"/metadata","path":"/metadata/c"},{"op":"copy","from":"/metadata","path":"/metadata/d"}]`,
			code:  http.StatusUnprocessableEntity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := applyPatch(&patchBody{typ: tt.typ, raw: []byte(tt.patch)}, []byte(basePod), &v1.Pod{}, 1024)
			if tt.code != 0 {
				if v1.CodeOf(err) != tt.code {
					t.Fatalf("got %v (code %d), want code %d", err, v1.CodeOf(err), tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("patch: %v", err)
			}
			var pod v1.Pod
			if err := decodeStrict(out, &pod); err != nil {
				t.Fatalf("the patched pod does not decode strictly: %v\n%s", err, out)
			}
			tt.check(t, out)
		})
	}
}

// Service ports merge by port, as in Kubernetes.
func TestApplyPatchServicePorts(t *testing.T) {
	svc := `{"metadata":{"name":"s"},"spec":{"ports":[{"name":"http","port":80},{"name":"https","port":443}]}}`
	out, err := applyPatch(&patchBody{typ: strategicPatchType, raw: []byte(`{"spec":{"ports":[{"port":80,"name":"web"}]}}`)},
		[]byte(svc), &v1.Service{}, 1024)
	if err != nil {
		t.Fatal(err)
	}
	if got := listKeys(pick(t, out, "spec.ports"), "name"); !reflect.DeepEqual(got, []any{"web", "https"}) {
		t.Errorf("ports %v", got)
	}
}
