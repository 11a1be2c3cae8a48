package apiserver

import (
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		watch  bool
		// want is "verb resource namespace name sub" when the path is valid.
		want string
		// code is the error's HTTP code when it is not.
		code int
	}{
		{name: "list namespaced", method: "GET", path: "/api/v1/namespaces/default/pods", want: "list pods default  "},
		{name: "list trailing slash", method: "GET", path: "/api/v1/namespaces/default/pods/", want: "list pods default  "},
		{name: "watch", method: "GET", path: "/api/v1/namespaces/default/pods", watch: true, want: "watch pods default  "},
		{name: "list all namespaces", method: "GET", path: "/api/v1/pods", want: "list pods   "},
		{name: "watch all namespaces", method: "GET", path: "/api/v1/pods", watch: true, want: "watch pods   "},
		{name: "get item", method: "GET", path: "/api/v1/namespaces/default/pods/p", want: "get pods default p "},
		{name: "watch flag on an item is a get", method: "GET", path: "/api/v1/namespaces/default/pods/p", watch: true, want: "get pods default p "},
		{name: "create", method: "POST", path: "/api/v1/namespaces/default/pods", want: "create pods default  "},
		{name: "update", method: "PUT", path: "/api/v1/namespaces/default/pods/p", want: "update pods default p "},
		{name: "patch", method: "PATCH", path: "/api/v1/namespaces/default/pods/p", want: "patch pods default p "},
		{name: "delete", method: "DELETE", path: "/api/v1/namespaces/default/pods/p", want: "delete pods default p "},
		{name: "pod status", method: "PUT", path: "/api/v1/namespaces/default/pods/p/status", want: "update pods default p status"},
		{name: "binding", method: "POST", path: "/api/v1/namespaces/default/pods/p/binding", want: "create pods default p binding"},
		{name: "get scale", method: "GET", path: "/api/v1/namespaces/default/replicationcontrollers/r/scale", want: "get replicationcontrollers default r scale"},
		{name: "put scale", method: "PUT", path: "/api/v1/namespaces/default/replicationcontrollers/r/scale", want: "update replicationcontrollers default r scale"},
		{name: "node", method: "GET", path: "/api/v1/nodes/n1", want: "get nodes  n1 "},
		{name: "node status", method: "PUT", path: "/api/v1/nodes/n1/status", want: "update nodes  n1 status"},
		{name: "list namespaces", method: "GET", path: "/api/v1/namespaces", want: "list namespaces   "},
		{name: "get namespace", method: "GET", path: "/api/v1/namespaces/default", want: "get namespaces  default "},
		{name: "delete namespace", method: "DELETE", path: "/api/v1/namespaces/default", want: "delete namespaces  default "},
		{name: "namespace status", method: "PUT", path: "/api/v1/namespaces/default/status", want: "update namespaces  default status"},
		{name: "get namespace status", method: "GET", path: "/api/v1/namespaces/default/status", want: "get namespaces  default status"},

		{name: "unknown resource", method: "GET", path: "/api/v1/widgets", code: 404},
		{name: "unknown namespaced resource", method: "GET", path: "/api/v1/namespaces/default/widgets", code: 404},
		{name: "short name is not a path", method: "GET", path: "/api/v1/po", code: 404},
		{name: "kind is not a path", method: "GET", path: "/api/v1/Pod", code: 404},
		{name: "empty", method: "GET", path: "/api/v1/", code: 404},
		{name: "empty segment", method: "GET", path: "/api/v1/namespaces//pods", code: 404},
		{name: "too many segments", method: "GET", path: "/api/v1/namespaces/default/pods/p/status/x", code: 404},
		{name: "too many segments cluster-scoped", method: "GET", path: "/api/v1/nodes/n1/status/x", code: 404},
		{name: "unknown subresource", method: "GET", path: "/api/v1/namespaces/default/pods/p/scale", code: 404},
		{name: "no status on endpoints", method: "GET", path: "/api/v1/namespaces/default/endpoints/e/status", code: 404},
		{name: "namespaced item without namespace", method: "GET", path: "/api/v1/pods/p", code: 404},
		{name: "cluster-scoped in a namespace", method: "GET", path: "/api/v1/namespaces/default/nodes", code: 404},
		{name: "namespace in a namespace", method: "GET", path: "/api/v1/namespaces/default/namespaces/x", code: 404},
		{name: "delete collection", method: "DELETE", path: "/api/v1/namespaces/default/pods", code: 405},
		{name: "delete status", method: "DELETE", path: "/api/v1/namespaces/default/pods/p/status", code: 405},
		{name: "post to an item", method: "POST", path: "/api/v1/namespaces/default/pods/p", code: 405},
		{name: "put to a collection", method: "PUT", path: "/api/v1/namespaces/default/pods", code: 405},
		{name: "patch a collection", method: "PATCH", path: "/api/v1/namespaces/default/pods", code: 405},
		{name: "get binding", method: "GET", path: "/api/v1/namespaces/default/pods/p/binding", code: 405},
		{name: "put binding", method: "PUT", path: "/api/v1/namespaces/default/pods/p/binding", code: 405},
		{name: "head", method: "HEAD", path: "/api/v1/namespaces/default/pods", code: 405},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := parsePath(tt.method, tt.path, tt.watch)
			if tt.code != 0 {
				if err == nil {
					t.Fatalf("parsePath(%s %s) = %+v, want HTTP %d", tt.method, tt.path, req, tt.code)
				}
				if got := v1.CodeOf(err); got != tt.code {
					t.Fatalf("parsePath(%s %s): code %d (%v), want %d", tt.method, tt.path, got, err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("parsePath(%s %s): %v", tt.method, tt.path, err)
			}
			got := strings.Join([]string{req.verb, req.resource.Name, req.namespace, req.name, req.sub}, " ")
			if got != tt.want {
				t.Fatalf("parsePath(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
			}
		})
	}
}

