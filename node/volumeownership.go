package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

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

// setVolumeOwnership walks dir without following symbolic links (a link
// itself changes group, never its target) and applies the fsGroup.
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
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := os.Lchown(path, -1, gid); err != nil {
			return fmt.Errorf("chown %s: %w", path, err)
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		mode := info.Mode() | fsGroupRWMask
		if info.IsDir() {
			mode |= os.ModeSetgid | fsGroupExecMask
		}
		if err := os.Chmod(path, mode); err != nil {
			return fmt.Errorf("chmod %s: %w", path, err)
		}
		return nil
	})
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
