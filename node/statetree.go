package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The agent's state tree (StateDir) holds pods' specs with their
// environment, container logs and volumes a container wrote: it is the
// agent's alone. Directories are 0700 and files 0600; the files a container
// gets bind-mounted (hosts, resolv.conf, hostname) are 0644, readable by a
// container's non-root user since runc opens the source as root and the
// 0700 directories above keep host users out.
const (
	privateDirMode  = 0o700
	privateFileMode = 0o600
)

// makePrivateDirs makes each directory 0700, tightening one that exists.
func makePrivateDirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, privateDirMode); err != nil {
			return err
		}
		if err := os.Chmod(d, privateDirMode); err != nil {
			return err
		}
	}
	return nil
}

// createLogFile makes an empty 0600 log file at path (replacing one that
// exists) in a 0700 directory; the runtime appends to it.
func createLogFile(path string) error {
	if err := makePrivateDirs(filepath.Dir(path)); err != nil {
		return fmt.Errorf("log directory: %w", err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("log file: %w", err)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, privateFileMode)
	if err != nil {
		return fmt.Errorf("log file: %w", err)
	}
	return f.Close()
}

// tightenStateTree makes the state directory and its pods directory 0700
// and, in a tree an older agent left open, each pod's directory, log
// directories and log files, and pod.json private. It never descends into
// a pod's volumes, shared memory or subPath mounts: those belong to the
// pod's containers.
func tightenStateTree(stateDir string) error {
	pods := filepath.Join(stateDir, "pods")
	if err := makePrivateDirs(stateDir, pods); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	ents, err := os.ReadDir(pods)
	if err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	var errs []error
	chmod := func(path string, mode os.FileMode) {
		if err := os.Chmod(path, mode); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(pods, e.Name())
		chmod(dir, privateDirMode)
		chmod(filepath.Join(dir, podSpecFile), privateFileMode)
		chmod(filepath.Join(dir, volumesDir), privateDirMode)
		logs := filepath.Join(dir, "logs")
		err := filepath.WalkDir(logs, func(path string, d fs.DirEntry, err error) error {
			switch {
			case errors.Is(err, fs.ErrNotExist):
				return nil
			case err != nil:
				return err
			case d.Type()&fs.ModeSymlink != 0:
				return nil
			case d.IsDir():
				chmod(path, privateDirMode)
			default:
				chmod(path, privateFileMode)
			}
			return nil
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("tighten the state dir: %w", err)
	}
	return nil
}
