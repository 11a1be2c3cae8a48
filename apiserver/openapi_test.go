package apiserver

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// getWith sends a GET with extra headers and returns the response with its body read.
func (e *testEnv) getWith(t *testing.T, path string, header map[string]string, opts ...reqOpt) (*http.Response, []byte) {
	t.Helper()
	opts = append(opts, func(r *http.Request) {
		for k, v := range header {
			r.Header.Set(k, v)
		}
	})
	resp := e.send(t, e.http, http.MethodGet, path, nil, opts...)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

// noRedirects is hc answering redirects instead of following them.
func noRedirects(hc *http.Client) *http.Client {
	c := *hc
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

func TestOpenAPIV2(t *testing.T) {
	e := newTestEnv(t)
	resp, body := e.getWith(t, "/openapi/v2", nil)
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("GET /openapi/v2: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var doc struct {
		Swagger     string                     `json:"swagger"`
		Definitions map[string]json.RawMessage `json:"definitions"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Swagger != "2.0" || doc.Definitions["io.k8s.api.core.v1.Pod"] == nil {
		t.Fatalf("/openapi/v2: swagger %q, %d definitions, no Pod", doc.Swagger, len(doc.Definitions))
	}
	etag := resp.Header.Get("Etag")
	if etag == "" {
		t.Fatal("/openapi/v2 has no ETag")
	}
	for _, tc := range []struct {
		name   string
		header map[string]string
		code   int
		ctype  string
	}{
		{"unchanged since the ETag", map[string]string{"If-None-Match": etag}, http.StatusNotModified, ""},
		{"another ETag", map[string]string{"If-None-Match": `"other"`}, http.StatusOK, "application/json"},
		{"protobuf", map[string]string{"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"},
			// kube-openapi names the type it returns without the "@".
			http.StatusOK, "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"},
		{"unsupported type", map[string]string{"Accept": "text/html"}, http.StatusNotAcceptable, ""},
	} {
		resp, b := e.getWith(t, "/openapi/v2", tc.header)
		if resp.StatusCode != tc.code || (tc.ctype != "" && resp.Header.Get("Content-Type") != tc.ctype) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, resp.StatusCode, resp.Header.Get("Content-Type"), tc.code, tc.ctype)
		}
		if tc.code == http.StatusOK && len(b) == 0 {
			t.Errorf("%s: empty body", tc.name)
		}
	}
	resp, _ = e.getWith(t, "/openapi/v2", nil, withToken(""))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/openapi/v2 without credentials: %d, want 401", resp.StatusCode)
	}
}

func TestOpenAPIV3(t *testing.T) {
	e := newTestEnv(t)
	var index struct {
		Paths map[string]struct {
			ServerRelativeURL string `json:"serverRelativeURL"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(e.expectCode(t, http.StatusOK, http.MethodGet, "/openapi/v3", nil), &index); err != nil {
		t.Fatal(err)
	}
	want := []string{"api/v1"}
	for _, gv := range v1.Groups() {
		want = append(want, "apis/"+gv.String())
	}
	if len(index.Paths) != len(want) {
		t.Errorf("/openapi/v3 lists %d group versions, want %v", len(index.Paths), want)
	}
	for _, gv := range want {
		p, ok := index.Paths[gv]
		if !ok || !strings.HasPrefix(p.ServerRelativeURL, "/openapi/v3/"+gv+"?hash=") {
			t.Errorf("/openapi/v3 %s: %+v", gv, p)
			continue
		}
		resp, body := e.getWith(t, p.ServerRelativeURL, nil)
		if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Errorf("GET %s: %d, Cache-Control %q; want 200 immutable", p.ServerRelativeURL, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
		var doc struct {
			OpenAPI    string `json:"openapi"`
			Components struct {
				Schemas map[string]json.RawMessage `json:"schemas"`
			} `json:"components"`
		}
		if err := json.Unmarshal(body, &doc); err != nil || doc.OpenAPI != "3.0.0" || len(doc.Components.Schemas) == 0 {
			t.Errorf("%s: openapi %q, %d schemas, err %v", gv, doc.OpenAPI, len(doc.Components.Schemas), err)
		}
		// Without the hash the document is served with its ETag; a stale hash
		// redirects to the current one, as kube-apiserver does.
		resp, _ = e.getWith(t, "/openapi/v3/"+gv, nil)
		etag := resp.Header.Get("Etag")
		if resp.StatusCode != http.StatusOK || etag == "" || !strings.HasSuffix(p.ServerRelativeURL, "hash="+strings.Trim(etag, `"`)) {
			t.Errorf("GET /openapi/v3/%s: %d, ETag %q; want 200 and the hash of %s", gv, resp.StatusCode, etag, p.ServerRelativeURL)
		}
		resp, _ = e.getWith(t, "/openapi/v3/"+gv, map[string]string{"If-None-Match": etag})
		if resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET /openapi/v3/%s with its ETag: %d, want 304", gv, resp.StatusCode)
		}
		stale := e.send(t, noRedirects(e.http), http.MethodGet, "/openapi/v3/"+gv+"?hash=0123", nil)
		stale.Body.Close()
		if loc := stale.Header.Get("Location"); stale.StatusCode != http.StatusMovedPermanently || loc != p.ServerRelativeURL {
			t.Errorf("GET /openapi/v3/%s with a stale hash: %d to %q, want 301 to %s", gv, stale.StatusCode, loc, p.ServerRelativeURL)
		}
	}
	resp, _ := e.getWith(t, "/openapi/v3/apis/nope.example/v1", nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown group version: %d, want 404", resp.StatusCode)
	}
	resp, _ = e.getWith(t, "/openapi/v3/api/v1", map[string]string{"Accept": "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"})
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/com.github.proto-openapi.spec.v3.v1.0+protobuf" {
		t.Errorf("v3 protobuf: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, _ = e.getWith(t, "/openapi/v3", nil, withToken(""))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/openapi/v3 without credentials: %d, want 401", resp.StatusCode)
	}
}

// TestOpenAPIRBAC checks that any authenticated user may read the
// documents through the default system:discovery binding, and that the
// paths are authorized as non-resource URLs.
func TestOpenAPIRBAC(t *testing.T) {
	e := newRBACEnv(t)
	nobody := e.certClient(t, "nobody")
	for _, p := range []string{"/openapi/v2", "/openapi/v3", "/openapi/v3/api/v1", "/openapi/v3/apis/rbac.authorization.k8s.io/v1"} {
		var out map[string]any
		if err := nobody.Do(testCtx(t), http.MethodGet, p, nil, nil, &out); err != nil {
			t.Errorf("GET %s as a user without bindings: %v", p, err)
		}
	}
	// Without the discovery binding the same user is refused.
	if _, err := e.admin.Delete(testCtx(t), "clusterrolebindings", "", "system:discovery", nil); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	err := nobody.Do(testCtx(t), http.MethodGet, "/openapi/v3", nil, nil, &out)
	wantCode(t, err, http.StatusForbidden, `"/openapi/v3"`)
}
