package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"orch.io/orch/test/harness"
)

func TestPickOrchd(t *testing.T) {
	dir := t.TempDir()
	exe := filepath.Join(dir, "orchd")
	plain := filepath.Join(dir, "plain")
	for path, mode := range map[string]os.FileMode{exe: 0o755, plain: 0o644} {
		if err := os.WriteFile(path, []byte("#!/bin/true\n"), mode); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, given string
		wantOrchd   string // "" : the tree's build stays
		wantErr     bool
		wantSays    string
	}{
		{"the tree's build", "", "", false, "orchd: built from "},
		{"a given binary", exe, exe, false, "orchd: " + exe + " (-orchd)"},
		{"missing", filepath.Join(dir, "nothing"), "", true, ""},
		{"a directory", dir, "", true, ""},
		{"not executable", plain, "", true, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bins := harness.Binaries{Orchd: "/tree/orchd"}
			var out strings.Builder
			err := pickOrchd(&bins, tc.given, &out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("pickOrchd(%q) = %v, want an error: %v", tc.given, err, tc.wantErr)
			}
			want := tc.wantOrchd
			if want == "" {
				want = "/tree/orchd"
			}
			if bins.Orchd != want {
				t.Fatalf("orchd %s, want %s", bins.Orchd, want)
			}
			if !strings.HasPrefix(out.String(), tc.wantSays) || (tc.wantSays == "") != (out.Len() == 0) {
				t.Fatalf("said %q, want it to begin %q", out.String(), tc.wantSays)
			}
		})
	}
}
