package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orch.io/orch/apiserver"
)

func TestTokenFileFlag(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "tokens.csv")
	if err := os.WriteFile(good, []byte("secret,tina,uid-tina,\"readers\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path, wantErr string
		wantAuthenticators  int
	}{
		{"off by default", "", "", 0},
		{"a token file", good, "", 1},
		{"a missing file", filepath.Join(dir, "none.csv"), "--token-auth-file", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sc apiserver.Config
			err := (&tokenFileFlags{path: tc.path}).configure(&sc)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(sc.Authenticators) != tc.wantAuthenticators {
				t.Fatalf("err %v, %d authenticators, want %d", err, len(sc.Authenticators), tc.wantAuthenticators)
			}
		})
	}
}
