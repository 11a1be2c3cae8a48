package v1

import (
	"strings"
	"testing"
)

func TestBootstrapTokenFormat(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 200; i++ {
		tok, err := GenerateBootstrapToken()
		if err != nil {
			t.Fatal(err)
		}
		if !bootstrapTokenRE.MatchString(tok) {
			t.Fatalf("%q does not match %s", tok, bootstrapTokenRE)
		}
		if seen[tok] {
			t.Fatalf("token %q generated twice", tok)
		}
		seen[tok] = true
	}
	for _, tc := range []struct {
		tok    string
		id, ok string
	}{
		{"abcdef.0123456789abcdef", "abcdef", "ok"},
		{"ABCDEF.0123456789abcdef", "", ""},
		{"abcde.0123456789abcdef", "", ""},
		{"abcdef.0123456789abcde", "", ""},
		{"abcdef:0123456789abcdef", "", ""},
		{"abcdef.0123456789abcdef ", "", ""},
	} {
		id, secret, err := ParseBootstrapToken(tc.tok)
		if (err == nil) != (tc.ok == "ok") || id != tc.id {
			t.Errorf("ParseBootstrapToken(%q) = %q, %q, %v", tc.tok, id, secret, err)
		}
	}
	h := BootstrapTokenHash("abcdef.0123456789abcdef")
	if !secretHashRE.MatchString(h) || strings.Contains(h, "0123456789abcdef") || h == BootstrapTokenHash("abcdef.0123456789abcdee") {
		t.Fatalf("hash %q", h)
	}
}

func TestValidateBootstrapToken(t *testing.T) {
	good := BootstrapTokenHash("abcdef.0123456789abcdef")
	for _, tc := range []struct {
		name, id, hash, want string
	}{
		{"ok", "abcdef", good, ""},
		{"long id", "abcdefg", good, "metadata.name"},
		{"upper id", "ABCDEF", good, "metadata.name"},
		{"plain secret", "abcdef", "0123456789abcdef", "spec.secretHash"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(&BootstrapToken{ObjectMeta: ObjectMeta{Name: tc.id}, Spec: BootstrapTokenSpec{SecretHash: tc.hash}})
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
