package apiserver

import (
	"net/http"
	"path"
	"strings"

	v1 "orch.io/orch/api/v1"
)

// canonicalPaths answers 404 with a Status for a path that is not in
// canonical form (an empty segment, "." or ".."). http.ServeMux would
// instead redirect to the cleaned path, and a client that follows the
// redirect (with its method and body, as 307 asks) acts on another object
// than the one it named: DELETE /api/v1/namespaces//pods, from a client whose
// namespace variable was empty, becomes DELETE of the namespace "pods".
func canonicalPaths(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p := r.URL.Path; p != cleanPath(p) {
			writeError(w, v1.NewNotFound("path", p))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// cleanPath is path.Clean keeping a trailing slash, as http.ServeMux cleans.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	c := path.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}