func TestCheckDepth(t *testing.T) {
	tests := []struct {
		name string
		body string
		max  int
		ok   bool
	}{
		{"empty", ``, 1, true},
		{"scalar", `1`, 0, true},
		{"arrays at the limit", `[[[1]]]`, 3, true},
		{"arrays one past the limit", `[[[[1]]]]`, 3, false},
		{"objects at the limit", `{"a":{"b":{"c":1}}}`, 3, true},
		{"objects one past the limit", `{"a":{"b":{"c":{"d":1}}}}`, 3, false},
		{"mixed at the limit", `{"a":[{"b":[]}]}`, 4, true},
		{"mixed one past the limit", `{"a":[{"b":[[]]}]}`, 4, false},
		{"siblings do not add up", `[[1],[2],[3],{"a":1}]`, 2, true},
		{"brackets in strings do not count", `{"a":"[[[[{{{{"}`, 1, true},
		{"escaped quote keeps the string open", `{"a":"\"[[[["}`, 1, true},
		{"escaped backslash closes the string", `["\\",[[1]]]`, 2, false},
		{"escaped backslash at the limit", `["\\",[1]]`, 2, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkDepth([]byte(tt.body), tt.max)
			if tt.ok && err != nil {
				t.Fatalf("checkDepth(%s, %d) = %v, want nil", tt.body, tt.max, err)
			}
			if !tt.ok {
				if err == nil {
					t.Fatalf("checkDepth(%s, %d) = nil, want an error", tt.body, tt.max)
				}
				if v1.CodeOf(err) != http.StatusBadRequest {
					t.Fatalf("checkDepth(%s, %d): code %d, want 400", tt.body, tt.max, v1.CodeOf(err))
				}
			}
		})
	}
	// The limit is exact: n levels pass with max n, fail with max n-1.
	for n := 1; n <= 120; n++ {
		body := strings.Repeat("[", n) + strings.Repeat("]", n)
		if err := checkDepth([]byte(body), n); err != nil {
			t.Fatalf("depth %d with max %d: %v", n, n, err)
		}
		if err := checkDepth([]byte(body), n-1); err == nil {
			t.Fatalf("depth %d with max %d: no error", n, n-1)
		}
	}
}

