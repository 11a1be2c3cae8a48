package node

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// TestRemovePodDirDeepTree checks that a deleted pod's directory goes away
// whatever its containers left in their volumes: a tree deeper than the
// agent's descriptor limit, below a path longer than PATH_MAX, links to
// host files (removed, never followed).
func TestRemovePodDirDeepTree(t *testing.T) {
	for _, tc := range []struct {
		name  string
		depth int
	}{
		{"shallow", 3},
		{"deeper than the descriptor limit", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pod := filepath.Join(t.TempDir(), "pod")
			vol := filepath.Join(pod, volumesDir, "scratch")
			if err := os.MkdirAll(vol, 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(pod, podSpecFile), []byte("{}"), 0o600); err != nil {
				t.Fatal(err)
			}
			host := filepath.Join(t.TempDir(), "host")
			if err := os.WriteFile(host, []byte("keep"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(filepath.Dir(host), filepath.Join(vol, "hostdir")); err != nil {
				t.Fatal(err)
			}
			writeDeep(t, vol, tc.depth, 64<<10)
			err := withFewDescriptors(t, func() error { return removePodDir(pod) })
			if err != nil {
				t.Fatalf("removePodDir: %v", err)
			}
			if _, err := os.Lstat(pod); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("the pod dir is still there: %v", err)
			}
			if b, err := os.ReadFile(host); err != nil || string(b) != "keep" {
				t.Fatalf("the host file behind a link: %q %v", b, err)
			}
			// A missing directory is not an error.
			if err := removePodDir(pod); err != nil {
				t.Fatalf("removePodDir again: %v", err)
			}
		})
	}
}

// TestRemoveStateDir checks node reset's removal of the state directory
// with a pod whose volume is deeper than os.RemoveAll can remove.
func TestRemoveStateDir(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	vol := filepath.Join(state, "pods", "uid", volumesDir, "scratch")
	if err := os.MkdirAll(vol, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(state, "net"), 0o700); err != nil {
		t.Fatal(err)
	}
	writeDeep(t, vol, 400, 4<<10)
	err := withFewDescriptors(t, func() error { return RemoveStateDir(state) })
	if err != nil {
		t.Fatalf("RemoveStateDir: %v", err)
	}
	if _, err := os.Lstat(state); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the state dir is still there: %v", err)
	}
}
