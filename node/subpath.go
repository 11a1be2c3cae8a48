package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// subPathsDir holds the bind mounts of containers' subPath volume mounts:
// <podDir>/volume-subpaths/<volume>/<container>/<index>, as the kubelet.
const subPathsDir = "volume-subpaths"

// maxUnmounts bounds how many stacked mounts one cleanup removes from a path.
const maxUnmounts = 8

// beneath resolves a path relative to a directory file descriptor without
// leaving it and without following any symlink or magic link.
var beneath = unix.OpenHow{
	Flags:   unix.O_PATH | unix.O_CLOEXEC | unix.O_NOFOLLOW,
	Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
}

// subPathTarget is where the agent mounts a container's subPath.
func subPathTarget(podDir, volume, container string, index int) string {
	return filepath.Join(podDir, subPathsDir, volume, container, strconv.Itoa(index))
}

// checkSubPath refuses a subPath that is empty, absolute or has a '..'
// element (Kubernetes' validateLocalDescendingPath; the API refuses these
// too, this guards the node against anything that slipped through).
func checkSubPath(subPath string) error {
	if subPath == "" || filepath.IsAbs(subPath) {
		return fmt.Errorf("subPath %q must be a relative path", subPath)
	}
	for _, e := range strings.Split(subPath, "/") {
		if e == ".." {
			return fmt.Errorf("subPath %q must not contain '..'", subPath)
		}
	}
	return nil
}

// openSubPath makes subPath exist under volume and opens it, as the
// kubelet's subpath_linux.go (doSafeMakeDir, then safeOpenSubPath): missing
// directories are created with perm without following any symlink; a
// symlink in subPath is followed only when what it names stays inside the
// volume; the result is opened from a descriptor of the volume with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS|RESOLVE_NO_MAGICLINKS), so a
// symlink swapped in after the check fails the open. It returns an O_PATH
// descriptor of the subPath (the caller closes it).
func openSubPath(volume, subPath string, perm os.FileMode) (int, error) {
	if err := checkSubPath(subPath); err != nil {
		return -1, err
	}
	base, err := filepath.EvalSymlinks(volume)
	if err != nil {
		return -1, fmt.Errorf("volume %s: %w", volume, err)
	}
	if err := safeMakeDir(base, filepath.Clean(subPath), perm); err != nil {
		return -1, err
	}
	full, err := filepath.EvalSymlinks(filepath.Join(base, subPath))
	if err != nil {
		return -1, fmt.Errorf("subPath %q: %w", subPath, err)
	}
	rel, ok := within(base, full)
	if !ok {
		return -1, fmt.Errorf("subPath %q resolves to %s, outside of the volume %s", subPath, full, base)
	}
	return openBeneath(base, rel)
}

// within reports whether path is base or under it, and its relative path.
func within(base, path string) (string, bool) {
	rel, err := filepath.Rel(base, path)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") || filepath.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

// openBeneath opens rel under the directory base with no symlink at all.
func openBeneath(base, rel string) (int, error) {
	dir, err := unix.Open(base, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1, fmt.Errorf("open %s: %w", base, err)
	}
	defer unix.Close(dir)
	how := beneath
	fd, err := unix.Openat2(dir, rel, &how)
	if err != nil {
		return -1, fmt.Errorf("open %q under %s without symlinks: %w", rel, base, err)
	}
	return fd, nil
}

// safeMakeDir creates the directories of rel under base that do not exist,
// as the kubelet's doSafeMakeDir: the part that exists must resolve inside
// base; each new directory is made with mkdirat in its parent's descriptor
// and re-opened without following symlinks, then given perm (mkdirat
// honours the umask).
func safeMakeDir(base, rel string, perm os.FileMode) error {
	existing, missing, err := existingPrefix(base, rel)
	if err != nil {
		return err
	}
	full, err := filepath.EvalSymlinks(existing)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", existing, err)
	}
	prefix, ok := within(base, full)
	if !ok {
		return fmt.Errorf("subPath %q resolves to %s, outside of the volume %s", rel, full, base)
	}
	if len(missing) == 0 {
		return nil
	}
	parent, err := openBeneath(base, prefix)
	if err != nil {
		return err
	}
	defer func() { unix.Close(parent) }()
	for _, name := range missing {
		if err := unix.Mkdirat(parent, name, uint32(perm.Perm())); err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("create %s in the volume: %w", name, err)
		}
		how := beneath
		how.Flags |= unix.O_DIRECTORY
		child, err := unix.Openat2(parent, name, &how)
		if err != nil {
			return fmt.Errorf("open %s in the volume without symlinks: %w", name, err)
		}
		unix.Close(parent)
		parent = child
		// An O_PATH descriptor cannot be given to fchmod; its /proc link can.
		if err := os.Chmod("/proc/self/fd/"+strconv.Itoa(child), perm); err != nil {
			return fmt.Errorf("chmod %s in the volume: %w", name, err)
		}
	}
	return nil
}

