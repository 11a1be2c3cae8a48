package node

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// dirUsage is the disk space the files under dir take (as du: allocated
// blocks, each inode counted once), not following symlinks.
//
// The directories are the pod's, so the walk must hold up against what a
// container can build in them. It goes relative to directory descriptors
// (openat, fstatat), never by whole paths: nested directories can make a
// path longer than PATH_MAX, which no path can name, and a usage that
// cannot be measured would leave the volume's sizeLimit unenforced. And it
// holds two descriptors, not one per level: it climbs back with "..",
// checking that it reaches the directory it came from, so a deep tree
// cannot exhaust the agent's descriptors. A directory the pod moves during
// the walk ends that branch (what was counted stays counted); an entry it
// removes or replaces is skipped.
func dirUsage(dir string) (int64, error) {
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("usage of %s: open: %w", dir, err)
	}
	defer unix.Close(root)
	u := usageWalk{seen: map[[2]uint64]bool{}}
	if err := u.walk(root); err != nil {
		return 0, fmt.Errorf("usage of %s: %w", dir, err)
	}
	return u.total, nil
}

// usageWalk sums the blocks of the inodes it has seen.
type usageWalk struct {
	seen  map[[2]uint64]bool
	total int64
}

// usageDir is a directory on the walk's path from its root.
type usageDir struct {
	name    string    // in its parent ("" for the root)
	key     [2]uint64 // device and inode, to recognise it when climbing back
	subdirs []string  // subdirectories not walked yet
}

func statKey(st *unix.Stat_t) [2]uint64 { return [2]uint64{uint64(st.Dev), st.Ino} }

// add counts st's blocks unless its inode was counted already (a hard link).
func (u *usageWalk) add(st *unix.Stat_t) {
	if k := statKey(st); !u.seen[k] {
		u.seen[k] = true
		u.total += st.Blocks * 512
	}
}

// walk counts the directory open as root and everything under it,
// depth first.
func (u *usageWalk) walk(root int) error {
	cur, err := unix.Dup(root)
	if err != nil {
		return fmt.Errorf("dup: %w", err)
	}
	top, err := u.scan(cur, "")
	if err != nil {
		unix.Close(cur)
		return err
	}
	path := []*usageDir{top}
	for len(path) > 0 {
		d := path[len(path)-1]
		if len(d.subdirs) == 0 {
			path = path[:len(path)-1]
			if len(path) == 0 {
				break
			}
			if cur, path, err = u.climb(root, cur, path); err != nil {
				return err
			}
			continue
		}
		name := d.subdirs[0]
		d.subdirs = d.subdirs[1:]
		sub, err := unix.Openat(cur, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if gone(err) {
				continue // removed or replaced by the pod meanwhile
			}
			unix.Close(cur)
			return fmt.Errorf("open %s: %w", name, err)
		}
		next, err := u.scan(sub, name)
		if err != nil {
			unix.Close(sub)
			unix.Close(cur)
			return err
		}
		unix.Close(cur)
		cur = sub
		path = append(path, next)
	}
	unix.Close(cur)
	return nil
}

// climb closes cur (the directory just left) and returns a descriptor of
// the new end of path: its "..", when that is the directory recorded there.
// Otherwise the pod moved a directory meanwhile: path is followed again from
// root, name by name, and cut where a directory is no longer the one
// recorded (the rest of that branch is not walked).
func (u *usageWalk) climb(root, cur int, path []*usageDir) (int, []*usageDir, error) {
	up, err := unix.Openat(cur, "..", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	unix.Close(cur)
	if err == nil {
		var st unix.Stat_t
		if unix.Fstat(up, &st) == nil && statKey(&st) == path[len(path)-1].key {
			return up, path, nil
		}
		unix.Close(up)
	}
	fd, err := unix.Dup(root)
	if err != nil {
		return -1, nil, fmt.Errorf("dup: %w", err)
	}
	for i := 1; i < len(path); i++ {
		next, err := unix.Openat(fd, path[i].name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		var st unix.Stat_t
		if err == nil && (unix.Fstat(next, &st) != nil || statKey(&st) != path[i].key) {
			unix.Close(next)
			err = unix.ENOENT
		}
		if err != nil {
			return fd, path[:i], nil
		}
		unix.Close(fd)
		fd = next
	}
	return fd, path, nil
}

// scan counts the directory open as fd (named name in errors; its whole
// path may be too long to build) and its entries that are not directories,
// and lists its subdirectories.
func (u *usageWalk) scan(fd int, name string) (*usageDir, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	u.add(&st)
	d := &usageDir{name: name, key: statKey(&st)}
	// Read through a duplicate, which os.File closes; fd stays open.
	dup, err := unix.Dup(fd)
	if err != nil {
		return nil, fmt.Errorf("dup: %w", err)
	}
	f := os.NewFile(uintptr(dup), name)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	for _, n := range names {
		var est unix.Stat_t
		if err := unix.Fstatat(fd, n, &est, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			if gone(err) {
				continue
			}
			return nil, fmt.Errorf("stat %s/%s: %w", name, n, err)
		}
		if est.Mode&unix.S_IFMT == unix.S_IFDIR {
			d.subdirs = append(d.subdirs, n)
		} else {
			u.add(&est)
		}
	}
	return d, nil
}

// gone reports whether err means an entry was removed or replaced by
// something of another kind since it was listed.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR)
}
