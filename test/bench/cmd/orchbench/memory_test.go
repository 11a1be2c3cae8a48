package main

import (
	"os"
	"path/filepath"
	"testing"
)

// filesRSS finds the test binary among this process's file-backed pages:
// its text runs, so some of it is resident.
func TestFilesRSSFindsTheBinary(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exe, err = filepath.EvalSymlinks(exe)
	if err != nil {
		t.Fatal(err)
	}
	files, err := filesRSS(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	for i, f := range files {
		if i > 0 && f.rss > files[i-1].rss {
			t.Fatalf("files not largest first: %v", files)
		}
	}
	for _, f := range files {
		if f.path == exe {
			if f.rss <= 0 {
				t.Fatalf("the binary %s has %d B resident", exe, f.rss)
			}
			t.Logf("the binary: %s resident (%s)", mb(f.rss), describeFiles(files))
			return
		}
	}
	t.Fatalf("the binary %s is not among the files mapped: %v", exe, files)
}
