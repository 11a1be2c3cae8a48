package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRegistryConfigDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "hosts.toml")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, in, want, wantErr string
	}{
		{name: "unset", in: "", want: ""},
		{name: "a directory", in: dir, want: dir},
		{name: "missing", in: filepath.Join(dir, "nope"), wantErr: "no such file or directory"},
		{name: "a file", in: file, wantErr: "is not a directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := registryConfigDir(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "--registry-config-dir: ") {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("registryConfigDir(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
		})
	}
}
