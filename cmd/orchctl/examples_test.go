package main

import (
	"testing"

	v1 "orch.io/orch/api/v1"
)

// Every manifest in examples/ (which `make run` applies) decodes strictly and
// is valid once defaulted, as the API server will find it.
func TestExamplesAreValid(t *testing.T) {
	ms, err := readManifests([]string{"../../examples"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) < 3 {
		t.Fatalf("%d manifests in examples/", len(ms))
	}
	for _, m := range ms {
		m.obj.GetObjectMeta().Namespace = v1.DefaultNamespace
		v1.Default(m.obj)
		if err := v1.Validate(m.obj); err != nil {
			t.Errorf("%s: %v", m.ref(), err)
		}
	}
}
