package node

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

// writeDeep makes depth nested directories of 200-byte names under dir
// (relative to descriptors, as a container can, whatever the length of the
// whole path) and writes size bytes into a file at the bottom.
func writeDeep(t *testing.T, dir string, depth, size int) {
	t.Helper()
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.Repeat("d", 200)
	for i := 0; i < depth; i++ {
		if err := unix.Mkdirat(fd, name, 0o755); err != nil {
			unix.Close(fd)
			t.Fatal(err)
		}
		sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		unix.Close(fd)
		if err != nil {
			t.Fatal(err)
		}
		fd = sub
	}
	f, err := unix.Openat(fd, "big", unix.O_WRONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(f)
	buf := make([]byte, 64<<10)
	for i := range buf {
		buf[i] = 1 // real blocks, not a hole
	}
	for n := 0; n < size; n += len(buf) {
		if _, err := unix.Write(f, buf); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDirUsageDeepPaths checks that an emptyDir's usage counts every file a
// container wrote, however deep: a container can nest directories until the
// whole path is longer than PATH_MAX, which the agent cannot name by path.
// Usage that could not be measured would leave the volume's sizeLimit
// unenforced, and the pod free to fill the node's disk.
func TestDirUsageDeepPaths(t *testing.T) {
	for _, tc := range []struct {
		name  string
		depth int
	}{
		{"top level", 0},
		{"a few levels down", 3},
		{"below a path longer than PATH_MAX", 25},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeDeep(t, dir, tc.depth, 2<<20)
			if err := os.Symlink("/", filepath.Join(dir, "root")); err != nil {
				t.Fatal(err)
			}
			used, err := dirUsage(dir)
			if err != nil {
				t.Fatalf("dirUsage: %v", err)
			}
			// 2 MiB of data and the directories; a link to / is not followed.
			if used < 2<<20 || used > 4<<20 {
				t.Fatalf("dirUsage = %d, want about 2 MiB", used)
			}
		})
	}
}

// TestEmptyDirSizeLimitDeepPath is the attack end to end in the worker: a
// file over the sizeLimit, hidden below a path longer than PATH_MAX, still
// gets the pod evicted.
func TestEmptyDirSizeLimitDeepPath(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w := newLifecycleWorker(t, nil)
	w.pod = initPod(v1.RestartAlways)
	limit := resource.MustParse("1Mi")
	w.pod.Spec.Volumes = []v1.Volume{{Name: "scratch", EmptyDir: &v1.EmptyDirVolumeSource{SizeLimit: &limit}}}
	dir := filepath.Join(w.a.podDir("u"), volumesDir, "scratch")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	w.sync(ctx)
	writeDeep(t, dir, 25, 2<<20)
	w.now = w.now.Add(10 * time.Second)
	w.sync(ctx)
	st := w.podStatus(w.pod)
	if st.Phase != v1.PodFailed || st.Reason != "Evicted" {
		t.Fatalf("phase %s reason %q with 2 MiB below a long path in a 1Mi emptyDir, want Failed/Evicted", st.Phase, st.Reason)
	}
}
