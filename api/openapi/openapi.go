// Package openapi holds orch's OpenAPI documents: v2 (swagger.json,
// generated from the Go types and doc comments of api/v1 by `go generate`
// and embedded) and the v3 documents of each group version derived from it.
//
// The document is generated ahead of time rather than built by reflection
// at start-up because the descriptions come from doc comments, which only
// the source has, and because the generator also reads k8s.io/api's source
// to mirror Kubernetes' patch and list metadata; a master binary has
// neither source. A unit test regenerates the document and fails when the
// checked-in file is stale.
package openapi

//go:generate go run ./gen -src ../v1 -out swagger.json

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"k8s.io/kube-openapi/pkg/openapiconv"
	"k8s.io/kube-openapi/pkg/spec3"
	"k8s.io/kube-openapi/pkg/validation/spec"

	v1 "orch.io/orch/api/v1"
)

//go:embed swagger.json
var swaggerJSON []byte

// SwaggerJSON returns the checked-in OpenAPI v2 document.
func SwaggerJSON() []byte { return append([]byte(nil), swaggerJSON...) }

// V2 decodes the OpenAPI v2 document.
func V2() (*spec.Swagger, error) {
	sw := &spec.Swagger{}
	if err := json.Unmarshal(swaggerJSON, sw); err != nil {
		return nil, fmt.Errorf("decode embedded OpenAPI v2: %w", err)
	}
	return sw, nil
}

// schemaRef finds references to component schemas in an encoded document.
var schemaRef = regexp.MustCompile(`"\$ref":"#/components/schemas/([^"]+)"`)

// V3 splits a v2 document into the OpenAPI v3 documents of each served
// group version, keyed as kube-apiserver serves them under /openapi/v3/:
// "api/v1", "apis/<group>/<version>". Each holds the paths of its group
// version and every schema they reach, as kubectl fetches one group
// version's document and resolves references within it.
// sw is not modified.
func V3(sw *spec.Swagger) (map[string]*spec3.OpenAPI, error) {
	// The conversion copies the schemas, and wraps a reference with a
	// description of its own into allOf: [reference] beside the description,
	// as kube-apiserver's v3 documents do (in OpenAPI 3.0 the siblings of a
	// $ref are ignored, which would lose the field's description).
	all := openapiconv.ConvertV2ToV3(sw)
	prefixes := map[string]bool{}
	for _, r := range v1.Served() {
		prefixes[r.PathPrefix()] = true
	}
	out := map[string]*spec3.OpenAPI{}
	for prefix := range prefixes {
		doc := &spec3.OpenAPI{
			Version:    all.Version,
			Info:       all.Info,
			Paths:      &spec3.Paths{Paths: map[string]*spec3.Path{}},
			Components: &spec3.Components{Schemas: map[string]*spec.Schema{}},
		}
		var queue []string
		for p, item := range all.Paths.Paths {
			if !strings.HasPrefix(p, prefix+"/") {
				continue
			}
			doc.Paths.Paths[p] = item
			b, err := json.Marshal(item)
			if err != nil {
				return nil, fmt.Errorf("encode path %s: %w", p, err)
			}
			queue = append(queue, refs(b)...)
		}
		for len(queue) > 0 {
			name := queue[0]
			queue = queue[1:]
			if _, done := doc.Components.Schemas[name]; done {
				continue
			}
			s, ok := all.Components.Schemas[name]
			if !ok {
				return nil, fmt.Errorf("%s refers to the missing schema %s", prefix, name)
			}
			doc.Components.Schemas[name] = s
			b, err := json.Marshal(s)
			if err != nil {
				return nil, fmt.Errorf("encode schema %s: %w", name, err)
			}
			queue = append(queue, refs(b)...)
		}
		out[strings.TrimPrefix(prefix, "/")] = doc
	}
	return out, nil
}

// refs lists the schema names an encoded value refers to, sorted.
func refs(b []byte) []string {
	var out []string
	for _, m := range schemaRef.FindAllSubmatch(b, -1) {
		out = append(out, string(m[1]))
	}
	sort.Strings(out)
	return out
}
