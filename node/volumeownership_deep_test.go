package node

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSetVolumeOwnershipDeepTree checks the fsGroup walk against a tree a
// container can build: deeper than the agent's descriptor limit allows a
// walk holding a descriptor per level, and below a path longer than
// PATH_MAX. Every file still gets the group; a walk that failed would keep
// the pod from starting at every agent restart, and one that exhausted the
// agent's descriptors would fail its other work meanwhile.
func TestSetVolumeOwnershipDeepTree(t *testing.T) {
	const gid = 4343
	for _, tc := range []struct {
		name  string
		depth int
	}{
		{"shallow", 2},
		{"deeper than the descriptor limit", 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "vol")
			if err := os.Mkdir(dir, 0o777); err != nil {
				t.Fatal(err)
			}
			writeDeep(t, dir, tc.depth, 64<<10)
			err := withFewDescriptors(t, func() error { return setVolumeOwnership(dir, gid, false) })
			if err != nil {
				t.Fatalf("setVolumeOwnership: %v", err)
			}
			// The file at the bottom, reached through descriptors.
			fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			name := strings.Repeat("d", 200)
			for i := 0; i < tc.depth; i++ {
				sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
				unix.Close(fd)
				if err != nil {
					t.Fatal(err)
				}
				var st unix.Stat_t
				if err := unix.Fstat(sub, &st); err != nil || st.Gid != gid || st.Mode&syscall.S_ISGID == 0 {
					unix.Close(sub)
					t.Fatalf("level %d: gid %d mode %o (%v), want gid %d and setgid", i, st.Gid, st.Mode, err, gid)
				}
				fd = sub
			}
			var st unix.Stat_t
			err = unix.Fstatat(fd, "big", &st, unix.AT_SYMLINK_NOFOLLOW)
			unix.Close(fd)
			if err != nil || st.Gid != gid || st.Mode&0o060 != 0o060 {
				t.Fatalf("the file at the bottom: gid %d mode %o (%v), want gid %d and g+rw", st.Gid, st.Mode, err, gid)
			}
		})
	}
}
