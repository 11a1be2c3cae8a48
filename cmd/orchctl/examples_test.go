package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"

	v1 "orch.io/orch/api/v1"
)

// Every manifest in examples/ (which `make run` applies with orchctl apply)
// decodes strictly and is valid once defaulted, as the API server will find it.
func TestExamplesAreValid(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("examples: %v %v", files, err)
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if len(raw) == 0 || string(raw) == "null" {
				continue
			}
			var head v1.TypeMeta
			if err := json.Unmarshal(raw, &head); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			r, ok := v1.ResourceByKind(head.Kind)
			if !ok {
				t.Fatalf("%s: unknown kind %q", f, head.Kind)
			}
			obj := r.New()
			jd := json.NewDecoder(bytes.NewReader(raw))
			jd.DisallowUnknownFields()
			if err := jd.Decode(obj); err != nil {
				t.Fatalf("%s: %s: %v", f, head.Kind, err)
			}
			obj.GetObjectMeta().Namespace = v1.DefaultNamespace
			v1.Default(obj)
			if err := v1.Validate(obj); err != nil {
				t.Errorf("%s: %s %s: %v", f, head.Kind, obj.GetObjectMeta().Name, err)
			}
			n++
		}
	}
	if n < 3 {
		t.Fatalf("%d manifests in examples/", n)
	}
}
