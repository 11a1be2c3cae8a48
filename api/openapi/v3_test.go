package openapi_test

import (
	"encoding/json"
	"strings"
	"testing"

	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"
	"k8s.io/kube-openapi/pkg/spec3"

	"orch.io/orch/api/openapi"
	v1 "orch.io/orch/api/v1"
)

// TestV3Documents checks each group version's v3 document: its paths are
// its own, every reference resolves within it, each kind is there with
// its GVK, and the PATCH of each stored kind declares the fieldValidation
// query parameter, which is how kubectl learns that the server validates
// fields itself (cli-runtime's QueryParamVerifierV3).
func TestV3Documents(t *testing.T) {
	sw, err := openapi.V2()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := handler.ToProtoBinary(openapi.SwaggerJSON()); err != nil {
		t.Errorf("the v2 document does not convert to protobuf: %v", err)
	}
	docs, err := openapi.V3(sw)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"api/v1": true}
	for _, gv := range v1.Groups() {
		want["apis/"+gv.String()] = true
	}
	if len(docs) != len(want) {
		t.Errorf("%d v3 documents, want %d (%v)", len(docs), len(want), want)
	}
	for _, r := range v1.Served() {
		key := strings.TrimPrefix(r.PathPrefix(), "/")
		doc, ok := docs[key]
		if !ok {
			t.Errorf("no v3 document %s for %s", key, r.Name)
			continue
		}
		if doc.Version != "3.0.0" {
			t.Errorf("%s: openapi %q, want 3.0.0", key, doc.Version)
		}
		if !hasKind(doc, r.Group, r.Kind) {
			t.Errorf("%s has no schema with the GVK of %s", key, r.Kind)
		}
		if r.Review {
			continue
		}
		if !patchValidates(doc, r.Group, r.Kind) {
			t.Errorf("%s: no PATCH of %s declares fieldValidation", key, r.Kind)
		}
	}
	for key, doc := range docs {
		for p := range doc.Paths.Paths {
			if !strings.HasPrefix(p, "/"+key+"/") {
				t.Errorf("%s holds the path %s of another group version", key, p)
			}
		}
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range refPattern.FindAllSubmatch(b, -1) {
			if _, ok := doc.Components.Schemas[string(m[1])]; !ok {
				t.Errorf("%s refers to %s, which it does not hold", key, m[1])
			}
		}
		if strings.Contains(string(b), "#/definitions/") {
			t.Errorf("%s still has v2 references", key)
		}
		// kubectl may ask for protobuf, which the handler converts from JSON
		// and, when conversion fails, answers with an empty body.
		if _, err := handler3.ToV3ProtoBinary(b); err != nil {
			t.Errorf("%s does not convert to protobuf: %v", key, err)
		}
	}
	if _, ok := docs["api/v1"].Components.Schemas["io.k8s.api.rbac.v1.Role"]; ok {
		t.Error("api/v1 holds rbac's Role")
	}
	// A property with its own description keeps it beside an allOf reference.
	spec := docs["api/v1"].Components.Schemas["io.k8s.api.core.v1.Pod"].Properties["spec"]
	if len(spec.AllOf) != 1 || spec.AllOf[0].Ref.String() != "#/components/schemas/io.k8s.api.core.v1.PodSpec" || spec.Description == "" {
		t.Errorf("Pod.spec = %+v, want a description and allOf: [PodSpec]", spec)
	}
}

// hasKind says whether a document holds a schema with a kind's GVK.
func hasKind(doc *spec3.OpenAPI, group, kind string) bool {
	for _, s := range doc.Components.Schemas {
		var gvks []map[string]string
		if s.Extensions.GetObject("x-kubernetes-group-version-kind", &gvks) != nil {
			continue
		}
		for _, g := range gvks {
			if g["group"] == group && g["version"] == "v1" && g["kind"] == kind {
				return true
			}
		}
	}
	return false
}

// patchValidates mirrors cli-runtime's supportsQueryParamV3.
func patchValidates(doc *spec3.OpenAPI, group, kind string) bool {
	for _, p := range doc.Paths.Paths {
		op := p.Patch
		if op == nil {
			continue
		}
		var g map[string]string
		if op.Extensions.GetObject("x-kubernetes-group-version-kind", &g) != nil ||
			g["group"] != group || g["version"] != "v1" || g["kind"] != kind {
			continue
		}
		for _, param := range op.Parameters {
			if param.Name == "fieldValidation" && param.In == "query" {
				return true
			}
		}
	}
	return false
}
