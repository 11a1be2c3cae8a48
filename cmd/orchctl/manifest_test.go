package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

const podYAML = `apiVersion: v1
kind: Pod
metadata:
  name: web
  labels: {app: web}
spec:
  containers:
  - name: web
    image: nginx
    resources: {limits: {cpu: 250m}}
`

func refs(ms []*manifest) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ref())
	}
	return out
}

func TestDecodeManifests(t *testing.T) {
	tests := []struct {
		name string
		data string
		want []string
	}{
		{"one yaml", podYAML, []string{"pod/web"}},
		{"multi-document yaml with comments and empty documents", "# comment\n---\n" + podYAML +
			"---\n--- # the service\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {ports: [{port: 80}]}\n...\n",
			[]string{"pod/web", "service/web"}},
		{"json", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"prod"}}`, []string{"namespace/prod"}},
		{"json stream", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}
{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"b"}}`, []string{"namespace/a", "namespace/b"}},
		{"yaml List", `apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ReplicationController
  metadata: {name: db}
  spec: {replicas: 2, selector: {app: db}}
- apiVersion: v1
  kind: Endpoints
  metadata: {name: ext}
`, []string{"replicationcontroller/db", "endpoints/ext"}},
		{"typed list in json", `{"apiVersion":"v1","kind":"PodList","metadata":{"resourceVersion":"9"},"items":[
			{"apiVersion":"v1","kind":"Pod","metadata":{"name":"x"},"spec":{"containers":[{"name":"c","image":"i"}]}}]}`,
			[]string{"pod/x"}},
		{"only comments", "# nothing\n---\n# here\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms, err := decodeManifests("f.yaml", []byte(tt.data))
			if err != nil {
				t.Fatal(err)
			}
			if got := refs(ms); strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecodeManifestsKeepsTypesAndRaw(t *testing.T) {
	ms, err := decodeManifests("f.yaml", []byte(podYAML))
	if err != nil {
		t.Fatal(err)
	}
	p := ms[0].obj.(*v1.Pod)
	if p.Spec.Containers[0].Image != "nginx" || p.Labels["app"] != "web" {
		t.Fatalf("decoded %+v", p)
	}
	q := p.Spec.Containers[0].Resources.Limits[v1.ResourceCPU]
	if q.String() != "250m" {
		t.Fatalf("cpu limit = %s", q.String())
	}
	if _, ok := ms[0].raw["status"]; ok {
		t.Fatal("raw gained fields the user did not write")
	}
}

func TestDecodeManifestsStrictErrors(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"unknown field with its path", strings.Replace(podYAML, "image: nginx", "imagee: nginx", 1),
			`f.yaml: unknown field "spec.containers[0].imagee"`},
		{"case differs", strings.Replace(podYAML, "labels:", "Labels:", 1), `unknown field "metadata.Labels"`},
		{"duplicate yaml key", podYAML + "kind: Service\n", `already set`},
		{"duplicate json field", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a","name":"b"}}`, `duplicate field "metadata.name"`},
		{"unknown field in second document", podYAML + "---\napiVersion: v1\nkind: Service\nmetadata: {name: a}\nspec: {portz: []}\n",
			`f.yaml (document 2 at line 12): unknown field "spec.portz"`},
		{"unknown field in list item", `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"},"spec":{"x":1}}]}`,
			`f.yaml (item 1): unknown field "spec.x"`},
		{"unknown list field", `{"apiVersion":"v1","kind":"List","itemz":[]}`, `unknown field "itemz"`},
		{"missing kind", "apiVersion: v1\nmetadata: {name: a}\n", "kind is missing"},
		{"unsupported kind", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n", `kind "ConfigMap" is not supported`},
		{"other api version", "apiVersion: apps/v1\nkind: Pod\nmetadata: {name: a}\n", `apiVersion "apps/v1" is not supported`},
		{"missing name", "apiVersion: v1\nkind: Namespace\nmetadata: {}\n", "has no metadata.name"},
		{"wrong type", "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: a}\nspec: {replicas: many}\n", "f.yaml:"},
		{"bad json", `{"apiVersion":`, "invalid JSON"},
		{"not an object", "- a\n- b\n", "f.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := decodeManifests("f.yaml", []byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestReadManifestsDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.yaml", podYAML)
	write("a.json", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}`)
	write("notes.txt", "not a manifest")
	write("sub/c.yml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: c}\n")

	ms, err := readManifests([]string{dir}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(refs(ms), " "); got != "namespace/a pod/web" {
		t.Fatalf("got %s", got)
	}
	ms, err = readManifests([]string{dir}, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(refs(ms), " "); got != "namespace/a pod/web namespace/c" {
		t.Fatalf("recursive: got %s", got)
	}
	ms, err = readManifests([]string{"-"}, strings.NewReader(podYAML), false)
	if err != nil || len(ms) != 1 || ms[0].source != "stdin" {
		t.Fatalf("stdin: %v, %v", ms, err)
	}
	if _, err := readManifests([]string{filepath.Join(dir, "missing.yaml")}, nil, false); err == nil {
		t.Fatal("a missing file was accepted")
	}
}

func TestManifestNamespace(t *testing.T) {
	decode := func(data string) *manifest {
		t.Helper()
		ms, err := decodeManifests("f.yaml", []byte(data))
		if err != nil {
			t.Fatal(err)
		}
		return ms[0]
	}
	m := decode(podYAML)
	if err := m.setNamespace("prod", false); err != nil {
		t.Fatal(err)
	}
	if m.obj.GetObjectMeta().Namespace != "prod" || m.raw["metadata"].(map[string]any)["namespace"] != "prod" {
		t.Fatal("namespace not filled in")
	}

	m = decode(strings.Replace(podYAML, "name: web\n", "name: web\n  namespace: dev\n", 1))
	if err := m.setNamespace("default", false); err != nil || m.obj.GetObjectMeta().Namespace != "dev" {
		t.Fatalf("the manifest's own namespace must win over the default -n: %v", err)
	}
	if err := m.setNamespace("prod", true); err == nil || !strings.Contains(err.Error(), `"dev" does not match --namespace "prod"`) {
		t.Fatalf("err = %v", err)
	}

	m = decode("apiVersion: v1\nkind: Node\nmetadata: {name: n1}\n")
	if err := m.setNamespace("prod", true); err != nil || m.obj.GetObjectMeta().Namespace != "" {
		t.Fatal("a cluster-scoped object got a namespace")
	}
}
