package node

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// subPathFixture is a volume next to a directory outside it, as on a node:
// <root>/vol (the volume) and <root>/outside/secret.
type subPathFixture struct {
	root, vol, outside string
}

func newSubPathFixture(t *testing.T) subPathFixture {
	t.Helper()
	root := t.TempDir()
	f := subPathFixture{root: root, vol: filepath.Join(root, "vol"), outside: filepath.Join(root, "outside")}
	for _, d := range []string{f.vol, filepath.Join(f.vol, "a"), f.outside} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range []string{filepath.Join(f.outside, "secret"), filepath.Join(f.vol, "file")} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

func (f subPathFixture) symlink(t *testing.T, target, name string) {
	t.Helper()
	if err := os.Symlink(target, filepath.Join(f.vol, name)); err != nil {
		t.Fatal(err)
	}
}

// sameFile reports whether the descriptor is the file at path.
func sameFile(t *testing.T, fd int, path string) bool {
	t.Helper()
	var a, b unix.Stat_t
	if err := unix.Fstat(fd, &a); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(path, &b); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

func TestOpenSubPath(t *testing.T) {
	cases := []struct {
		name    string
		setup   func(t *testing.T, f subPathFixture)
		subPath string
		want    string // path under the volume the subPath must open; "" for an error
		wantErr string
	}{
		{name: "existing directory", subPath: "a", want: "a"},
		{name: "existing file", subPath: "file", want: "file"},
		{name: "missing directories are made", subPath: "a/b/c", want: "a/b/c"},
		{name: "dot elements", subPath: "./a/./b", want: "a/b"},
		{name: "relative symlink staying inside", subPath: "l",
			setup: func(t *testing.T, f subPathFixture) { f.symlink(t, "a", "l") }, want: "a"},
		{name: "directory made through an inside symlink", subPath: "l/new",
			setup: func(t *testing.T, f subPathFixture) { f.symlink(t, "a", "l") }, want: "a/new"},
		{name: "symlink at the end to a host directory", subPath: "x", wantErr: "outside of the volume",
			setup: func(t *testing.T, f subPathFixture) { f.symlink(t, f.outside, "x") }},
		{name: "symlink in the middle to a host directory", subPath: "x/y", wantErr: "outside of the volume",
			setup: func(t *testing.T, f subPathFixture) { f.symlink(t, f.outside, "x") }},
		{name: "symlink in the middle to an existing host file", subPath: "x/secret", wantErr: "outside of the volume",
			setup: func(t *testing.T, f subPathFixture) { f.symlink(t, f.outside, "x") }},
		{name: "absolute symlink to /", subPath: "x", wantErr: "outside of the volume",
			setup: func(t *testing.T, f subPathFixture) { f.symlink(t, "/", "x") }},
		{name: "relative symlink climbing out", subPath: "x", wantErr: "outside of the volume",
			setup: func(t *testing.T, f subPathFixture) { f.symlink(t, "../outside", "x") }},
		{name: "symlink to the volume's parent", subPath: "x/outside", wantErr: "outside of the volume",
			setup: func(t *testing.T, f subPathFixture) { f.symlink(t, "..", "x") }},
		{name: "dangling symlink", subPath: "x/y", wantErr: "dangling symlink",
			setup: func(t *testing.T, f subPathFixture) { f.symlink(t, "/nonexistent-orch-test", "x") }},
		{name: "backsteps", subPath: "a/../../outside", wantErr: "must not contain '..'"},
		{name: "absolute", subPath: "/etc", wantErr: "must be a relative path"},
		{name: "empty", subPath: "", wantErr: "must be a relative path"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newSubPathFixture(t)
			if tc.setup != nil {
				tc.setup(t, f)
			}
			fd, err := openSubPath(f.vol, tc.subPath, 0o777)
			if tc.wantErr != "" {
				if err == nil {
					unix.Close(fd)
					t.Fatalf("opened %q, want an error with %q", tc.subPath, tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("error %q, want %q", err, tc.wantErr)
				}
			} else {
				if err != nil {
					t.Fatalf("open %q: %v", tc.subPath, err)
				}
				defer unix.Close(fd)
				if !sameFile(t, fd, filepath.Join(f.vol, tc.want)) {
					t.Errorf("%q opened another file than %s", tc.subPath, tc.want)
				}
			}
			// Nothing is ever made outside the volume.
			ents, err := os.ReadDir(f.outside)
			if err != nil || len(ents) != 1 || ents[0].Name() != "secret" {
				t.Errorf("the outside directory changed: %v %v", ents, err)
			}
		})
	}
}

func TestOpenSubPathMakesDirectoriesWithTheVolumesMode(t *testing.T) {
	f := newSubPathFixture(t)
	old := unix.Umask(0o022)
	defer unix.Umask(old)
	fd, err := openSubPath(f.vol, "n1/n2", 0o777)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	for _, d := range []string{"n1", "n1/n2"} {
		st, err := os.Lstat(filepath.Join(f.vol, d))
		if err != nil || !st.IsDir() || st.Mode().Perm() != 0o777 {
			t.Errorf("%s: %v %v, want a 0777 directory", d, st.Mode(), err)
		}
	}
}

// mountedAt reports whether path is a mount point in this process's table.
func mountedAt(t *testing.T, path string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

// The bind mount needs root (the agent runs as root).
func TestPrepareSubPathMountsAndCleans(t *testing.T) {
	f := newSubPathFixture(t)
	podDir := filepath.Join(f.root, "pod")
	t.Cleanup(func() { _ = cleanSubPaths(podDir) })
	dirTarget := subPathTarget(podDir, "v", "c", 0)
	fileTarget := subPathTarget(podDir, "v", "c", 1)

	got, err := prepareSubPath(f.vol, "x", dirTarget, 0o777)
	if err != nil {
		t.Fatal(err)
	}
	if got != dirTarget || !mountedAt(t, dirTarget) {
		t.Fatalf("prepareSubPath returned %s, mounted %v", got, mountedAt(t, dirTarget))
	}
	if _, err := prepareSubPath(f.vol, "file", fileTarget, 0o777); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(fileTarget); err != nil || string(b) != "x" {
		t.Errorf("the file target reads %q %v", b, err)
	}
	// A second preparation (agent restart) keeps the mount: one, not two.
	if _, err := prepareSubPath(f.vol, "x", dirTarget, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := unix.Unmount(dirTarget, 0); err != nil {
		t.Fatal(err)
	}
	if mountedAt(t, dirTarget) {
		t.Fatal("the second preparation stacked a second mount")
	}
	if _, err := prepareSubPath(f.vol, "x", dirTarget, 0o777); err != nil {
		t.Fatal(err)
	}

	// The container swaps x for a symlink to the host: refused.
	if err := os.RemoveAll(filepath.Join(f.vol, "x")); err != nil {
		t.Fatal(err)
	}
	f.symlink(t, f.outside, "x")
	if _, err := prepareSubPath(f.vol, "x", dirTarget, 0o777); err == nil {
		t.Fatal("a symlink to the host was mounted")
	}
	if _, err := os.Stat(filepath.Join(dirTarget, "secret")); err == nil {
		t.Fatal("the host directory is visible at the target")
	}
	// A different directory at the same subPath replaces the old mount.
	if err := os.Remove(filepath.Join(f.vol, "x")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(f.vol, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(f.vol, "x", "new"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := prepareSubPath(f.vol, "x", dirTarget, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dirTarget, "new")); err != nil {
		t.Errorf("the target does not show the new directory: %v", err)
	}

	if err := cleanSubPaths(podDir); err != nil {
		t.Fatal(err)
	}
	if mountedAt(t, dirTarget) || mountedAt(t, fileTarget) {
		t.Error("targets still mounted after cleanSubPaths")
	}
	if _, err := os.Stat(filepath.Join(podDir, subPathsDir)); !os.IsNotExist(err) {
		t.Errorf("%s left behind: %v", subPathsDir, err)
	}
	if err := cleanSubPaths(podDir); err != nil {
		t.Errorf("a second cleanSubPaths: %v", err)
	}
	if _, err := os.Stat(filepath.Join(f.vol, "x", "new")); err != nil {
		t.Errorf("cleaning removed the volume's content: %v", err)
	}
}
