package node

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// dirUsage is the disk space the files under dir take (as du: allocated
// blocks, each inode counted once), not following symlinks. The walk is
// walkTree's: a pod cannot make it fail with a deep tree (which would leave
// the volume's sizeLimit unenforced) nor exhaust the agent's descriptors.
func dirUsage(dir string) (int64, error) {
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("usage of %s: open: %w", dir, err)
	}
	defer unix.Close(root)
	seen := map[[2]uint64]bool{}
	var total int64
	add := func(st *unix.Stat_t) {
		if k := statKey(st); !seen[k] { // a hard link counts once
			seen[k] = true
			total += st.Blocks * 512
		}
	}
	err = walkTree(root, treeVisitor{
		dir:   func(_ int, _ string, st *unix.Stat_t) error { add(st); return nil },
		entry: func(_ int, _ string, st *unix.Stat_t) error { add(st); return nil },
	})
	if err != nil {
		return 0, fmt.Errorf("usage of %s: %w", dir, err)
	}
	return total, nil
}
