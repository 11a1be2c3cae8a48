package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	v1 "orch.io/orch/api/v1"
)

// Permission bits the kubelet's SetVolumeOwnership adds for the fsGroup.
const (
	fsGroupRWMask   = 0o660
	fsGroupExecMask = 0o110
)

// setPodVolumesOwnership gives the pod's emptyDir volumes to its fsGroup,
// as the kubelet does when it sets up a volume that supports ownership
// management: every file and directory gets group fsGroup and g+rw
// (directories g+x and setgid, so new files inherit the group). With
// fsGroupChangePolicy OnRootMismatch a volume whose root already has the
// group and mode is left alone.
func (a *Agent) setPodVolumesOwnership(pod *v1.Pod, podDir string) error {
	sc := pod.Spec.SecurityContext
	if sc == nil || sc.FSGroup == nil {
		return nil
	}
	onRootMismatch := sc.FSGroupChangePolicy != nil && *sc.FSGroupChangePolicy == v1.FSGroupChangeOnRootMismatch
	for _, v := range pod.Spec.Volumes {
		if v.EmptyDir == nil {
			continue
		}
		dir := filepath.Join(podDir, volumesDir, v.Name)
		if err := setVolumeOwnership(dir, int(*sc.FSGroup), onRootMismatch); err != nil {
			return fmt.Errorf("volume %s: fsGroup: %w", v.Name, err)
		}
	}
	return nil
}

// setVolumeOwnership applies the fsGroup to dir and everything under it.
// The volume is written by the pod's containers while the agent walks it,
// so the walk is walkTree's (relative to descriptors, no link followed,
// descriptors bounded whatever the depth) and every entry is changed
// through a descriptor opened without following links: a container that
// swaps a directory for a link to a host path cannot make the agent chown
// or chmod the host's files. A link itself changes group, never its target.
func setVolumeOwnership(dir string, gid int, onRootMismatch bool) error {
	if onRootMismatch {
		ok, err := ownershipMatches(dir, gid)
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
	}
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("open %s: %w", dir, err)
	}
	defer unix.Close(fd)
	err = walkTree(fd, treeVisitor{
		dir:   func(fd int, name string, _ *unix.Stat_t) error { return ownFD(fd, name, gid, true) },
		entry: func(dirfd int, name string, st *unix.Stat_t) error { return ownEntry(dirfd, name, st, gid) },
	})
	if err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	return nil
}

// ownEntry applies the fsGroup to the entry name (not a directory) of the
// directory open as dirfd.
func ownEntry(dirfd int, name string, st *unix.Stat_t, gid int) error {
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		if err := unix.Fchownat(dirfd, name, -1, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("chown %s: %w", name, err)
		}
		return nil
	}
	// O_PATH opens the entry itself (a fifo or device is not opened for
	// I/O); O_NOFOLLOW makes a link swapped in since the stat fail the open
	// instead of being followed.
	f, err := unix.Openat(dirfd, name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer unix.Close(f)
	return ownFD(f, name, gid, false)
}

// ownFD gives the file open as fd group gid and the fsGroup's permission
// bits. A descriptor opened O_PATH that turns out to be a symbolic link is
// left alone.
func ownFD(fd int, path string, gid int, isDir bool) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return nil
	}
	if err := unix.Fchownat(fd, "", -1, gid, unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("chown %s: %w", path, err)
	}
	mode := st.Mode&0o7777 | fsGroupRWMask
	if isDir {
		mode |= unix.S_ISGID | fsGroupExecMask
	}
	// fchmod does not take O_PATH descriptors; the descriptor's /proc
	// link names the very inode opened.
	if err := unix.Chmod(fmt.Sprintf("/proc/self/fd/%d", fd), mode); err != nil {
		return fmt.Errorf("chmod %s: %w", path, err)
	}
	return nil
}

// ownershipMatches reports whether dir already has group gid, setgid and
// the group permissions the fsGroup needs (the kubelet's
// skipPermissionChange for OnRootMismatch).
func ownershipMatches(dir string, gid int) (bool, error) {
	info, err := os.Lstat(dir)
	if err != nil {
		return false, err
	}
	st, ok := info.Sys().(*syscall.Stat_t)
	if !ok {
		return false, errors.New("no ownership information for " + dir)
	}
	want := fs.FileMode(fsGroupRWMask | fsGroupExecMask)
	return int(st.Gid) == gid && info.Mode()&os.ModeSetgid != 0 && info.Mode().Perm()&want == want, nil
}
