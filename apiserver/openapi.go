package apiserver

import (
	"fmt"
	"net/http"
	"sort"
	"strings"

	"k8s.io/kube-openapi/pkg/handler"
	"k8s.io/kube-openapi/pkg/handler3"

	"orch.io/orch/api/openapi"
	v1 "orch.io/orch/api/v1"
)

// openAPI serves orch's OpenAPI documents as kube-apiserver does, with
// kube-openapi's handlers: /openapi/v2 (JSON, or protobuf when asked for
// application/com.github.proto-openapi.spec.v2@v1.0+protobuf, with ETags
// and gzip), /openapi/v3 (the index of group versions, each with a
// serverRelativeURL carrying its document's hash) and
// /openapi/v3/<api/v1|apis/group/version> (immutable when fetched by hash).
type openAPI struct {
	v2 *handler.OpenAPIService
	v3 *handler3.OpenAPIService
	// groups are the served v3 group versions ("api/v1", "apis/<group>/<version>").
	groups map[string]bool
}

// newOpenAPI loads the embedded document and its per-group v3 documents.
func newOpenAPI() (*openAPI, error) {
	sw, err := openapi.V2()
	if err != nil {
		return nil, fmt.Errorf("openapi v2: %w", err)
	}
	docs, err := openapi.V3(sw)
	if err != nil {
		return nil, fmt.Errorf("openapi v3: %w", err)
	}
	o := &openAPI{v2: handler.NewOpenAPIService(sw), v3: handler3.NewOpenAPIService(), groups: map[string]bool{}}
	groups := make([]string, 0, len(docs))
	for g := range docs {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		o.v3.UpdateGroupVersion(g, docs[g])
		o.groups[g] = true
	}
	return o, nil
}

// openAPIMux adapts the server's mux to kube-openapi's registration: every
// path is read-only, and readable by an authenticated user whom the
// authorizer allows the path (system:discovery holds /openapi and
// /openapi/* for system:authenticated, as in Kubernetes).
type openAPIMux struct {
	mux  *http.ServeMux
	wrap func(http.Handler) http.Handler
}

// Handle serves one path.
func (m openAPIMux) Handle(path string, h http.Handler) { m.mux.Handle("GET "+path, m.wrap(h)) }

// HandlePrefix serves every path under a prefix ending in "/".
func (m openAPIMux) HandlePrefix(prefix string, h http.Handler) {
	m.mux.Handle("GET "+prefix, m.wrap(h))
}

// register adds the OpenAPI paths to mux.
func (o *openAPI) register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) error {
	m := openAPIMux{mux: mux, wrap: func(h http.Handler) http.Handler { return wrap(o.knownGroups(h)) }}
	o.v2.RegisterOpenAPIVersionedService("/openapi/v2", m)
	if err := o.v3.RegisterOpenAPIV3VersionedService("/openapi/v3", m); err != nil {
		return fmt.Errorf("register /openapi/v3: %w", err)
	}
	return nil
}

// knownGroups answers 404 for a v3 document of a group version orch does
// not serve (kube-openapi's handler would answer an empty 200).
func (o *openAPI) knownGroups(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g, ok := strings.CutPrefix(r.URL.Path, "/openapi/v3/"); ok && !o.groups[g] {
			writeError(w, v1.NewNotFound("path", r.URL.Path))
			return
		}
		next.ServeHTTP(w, r)
	})
}