// TestCheckDepthAsByteScan compares checkDepth with a scan of every byte
// (string state, escapes, depth) on random bodies of quotes, backslashes
// and brackets, where the skipping of strings could go wrong.
func TestCheckDepthAsByteScan(t *testing.T) {
	byteScan := func(b []byte, max int) bool {
		depth, inString, escaped := 0, false, false
		for _, c := range b {
			if inString {
				switch {
				case escaped:
					escaped = false
				case c == '\\':
					escaped = true
				case c == '"':
					inString = false
				}
				continue
			}
			switch c {
			case '"':
				inString = true
			case '{', '[':
				if depth++; depth > max {
					return false
				}
			case '}', ']':
				depth--
			}
		}
		return true
	}
	rng := rand.New(rand.NewPCG(17, 1))
	const alphabet = `"\\[]{}a`
	for i := 0; i < 20000; i++ {
		b := make([]byte, rng.IntN(40))
		for j := range b {
			b[j] = alphabet[rng.IntN(len(alphabet))]
		}
		max := rng.IntN(6)
		if got, want := checkDepth(b, max) == nil, byteScan(b, max); got != want {
			t.Fatalf("checkDepth(%s, %d) passes: %v, a byte scan: %v", b, max, got, want)
		}
	}
}

func TestDecodeObject(t *testing.T) {
	pods, _ := v1.ResourceByName("pods")
	req := &request{verb: "update", resource: pods, namespace: "default", name: "p"}
	tests := []struct {
		name string
		body string
		code int
	}{
		{"fills the namespace", `{"metadata":{"name":"p"},"spec":{"containers":[]}}`, 0},
		{"no name (Kubernetes refuses it too)", `{"spec":{"containers":[]}}`, 400},
		{"matching", `{"kind":"Pod","apiVersion":"v1","metadata":{"name":"p","namespace":"default"}}`, 0},
		{"name mismatch", `{"metadata":{"name":"q"}}`, 400},
		{"namespace mismatch", `{"metadata":{"namespace":"other"}}`, 400},
		{"kind mismatch", `{"kind":"Node"}`, 400},
		{"apiVersion", `{"apiVersion":"apps/v1"}`, 400},
		{"unknown field", `{"metadata":{"name":"p"},"spec":{"bogus":1}}`, 400},
		{"two values", `{} {}`, 400},
		{"empty", ` `, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, err := decodeObject(req, []byte(tt.body))
			if tt.code != 0 {
				if v1.CodeOf(err) != tt.code {
					t.Fatalf("decodeObject(%s) = %v, want HTTP %d", tt.body, err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("decodeObject(%s): %v", tt.body, err)
			}
			if m := obj.GetObjectMeta(); m.Name != "p" || m.Namespace != "default" {
				t.Fatalf("decodeObject(%s): name %q namespace %q", tt.body, m.Name, m.Namespace)
			}
		})
	}
}

// TestReadAll: a body is read whole whatever its Content-Length says
// (unknown, exact, too small or too large a guess), and one past the
// limit is refused with http.MaxBytesError.
func TestReadAll(t *testing.T) {
	body := strings.Repeat("x", 3000)
	tests := []struct {
		name       string
		in         string
		size, max  int64
		wantTooBig bool
	}{
		{"unknown size", body, -1, 4096, false},
		{"exact size", body, 3000, 4096, false},
		{"a smaller size", body, 10, 4096, false},
		{"a larger size", body, 4000, 4096, false},
		{"at the limit", body, 3000, 3000, false},
		{"past the limit", body, 3000, 2999, true},
		{"past the limit, unknown size", body, -1, 2999, true},
		{"empty", "", 0, 4096, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(strings.NewReader(tt.in)), tt.max)
			got, err := readAll(r, tt.size, tt.max)
			if tt.wantTooBig {
				var tooBig *http.MaxBytesError
				if !errors.As(err, &tooBig) {
					t.Fatalf("err = %v, want http.MaxBytesError", err)
				}
				return
			}
			if err != nil || string(got) != tt.in {
				t.Fatalf("readAll = %d bytes, %v; want %d", len(got), err, len(tt.in))
			}
		})
	}
}
