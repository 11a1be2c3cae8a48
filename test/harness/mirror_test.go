package harness

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSharedLibs: a dynamic executable's libraries and loader, as
// absolute paths; none for a static one; an error for a file that is
// not an executable.
func TestSharedLibs(t *testing.T) {
	printenv, err := exec.LookPath("printenv")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path     string
		wantLibc bool
		wantErr  bool
	}{
		{path: printenv, wantLibc: true},
		{path: "/bin/busybox"},
		{path: filepath.Join(t.TempDir(), "missing"), wantErr: true},
	} {
		libs, err := SharedLibs(tc.path)
		if (err != nil) != tc.wantErr {
			t.Fatalf("SharedLibs(%s) error %v, want error %v", tc.path, err, tc.wantErr)
		}
		libc := false
		for _, l := range libs {
			if !filepath.IsAbs(l) {
				t.Errorf("SharedLibs(%s): %q is not absolute", tc.path, l)
			}
			libc = libc || strings.Contains(filepath.Base(l), "libc.so")
		}
		if libc != tc.wantLibc {
			t.Errorf("SharedLibs(%s) = %q, want libc %v", tc.path, libs, tc.wantLibc)
		}
	}
}
