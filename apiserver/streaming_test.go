package apiserver

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// The streaming subresources are authorized as create whatever the method
// (kubectl's WebSocket clients send GET), and take GET and POST only.
func TestParsePathStreaming(t *testing.T) {
	for _, tc := range []struct {
		method, path string
		verb, sub    string
		code         int32
	}{
		{http.MethodGet, "/api/v1/namespaces/default/pods/web/exec", "create", "exec", 0},
		{http.MethodPost, "/api/v1/namespaces/default/pods/web/exec", "create", "exec", 0},
		{http.MethodGet, "/api/v1/namespaces/default/pods/web/attach", "create", "attach", 0},
		{http.MethodPost, "/api/v1/namespaces/default/pods/web/portforward", "create", "portforward", 0},
		{http.MethodPut, "/api/v1/namespaces/default/pods/web/exec", "", "", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/api/v1/namespaces/default/pods/web/portforward", "", "", http.StatusMethodNotAllowed},
		{http.MethodGet, "/api/v1/namespaces/default/services/web/exec", "", "", http.StatusNotFound},
		{http.MethodGet, "/api/v1/nodes/n1/portforward", "", "", http.StatusNotFound},
	} {
		req, err := parsePath(tc.method, tc.path, false)
		if tc.code != 0 {
			if err == nil || v1.AsStatusError(err).Status.Code != tc.code {
				t.Errorf("%s %s: %v, want HTTP %d", tc.method, tc.path, err, tc.code)
			}
			continue
		}
		if err != nil || req.verb != tc.verb || req.sub != tc.sub || !isProxySub(req) {
			t.Errorf("%s %s: %+v %v, want verb %s on %s", tc.method, tc.path, req, err, tc.verb, tc.sub)
		}
	}
}

func TestParseExecOptions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		query  string
		attach bool
		want   execOptions
		err    string
	}{
		{name: "kubectl exec", query: "command=ls&command=-l&container=c&stdout=true&stderr=true",
			want: execOptions{container: "c", command: []string{"ls", "-l"}, stdout: true, stderr: true}},
		{name: "tty drops stderr", query: "command=sh&stdin=true&stdout=true&stderr=true&tty=true",
			want: execOptions{command: []string{"sh"}, stdin: true, stdout: true, tty: true}},
		{name: "no command", query: "stdout=true", err: "you must specify at least one command for the container"},
		{name: "no stream", query: "command=ls", err: "you must specify at least 1 of stdin, stdout, stderr"},
		{name: "bad bool", query: "command=ls&stdout=yes", err: `stdout "yes" must be true or false`},
		{name: "attach", query: "stdin=true&stdout=true", attach: true, want: execOptions{stdin: true, stdout: true}},
		{name: "attach with a command", query: "command=ls&stdout=true", attach: true, err: "attach takes no command"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tc.query)
			got, err := parseExecOptions(q, tc.attach)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || v1.AsStatusError(err).Status.Code != http.StatusBadRequest {
					t.Fatalf("got %+v %v, want 400 %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got.container != tc.want.container || strings.Join(got.command, " ") != strings.Join(tc.want.command, " ") ||
				got.stdin != tc.want.stdin || got.stdout != tc.want.stdout || got.stderr != tc.want.stderr || got.tty != tc.want.tty {
				t.Fatalf("got %+v %v, want %+v", got, err, tc.want)
			}
		})
	}
}

func TestPortForwardPorts(t *testing.T) {
	for _, tc := range []struct {
		query string
		want  string
		err   bool
	}{
		{"", "", false},
		{"ports=80", "80", false},
		{"ports=80,443&ports=8080", "80 443 8080", false},
		{"ports=0", "", true},
		{"ports=70000", "", true},
		{"ports=http", "", true},
	} {
		q, _ := url.ParseQuery(tc.query)
		got, err := portForwardPorts(q)
		if (err != nil) != tc.err || strings.Join(got, " ") != tc.want {
			t.Errorf("%q: %v %v, want %q (error %v)", tc.query, got, err, tc.want, tc.err)
		}
	}
}
