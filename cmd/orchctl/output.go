package main

import (
	"encoding/json"
	"fmt"
	"io"

	"sigs.k8s.io/yaml"

	v1 "orch.io/orch/api/v1"
)

// Output formats of -o.
const (
	outputTable = ""
	outputWide  = "wide"
	outputJSON  = "json"
	outputYAML  = "yaml"
	outputName  = "name"
)

// checkOutput validates an -o value.
func checkOutput(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return fmt.Errorf("unknown output format %q (allowed: %v)", format, allowed[1:])
}

// newList wraps objects in a v1 List, as `get -o json` of several objects prints.
func newList(objs []v1.Object) *v1.List[v1.Object] {
	if objs == nil {
		objs = []v1.Object{}
	}
	return &v1.List[v1.Object]{TypeMeta: v1.TypeMeta{Kind: "List", APIVersion: v1.APIVersion}, Items: objs}
}

// printJSON prints v indented, as kubectl does.
func printJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "    ")
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	b = append(b, '\n')
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// printYAML prints v as YAML.
func printYAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode yaml: %w", err)
	}
	if _, err := w.Write(b); err != nil {
		return fmt.Errorf("write output: %w", err)
	}
	return nil
}

// printStructured prints v as JSON or YAML.
func printStructured(w io.Writer, format string, v any) error {
	if format == outputYAML {
		return printYAML(w, v)
	}
	return printJSON(w, v)
}

// objectRef is the TYPE/NAME of an object, as -o name prints it.
func objectRef(r v1.Resource, obj v1.Object) string {
	return r.Singular + "/" + obj.GetObjectMeta().Name
}

// decodeObject decodes one object of r from JSON and fills its TypeMeta
// (list items often come without it).
func decodeObject(r v1.Resource, raw []byte) (v1.Object, error) {
	obj := r.New()
	if err := json.Unmarshal(raw, obj); err != nil {
		return nil, fmt.Errorf("decode %s: %w", r.Singular, err)
	}
	v1.SetTypeMeta(obj)
	return obj, nil
}
