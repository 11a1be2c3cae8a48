package node

import (
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// dirUsage is the disk space the files under dir take (as du: allocated
// blocks, each inode counted once), not following symlinks. It walks
// relative to directory descriptors (openat, fstatat), never by whole
// paths: a container can nest directories until a path is longer than
// PATH_MAX, which no path can name, and a usage that cannot be measured
// would leave the volume's sizeLimit unenforced. An entry the pod removes
// or replaces during the walk is skipped.
func dirUsage(dir string) (int64, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("usage of %s: open: %w", dir, err)
	}
	u := usageWalk{seen: map[[2]uint64]bool{}}
	if err := u.dir(fd, "."); err != nil {
		return 0, fmt.Errorf("usage of %s: %w", dir, err)
	}
	return u.total, nil
}

// usageWalk sums the blocks of the inodes it has seen.
type usageWalk struct {
	seen  map[[2]uint64]bool
	total int64
}

// add counts st's blocks unless its inode was counted already (a hard link).
func (u *usageWalk) add(st *unix.Stat_t) {
	key := [2]uint64{uint64(st.Dev), st.Ino}
	if u.seen[key] {
		return
	}
	u.seen[key] = true
	u.total += st.Blocks * 512
}

// dir counts the open directory fd (rel, its name, in errors; not its whole
// path, which may be too long to build) and everything under it, then
// closes fd.
func (u *usageWalk) dir(fd int, rel string) error {
	d := os.NewFile(uintptr(fd), rel)
	defer d.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", rel, err)
	}
	u.add(&st)
	for {
		names, rerr := d.Readdirnames(1024)
		for _, name := range names {
			if err := u.entry(fd, rel, name); err != nil {
				return err
			}
		}
		if errors.Is(rerr, io.EOF) {
			return nil
		}
		if rerr != nil {
			return fmt.Errorf("read %s: %w", rel, rerr)
		}
	}
}

// entry counts one entry of the directory open as fd.
func (u *usageWalk) entry(fd int, rel, name string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("stat %s/%s: %w", rel, name, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		u.add(&st)
		return nil
	}
	sub, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
			return nil // removed or replaced by the pod meanwhile
		}
		return fmt.Errorf("open %s/%s: %w", rel, name, err)
	}
	return u.dir(sub, name)
}
