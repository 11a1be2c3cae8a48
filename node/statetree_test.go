package node

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A tree an older agent left open is made private, except what belongs to
// the pods' containers.
func TestTightenStateTree(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state")
	pod := filepath.Join(state, "pods", "uid1")
	mk := func(p string, mode os.FileMode, dir bool) {
		t.Helper()
		var err error
		if dir {
			err = os.MkdirAll(p, 0o755)
		} else {
			err = os.WriteFile(p, []byte("x"), 0o644)
		}
		if err == nil {
			err = os.Chmod(p, mode)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mk(filepath.Join(pod, "logs", "c"), 0o755, true)
	mk(filepath.Join(pod, "volumes", "v"), 0o777, true)
	mk(filepath.Join(pod, "logs", "c", "0.log"), 0o644, false)
	mk(filepath.Join(pod, "logs", "c", "0.log.1"), 0o644, false)
	mk(filepath.Join(pod, "pod.json"), 0o644, false)
	mk(filepath.Join(pod, "hosts"), 0o644, false)
	mk(filepath.Join(pod, "volumes", "v", "data"), 0o644, false)
	for _, d := range []string{state, filepath.Join(state, "pods"), pod, filepath.Join(pod, "logs"), filepath.Join(pod, "volumes")} {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}

	if err := tightenStateTree(state); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path string
		want os.FileMode
	}{
		{state, 0o700},
		{filepath.Join(state, "pods"), 0o700},
		{pod, 0o700},
		{filepath.Join(pod, "volumes"), 0o700},
		{filepath.Join(pod, "logs"), 0o700},
		{filepath.Join(pod, "logs", "c"), 0o700},
		{filepath.Join(pod, "logs", "c", "0.log"), 0o600},
		{filepath.Join(pod, "logs", "c", "0.log.1"), 0o600},
		{filepath.Join(pod, "pod.json"), 0o600},
		// Bind-mounted into containers: readable by a non-root user.
		{filepath.Join(pod, "hosts"), 0o644},
		// The containers' own: untouched.
		{filepath.Join(pod, "volumes", "v"), 0o777},
		{filepath.Join(pod, "volumes", "v", "data"), 0o644},
	} {
		st, err := os.Stat(tc.path)
		if err != nil || st.Mode().Perm() != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.path, st.Mode().Perm(), err, tc.want)
		}
	}
	// A missing state dir is made private.
	fresh := filepath.Join(t.TempDir(), "fresh")
	if err := tightenStateTree(fresh); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(fresh, "pods")); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("new pods dir: %v %v", st.Mode(), err)
	}
}

func TestCreateLogFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs", "c")
	for _, tc := range []struct {
		name    string
		prepare func(path string) error
	}{
		{"new", func(string) error { return nil }},
		{"replaces an open one", func(p string) error { return os.WriteFile(p, []byte("old"), 0o644) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, "0.log")
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tc.prepare(p); err != nil {
				t.Fatal(err)
			}
			if err := createLogFile(p); err != nil {
				t.Fatal(err)
			}
			st, err := os.Stat(p)
			if err != nil || st.Mode().Perm() != 0o600 || st.Size() != 0 {
				t.Errorf("log file %v size %d %v, want empty 0600", st.Mode(), st.Size(), err)
			}
			if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
				t.Errorf("log dir %v %v, want 0700", st.Mode(), err)
			}
		})
	}
}

// The pod's shm is a noexec, nosuid, nodev tmpfs, mounted once.
func TestSetupShm(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "shm")
	t.Cleanup(func() { _ = unmountAll(dir) })
	a := &Agent{}
	for i := 0; i < 2; i++ {
		if err := a.setupShm(dir); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Unmount(dir, 0); err != nil {
		t.Fatal(err)
	}
	if mounted, err := isMountPoint(dir); err != nil || mounted {
		t.Fatalf("a second setupShm stacked a second tmpfs (mounted %v, %v)", mounted, err)
	}
	if err := a.setupShm(dir); err != nil {
		t.Fatal(err)
	}
	opts := mountOptions(t, dir)
	for _, want := range []string{"nosuid", "nodev", "noexec", "size=65536k"} {
		if !containsOpt(opts, want) {
			t.Errorf("shm mounted with %v, without %s", opts, want)
		}
	}
	if st, err := os.Stat(dir); err != nil || st.Mode() != os.ModeDir|os.ModeSticky|0o777 {
		t.Errorf("shm mode %v %v, want 1777", st.Mode(), err)
	}
	if err := unmountPod(filepath.Dir(dir)); err != nil {
		t.Fatal(err)
	}
	if mounted, _ := isMountPoint(dir); mounted {
		t.Error("unmountPod left the shm mounted")
	}
}

// mountOptions returns the mount's and its superblock's options of the
// mount point path.
func mountOptions(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var opts []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[4] != path {
			continue
		}
		opts = strings.Split(f[5], ",")
		if i := slices.Index(f, "-"); i > 0 && i+3 < len(f) {
			opts = append(opts, strings.Split(f[i+3], ",")...)
		}
	}
	return opts
}

func containsOpt(opts []string, want string) bool { return slices.Contains(opts, want) }
