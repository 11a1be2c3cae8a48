package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	v1 "orch.io/orch/api/v1"
)

// checkHostPath makes and checks a hostPath volume's path by its type,
// exactly as the kubelet's hostPath plugin (checkType): DirectoryOrCreate
// makes a 0755 directory (with its parents), FileOrCreate an empty 0644
// file (its parent must exist); the other types must already exist with
// that type. No type checks nothing. Paths are followed through symlinks,
// as the kubelet's os.Stat.
func checkHostPath(h *v1.HostPathVolumeSource) error {
	p := h.Path
	if !filepath.IsAbs(p) {
		return fmt.Errorf("hostPath %q is not an absolute path", p)
	}
	if h.Type == nil {
		return nil
	}
	st, err := os.Stat(p)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hostPath type check failed: %w", err)
	}
	mode := fs.FileMode(0)
	if exists {
		mode = st.Mode()
	}
	switch *h.Type {
	case v1.HostPathUnset:
		return nil
	case v1.HostPathDirectoryOrCreate:
		if !exists {
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("hostPath type check failed: %w", err)
			}
			return os.Chmod(p, 0o755)
		}
		fallthrough
	case v1.HostPathDirectory:
		if !mode.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", p)
		}
	case v1.HostPathFileOrCreate:
		if !exists {
			f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
			if err != nil {
				return fmt.Errorf("hostPath type check failed: %w", err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("hostPath type check failed: %w", err)
			}
			return os.Chmod(p, 0o644)
		}
		fallthrough
	case v1.HostPathFile:
		if !exists || !mode.IsRegular() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", p)
		}
	case v1.HostPathSocket:
		if mode&fs.ModeSocket == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a socket file", p)
		}
	case v1.HostPathCharDev:
		if mode&fs.ModeCharDevice == 0 || mode&fs.ModeDevice == 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a character device", p)
		}
	case v1.HostPathBlockDev:
		if mode&fs.ModeDevice == 0 || mode&fs.ModeCharDevice != 0 {
			return fmt.Errorf("hostPath type check failed: %s is not a block device", p)
		}
	default:
		return fmt.Errorf("%s is an invalid volume type", *h.Type)
	}
	return nil
}
