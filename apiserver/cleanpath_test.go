package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A path that is not canonical is 404, not a redirect to another object.
func TestNonCanonicalPathsAreNotFound(t *testing.T) {
	e := newTestEnv(t)
	e.expectCode(t, http.StatusCreated, http.MethodPost, "/api/v1/namespaces", v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "pods"}})
	e.createPod(t, "keep", nil)
	tests := []struct{ method, path string }{
		{http.MethodDelete, "/api/v1/namespaces//pods"},
		{http.MethodGet, "/api/v1/namespaces//pods"},
		{http.MethodDelete, "/api/v1/namespaces/default/pods/../../pods"},
		{http.MethodGet, "/api/v1/namespaces/default/./pods/keep"},
		{http.MethodGet, "/api/v1//pods"},
		{http.MethodGet, "//api/v1/pods"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			st := e.expectStatus(t, http.StatusNotFound, tt.method, tt.path, nil)
			if st.Reason != v1.ReasonNotFound || !strings.Contains(st.Message, tt.path) {
				t.Errorf("got %s %q; want NotFound naming the path", st.Reason, st.Message)
			}
		})
	}
	// Nothing was deleted, and canonical paths (with or without a trailing
	// slash) still serve.
	e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/namespaces/pods", nil)
	e.expectCode(t, http.StatusOK, http.MethodGet, podPath("keep"), nil)
	e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/pods/", nil)
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"":                 "/",
		"/":                "/",
		"/api/v1/pods":     "/api/v1/pods",
		"/api/v1/pods/":    "/api/v1/pods/",
		"/api//v1":         "/api/v1",
		"/api/v1/../v1/":   "/api/v1/",
		"/api/./v1/./pods": "/api/v1/pods",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}
