package crilog

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFindBinary(t *testing.T) {
	for _, tc := range []struct {
		name      string
		setup     func(t *testing.T, dir string)
		dedicated bool
	}{
		{"beside orchd", func(t *testing.T, dir string) { write(t, filepath.Join(dir, BinaryName), 0o755) }, true},
		{"absent", func(t *testing.T, dir string) {}, false},
		{"not executable", func(t *testing.T, dir string) { write(t, filepath.Join(dir, BinaryName), 0o644) }, false},
		{"a directory", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, BinaryName), 0o755); err != nil {
				t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			self := filepath.Join(dir, "orchd")
			write(t, self, 0o755)
			tc.setup(t, dir)
			got, dedicated := FindBinary(self)
			want := self
			if tc.dedicated {
				want = filepath.Join(dir, BinaryName)
			}
			if got != want || dedicated != tc.dedicated {
				t.Fatalf("FindBinary = %q, %v; want %q, %v", got, dedicated, want, tc.dedicated)
			}
		})
	}
}

func write(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), mode); err != nil {
		t.Fatal(err)
	}
}
