package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	v1 "orch.io/orch/api/v1"
)

// checkHostPath makes and checks a hostPath volume's path by its type, as
// the kubelet's hostPath plugin (checkType, with its messages):
// DirectoryOrCreate makes a 0755 directory (with its parents), FileOrCreate
// an empty 0644 file (its parent must exist); the other types must already
// exist with that type. No type checks nothing. Symlinks are followed, as
// the kubelet's os.Stat.
func checkHostPath(h *v1.HostPathVolumeSource) error {
	p := h.Path
	if !filepath.IsAbs(p) {
		return fmt.Errorf("hostPath %q is not an absolute path", p)
	}
	if h.Type == nil {
		return nil
	}
	switch *h.Type {
	case v1.HostPathUnset:
		return nil
	case v1.HostPathDirectoryOrCreate:
		if !pathExists(p) {
			return makeHostDir(p)
		}
		return hostPathTypeMatches(p, v1.HostPathDirectory, "directory")
	case v1.HostPathDirectory:
		return hostPathTypeMatches(p, v1.HostPathDirectory, "directory")
	case v1.HostPathFileOrCreate:
		if !pathExists(p) {
			return makeHostFile(p)
		}
		return hostPathTypeMatches(p, v1.HostPathFile, "file")
	case v1.HostPathFile:
		return hostPathTypeMatches(p, v1.HostPathFile, "file")
	case v1.HostPathSocket:
		return hostPathTypeMatches(p, v1.HostPathSocket, "socket file")
	case v1.HostPathCharDev:
		return hostPathTypeMatches(p, v1.HostPathCharDev, "character device")
	case v1.HostPathBlockDev:
		return hostPathTypeMatches(p, v1.HostPathBlockDev, "block device")
	default:
		return fmt.Errorf("%s is an invalid volume type", *h.Type)
	}
}

func pathExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// hostPathTypeMatches is the kubelet's typeMatchedOrError.
func hostPathTypeMatches(p string, want v1.HostPathType, what string) error {
	if !pathExists(p) {
		return fmt.Errorf("hostPath %s doesn't exist", p)
	}
	got, err := hostFileType(p)
	if err != nil {
		return fmt.Errorf("hostPath type check failed, %s is not a %s, unable to determine its type: %w", p, what, err)
	}
	if got != want {
		return fmt.Errorf("hostPath type check failed: %s is not a %s, it's a %s", p, what, got)
	}
	return nil
}

// hostFileType is the kubelet's hostutil getFileType.
func hostFileType(p string) (v1.HostPathType, error) {
	st, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("path %q does not exist", p)
	}
	if err != nil {
		return "", err
	}
	mode := st.Mode()
	switch {
	case mode&fs.ModeSocket != 0:
		return v1.HostPathSocket, nil
	case mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice != 0:
		return v1.HostPathCharDev, nil
	case mode&fs.ModeDevice != 0:
		return v1.HostPathBlockDev, nil
	case mode.IsDir():
		return v1.HostPathDirectory, nil
	case mode.IsRegular():
		return v1.HostPathFile, nil
	}
	return "", errors.New("only recognise file, directory, socket, block device and character devices")
}

// makeHostDir makes a 0755 directory with its parents (mode set whatever
// the agent's umask).
func makeHostDir(p string) error {
	if err := os.MkdirAll(p, 0o755); err != nil {
		return fmt.Errorf("hostPath %s: %w", p, err)
	}
	if err := os.Chmod(p, 0o755); err != nil {
		return fmt.Errorf("hostPath %s: %w", p, err)
	}
	return nil
}

// makeHostFile makes an empty 0644 file; its directory must exist.
func makeHostFile(p string) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		return fmt.Errorf("hostPath %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("hostPath %s: %w", p, err)
	}
	if err := os.Chmod(p, 0o644); err != nil {
		return fmt.Errorf("hostPath %s: %w", p, err)
	}
	return nil
}
