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

// TestDirUsageBoundedDescriptors checks that the walk's descriptors do not
// grow with the depth of the tree: with the agent's descriptor limit just
// above what is open now, a tree much deeper than that is still measured.
// (A walk holding a descriptor per level would exhaust the agent's
// descriptors on every check, failing its other work and the measurement.)
func TestDirUsageBoundedDescriptors(t *testing.T) {
	dir := t.TempDir()
	writeDeep(t, dir, 400, 2<<20)
	var used int64
	err := withFewDescriptors(t, func() (err error) {
		used, err = dirUsage(dir)
		return err
	})
	if err != nil {
		t.Fatalf("dirUsage with few descriptors: %v", err)
	}
	if used < 2<<20 {
		t.Fatalf("dirUsage = %d, want >= 2 MiB", used)
	}
}

// TestDirUsageClimb checks the way back up when the pod has moved the
// directory the walk is in: the path is followed again from the root, and
// cut where a directory recorded on it is gone.
func TestDirUsageClimb(t *testing.T) {
	for _, tc := range []struct {
		name     string
		rename   bool // a is renamed before the climb
		wantPath int  // directories left on the path
		wantDir  string
	}{
		{"moved child: back to a from the root", false, 2, "a"},
		{"a renamed: the path is cut at the root", true, 1, "."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, d := range []string{"a/b", "c/x"} {
				if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			open := func(p string) int {
				fd, err := unix.Open(filepath.Join(dir, p), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				if err != nil {
					t.Fatal(err)
				}
				return fd
			}
			key := func(p string) [2]uint64 {
				var st unix.Stat_t
				if err := unix.Stat(filepath.Join(dir, p), &st); err != nil {
					t.Fatal(err)
				}
				return statKey(&st)
			}
			root := open(".")
			defer unix.Close(root)
			path := []*walkedDir{{key: key(".")}, {name: "a", key: key("a")}}
			wantKey := key(tc.wantDir)
			if tc.rename {
				if err := os.Rename(filepath.Join(dir, "a"), filepath.Join(dir, "a2")); err != nil {
					t.Fatal(err)
				}
			}
			// The walk was in a/b, which the pod moved to c/x: its ".." is c.
			fd, got, back, err := climb(root, open("c/x"), path)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				t.Fatal(err)
			}
			if back {
				t.Error("climb reports it went back up by '..' from a moved directory")
			}
			if len(got) != tc.wantPath || statKey(&st) != wantKey {
				t.Fatalf("climb: %d directories on the path, at %v; want %d, at %s", len(got), statKey(&st), tc.wantPath, tc.wantDir)
			}
		})
	}
}