// existingPrefix splits rel into the longest prefix that exists under base
// (symlinks followed, as the kubelet's findExistingPrefix) and the names
// after it.
func existingPrefix(base, rel string) (string, []string, error) {
	names := strings.Split(rel, "/")
	cur := base
	for i, name := range names {
		if name == "." || name == "" {
			continue
		}
		next := filepath.Join(cur, name)
		if _, err := os.Stat(next); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				if _, lerr := os.Lstat(next); lerr == nil {
					// A dangling symlink: nothing may be created through it.
					return "", nil, fmt.Errorf("subPath %q: %s is a dangling symlink", rel, name)
				}
				return cur, names[i:], nil
			}
			return "", nil, fmt.Errorf("subPath %q: %w", rel, err)
		}
		cur = next
	}
	return cur, nil, nil
}

// bindSubPath bind-mounts the file or directory open as fd onto target
// (made as an empty file or directory to match), through /proc/self/fd, as
// the kubelet's doBindSubPath. A target that already holds that same file
// is kept (a restarted agent); one holding anything else is unmounted and
// mounted again.
func bindSubPath(fd int, target string) error {
	var src unix.Stat_t
	if err := unix.Fstat(fd, &src); err != nil {
		return fmt.Errorf("stat the subPath: %w", err)
	}
	var cur unix.Stat_t
	if err := unix.Stat(target, &cur); err == nil {
		if cur.Dev == src.Dev && cur.Ino == src.Ino {
			return nil
		}
		if err := unmountAll(target); err != nil {
			return err
		}
	}
	isDir := src.Mode&unix.S_IFMT == unix.S_IFDIR
	if err := makeTarget(target, isDir); err != nil {
		return err
	}
	if err := unix.Mount("/proc/self/fd/"+strconv.Itoa(fd), target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount the subPath on %s: %w", target, err)
	}
	return nil
}

// makeTarget makes target an empty directory or file, replacing what is
// there if it is of the other kind.
func makeTarget(target string, isDir bool) error {
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return fmt.Errorf("subPath target: %w", err)
	}
	if st, err := os.Lstat(target); err == nil && st.IsDir() != isDir {
		if err := os.Remove(target); err != nil {
			return fmt.Errorf("subPath target: %w", err)
		}
	}
	if isDir {
		if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("subPath target: %w", err)
		}
		return nil
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("subPath target: %w", err)
	}
	return f.Close()
}

// unmountAll removes every mount stacked on path. Not a mount point (or
// not there) is not an error.
func unmountAll(path string) error {
	for i := 0; i < maxUnmounts; i++ {
		err := unix.Unmount(path, unix.MNT_DETACH|unix.UMOUNT_NOFOLLOW)
		switch {
		case err == nil:
			continue
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil
		default:
			return fmt.Errorf("unmount %s: %w", path, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted after %d unmounts", path, maxUnmounts)
}

// cleanSubPaths unmounts and removes every subPath target of a pod, as the
// kubelet's CleanSubPaths. A target is removed with os.Remove only, so a
// mount that did not go away is never descended into. Idempotent.
func cleanSubPaths(podDir string) error {
	root := filepath.Join(podDir, subPathsDir)
	targets, err := filepath.Glob(filepath.Join(root, "*", "*", "*"))
	if err != nil {
		return fmt.Errorf("list subPath mounts: %w", err)
	}
	var errs []error
	for _, t := range targets {
		if err := unmountAll(t); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.Remove(t); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove subPath target: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// What is left are empty directories (Remove fails on anything else).
	dirs, _ := filepath.Glob(filepath.Join(root, "*", "*"))
	vols, _ := filepath.Glob(filepath.Join(root, "*"))
	for _, d := range append(append(dirs, vols...), root) {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, fmt.Errorf("remove subPath directory: %w", err))
		}
	}
	return errors.Join(errs...)
}

// prepareSubPath resolves subPath under volume safely and mounts it on
// target; it returns target, the path to give the runtime.
func prepareSubPath(volume, subPath, target string, perm os.FileMode) (string, error) {
	fd, err := openSubPath(volume, subPath, perm)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	if err := bindSubPath(fd, target); err != nil {
		return "", err
	}
	return target, nil
}
