package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// The agent walks directories its pods write (emptyDir volumes: their usage,
// their fsGroup) as root while containers change them. walkTree holds up
// against what a container can build there:
//   - it goes relative to directory descriptors (openat, fstatat), never by
//     whole paths: nested directories can make a path longer than PATH_MAX,
//     which no path can name;
//   - it follows no symbolic link, and opens nothing but directories;
//   - it holds two descriptors, not one per level: it climbs back with "..",
//     checking that it reaches the directory it came from, so a deep tree
//     cannot exhaust the agent's descriptors. A directory the pod moves
//     during the walk ends that branch; an entry the pod removes or replaces
//     is skipped.

// treeVisitor is what walkTree calls; names are an entry's own name (its
// whole path may be too long to build).
type treeVisitor struct {
	// dir is called for each directory, open as fd, before its entries.
	dir func(fd int, name string, st *unix.Stat_t) error
	// entry is called for each entry that is not a directory (st from
	// fstatat without following links) in the directory open as dirfd.
	entry func(dirfd int, name string, st *unix.Stat_t) error
	// leave (optional) is called when the walk is back in a directory,
	// open as dirfd, from its subdirectory name, done with it; not when
	// the pod moved that subdirectory meanwhile.
	leave func(dirfd int, name string) error
}

// walkedDir is a directory on the walk's path from its root.
type walkedDir struct {
	name    string    // in its parent ("" for the root)
	key     [2]uint64 // device and inode, to recognise it when climbing back
	subdirs []string  // subdirectories not walked yet
}

func statKey(st *unix.Stat_t) [2]uint64 { return [2]uint64{uint64(st.Dev), st.Ino} }

// openDirAt opens the directory name in dirfd without following a link.
func openDirAt(dirfd int, name string) (int, error) {
	return unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// walkTree visits the directory open as root (which stays open) and
// everything under it, depth first.
func walkTree(root int, v treeVisitor) error {
	cur, err := unix.Dup(root)
	if err != nil {
		return fmt.Errorf("dup: %w", err)
	}
	top, err := scanDir(cur, ".", v)
	if err != nil {
		unix.Close(cur)
		return err
	}
	path := []*walkedDir{top}
	for len(path) > 0 {
		d := path[len(path)-1]
		if len(d.subdirs) == 0 {
			path = path[:len(path)-1]
			if len(path) == 0 {
				break
			}
			var back bool
			if cur, path, back, err = climb(root, cur, path); err != nil {
				return err
			}
			if v.leave != nil && back {
				if err := v.leave(cur, d.name); err != nil {
					unix.Close(cur)
					return err
				}
			}
			continue
		}
		name := d.subdirs[0]
		d.subdirs = d.subdirs[1:]
		sub, err := openDirAt(cur, name)
		if err != nil {
			if gone(err) {
				continue // removed or replaced by the pod meanwhile
			}
			unix.Close(cur)
			return fmt.Errorf("open %s: %w", name, err)
		}
		next, err := scanDir(sub, name, v)
		unix.Close(cur)
		if err != nil {
			unix.Close(sub)
			return err
		}
		cur = sub
		path = append(path, next)
	}
	unix.Close(cur)
	return nil
}

// climb closes cur (the directory just left) and returns a descriptor of
// the new end of path: its "..", when that is the directory recorded there
// (back is then true). Otherwise the pod moved a directory meanwhile: path
// is followed again from root, name by name, and cut where a directory is
// no longer the one recorded (the rest of that branch is not walked).
func climb(root, cur int, path []*walkedDir) (fd int, _ []*walkedDir, back bool, _ error) {
	up, err := openDirAt(cur, "..")
	unix.Close(cur)
	if err == nil {
		var st unix.Stat_t
		if unix.Fstat(up, &st) == nil && statKey(&st) == path[len(path)-1].key {
			return up, path, true, nil
		}
		unix.Close(up)
	}
	fd, err = unix.Dup(root)
	if err != nil {
		return -1, nil, false, fmt.Errorf("dup: %w", err)
	}
	for i := 1; i < len(path); i++ {
		next, err := openDirAt(fd, path[i].name)
		var st unix.Stat_t
		if err == nil && (unix.Fstat(next, &st) != nil || statKey(&st) != path[i].key) {
			unix.Close(next)
			err = unix.ENOENT
		}
		if err != nil {
			return fd, path[:i], false, nil
		}
		unix.Close(fd)
		fd = next
	}
	return fd, path, false, nil
}

// scanDir visits the directory open as fd and its entries that are not
// directories, and lists its subdirectories.
func scanDir(fd int, name string, v treeVisitor) (*walkedDir, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	if err := v.dir(fd, name, &st); err != nil {
		return nil, err
	}
	d := &walkedDir{name: name, key: statKey(&st)}
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
			return nil, fmt.Errorf("stat %s: %w", n, err)
		}
		if est.Mode&unix.S_IFMT == unix.S_IFDIR {
			d.subdirs = append(d.subdirs, n)
		} else if err := v.entry(fd, n, &est); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// gone reports whether err means an entry was removed or replaced by
// something of another kind since it was listed.
func gone(err error) bool {
	return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR)
}

// removePodDir removes a pod's directory and everything in it, as
// os.RemoveAll would, but with walkTree's bounded descriptors: the pod's
// volumes may hold a tree deeper than the agent's descriptor limit, which
// os.RemoveAll (a descriptor per level) fails on, leaving the pod's data
// on the node for good. The pod's containers are gone by then, so nothing
// moves under the walk; what is mounted there must be unmounted first.
func removePodDir(dir string) error {
	root, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	switch {
	case errors.Is(err, unix.ENOENT):
		return nil
	case errors.Is(err, unix.ENOTDIR), errors.Is(err, unix.ELOOP):
		return os.Remove(dir)
	case err != nil:
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	unlink := func(dirfd int, name string, flags int) error {
		if err := unix.Unlinkat(dirfd, name, flags); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove %s: %w", name, err)
		}
		return nil
	}
	err = walkTree(root, treeVisitor{
		dir:   func(int, string, *unix.Stat_t) error { return nil },
		entry: func(dirfd int, name string, _ *unix.Stat_t) error { return unlink(dirfd, name, 0) },
		leave: func(dirfd int, name string) error { return unlink(dirfd, name, unix.AT_REMOVEDIR) },
	})
	unix.Close(root)
	if err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// RemoveStateDir removes the agent's state directory for `orchd node reset
// --remove-state`, once UnmountPodVolumes has unmounted what the agent
// mounted there: each pod's directory as removePodDir does (a pod's volumes
// may be deeper than os.RemoveAll can remove), then the rest.
func RemoveStateDir(stateDir string) error {
	ents, err := os.ReadDir(filepath.Join(stateDir, "pods"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("list pods: %w", err)
	}
	for _, e := range ents {
		if err := removePodDir(filepath.Join(stateDir, "pods", e.Name())); err != nil {
			return err
		}
	}
	return os.RemoveAll(stateDir)
}
