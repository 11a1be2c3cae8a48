package apiserver

import (
	"math/rand/v2"
	"mime"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	v1 "orch.io/orch/api/v1"
)

// TestIsProtobufMatchesParse compares isProtobuf, which skips the parse of
// the common "application/json", with the media type as parsed.
func TestIsProtobufMatchesParse(t *testing.T) {
	for _, ct := range []string{"", "application/json", "application/json; charset=utf-8", "Application/JSON",
		"application/json ", " application/json", "application/json;", protobufContentType, protobufContentType + "; x=y",
		"APPLICATION/VND.KUBERNETES.PROTOBUF", "application/yaml", "text/plain", ";", "application/json\x00", "a/b; c"} {
		r := httptest.NewRequest("POST", "/api/v1/namespaces/default/pods", nil)
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		mt, _, err := mime.ParseMediaType(ct)
		want := err == nil && mt == protobufContentType
		if got := isProtobuf(r); got != want {
			t.Errorf("Content-Type %q: protobuf %v, parsed %v", ct, got, want)
		}
	}
}

// TestCheckDryRunMatchesValidation compares checkDryRun, which answers no
// values at once, with the validation on every kind of dryRun values.
func TestCheckDryRunMatchesValidation(t *testing.T) {
	for _, values := range [][]string{nil, {}, {"All"}, {""}, {"all"}, {"All", "All"}, {"All", "x"}, {"x"}} {
		var want error
		if errs := metav1validation.ValidateDryRun(field.NewPath("dryRun"), values); len(errs) > 0 {
			causes := make([]v1.StatusCause, 0, len(errs))
			for _, e := range errs {
				causes = append(causes, v1.StatusCause{Type: string(e.Type), Field: e.Field, Message: e.Error()})
			}
			want = v1.NewInvalid(optionsKind("create")+".meta.k8s.io", "", causes)
		}
		got, err := checkDryRun("create", values)
		if !reflect.DeepEqual(err, want) || got != (want == nil && len(values) > 0) {
			t.Errorf("dryRun %q: %v %v, validation %v", values, got, err, want)
		}
	}
}

// builtPrefix is prefixFromUserAgent as it was: every rune of the
// User-Agent before its first "/" looked at and written.
func builtPrefix(u string) string {
	m, _, _ := strings.Cut(u, "/")
	var b strings.Builder
	for _, r := range m {
		if !unicode.IsPrint(r) {
			continue
		}
		if b.Len() >= 128 {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// TestPrefixFromUserAgentMatchesBuilt compares the manager name taken from
// the User-Agent with the one built rune by rune, on the common agents,
// long ones, control characters, DEL, non-ASCII and invalid UTF-8.
func TestPrefixFromUserAgentMatchesBuilt(t *testing.T) {
	agents := []string{"", "/", "orchbench/v1", "kubectl/v1.30.0 (linux/amd64) kubernetes/abc", "kube-controller-manager",
		" spaced /x", "tab\there/x", "del\x7f/x", "caf\u00e9/1", "\xff\xfe/x", "a\u2028b", strings.Repeat("a", 127),
		strings.Repeat("b", 128) + "/v", strings.Repeat("c", 129), strings.Repeat("\u00e9", 100), "~!@#$%^&*()_+{}|:<>?"}
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "ab /~\x00\x1f\x7f\x80\xc3\xa9 \u2028\u00e9Z9"
	for range 5000 {
		n := r.IntN(200)
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		agents = append(agents, string(b))
	}
	for _, u := range agents {
		if got, want := prefixFromUserAgent(u), builtPrefix(u); got != want {
			t.Fatalf("User-Agent %q: manager %q, built %q", u, got, want)
		}
	}
}

// TestAdminTokenUserAsGroupAdder checks that the admin token's user, made
// in system:authenticated already, is what the chain made of the user in
// system:masters alone by adding the group, and that other tokens and
// credentials are still not the admin.
func TestAdminTokenUserAsGroupAdder(t *testing.T) {
	chain := newAuthenticator(nil, tokenAuthenticator{admin: "secret"}, nil)
	old := withAuthenticatedGroup(&authenticator.Response{User: &user.DefaultInfo{Name: AdminUser, Groups: []string{user.SystemPrivilegedGroup}}})
	for _, tc := range []struct {
		header string
		admin  bool
	}{{"Bearer secret", true}, {"Bearer secret ", false}, {"Bearer secre", false}, {"bearer secret", false}, {"Bearer ", false}, {"", false}} {
		r := httptest.NewRequest("GET", "/api/v1/pods", nil)
		if tc.header != "" {
			r.Header.Set("Authorization", tc.header)
		}
		resp, ok, err := chain.AuthenticateRequest(r)
		if ok != tc.admin || err != nil {
			t.Fatalf("%q: authenticated %v (%v), want %v", tc.header, ok, err, tc.admin)
		}
		if ok && !reflect.DeepEqual(resp, old) {
			t.Fatalf("%q: %+v, the group adder made %+v", tc.header, resp.User, old.User)
		}
	}
}
