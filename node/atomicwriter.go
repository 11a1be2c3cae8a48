package node

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

// This file is the kubelet's AtomicWriter (pkg/volume/util/atomic_writer.go)
// in small: a volume's files live in a hidden timestamped directory,
// "..data" links to it, and each top-level name is a link through
// "..data"; an update writes a new directory and swaps "..data" with one
// rename, so a reader sees either every old file or every new one.

const (
	dataDirName    = "..data"
	newDataDirName = "..data_tmp"
)

// projectedFile is one file of a projected volume.
type projectedFile struct {
	data []byte
	mode os.FileMode
}

// writeAtomic makes dir hold exactly files (relative paths), swapping them
// in at once. Nothing changes when the content is the same.
//
// gid, unless negative, is the pod's fsGroup: every file and directory of
// the new data gets that group before the swap (the kubelet's ownership
// management of a read-only volume; callers add group read to the modes).
func writeAtomic(dir string, files map[string]projectedFile, gid int) error {
	for p := range files {
		if p == "" || path.IsAbs(p) || strings.HasPrefix(p, "..") || path.Clean(p) != p {
			return fmt.Errorf("atomic writer: bad path %q", p)
		}
	}
	dataLink := filepath.Join(dir, dataDirName)
	old, err := os.Readlink(dataLink)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("atomic writer: %w", err)
	}
	if old != "" && sameFiles(filepath.Join(dir, old), files) {
		return nil
	}
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	tsName := ".." + time.Now().UTC().Format("2006_01_02_15_04_05.") + hex.EncodeToString(suffix)
	tsDir := filepath.Join(dir, tsName)
	if err := os.Mkdir(tsDir, 0o755); err != nil {
		return fmt.Errorf("atomic writer: %w", err)
	}
	for p, f := range files {
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fmt.Errorf("atomic writer: %w", err)
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return fmt.Errorf("atomic writer: %w", err)
		}
		if err := os.Chmod(full, f.mode); err != nil { // WriteFile honours the umask
			return fmt.Errorf("atomic writer: %w", err)
		}
		if gid >= 0 {
			for p := full; p != dir; p = filepath.Dir(p) {
				if err := os.Lchown(p, -1, gid); err != nil {
					return fmt.Errorf("atomic writer: %w", err)
				}
			}
		}
	}
	if gid >= 0 {
		if err := os.Lchown(tsDir, -1, gid); err != nil {
			return fmt.Errorf("atomic writer: %w", err)
		}
	}
	tmpLink := filepath.Join(dir, newDataDirName)
	_ = os.Remove(tmpLink)
	if err := os.Symlink(tsName, tmpLink); err != nil {
		return fmt.Errorf("atomic writer: %w", err)
	}
	if err := os.Rename(tmpLink, dataLink); err != nil {
		return fmt.Errorf("atomic writer: %w", err)
	}
	// The user-visible names: one link per top-level entry.
	top := map[string]bool{}
	for p := range files {
		top[strings.SplitN(p, "/", 2)[0]] = true
	}
	for name := range top {
		link := filepath.Join(dir, name)
		if target, err := os.Readlink(link); err == nil && target == filepath.Join(dataDirName, name) {
			continue
		}
		_ = os.Remove(link)
		if err := os.Symlink(filepath.Join(dataDirName, name), link); err != nil {
			return fmt.Errorf("atomic writer: %w", err)
		}
	}
	// Remove what is no longer wanted: links of gone names, old data dirs.
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("atomic writer: %w", err)
	}
	var errs []error
	for _, e := range ents {
		n := e.Name()
		switch {
		case n == dataDirName || n == tsName || top[n]:
		case strings.HasPrefix(n, ".."):
			errs = append(errs, os.RemoveAll(filepath.Join(dir, n)))
		case e.Type()&fs.ModeSymlink != 0:
			errs = append(errs, os.Remove(filepath.Join(dir, n)))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("atomic writer: clean up: %w", err)
	}
	return nil
}

// sameFiles reports whether dir holds exactly files, with their modes.
func sameFiles(dir string, files map[string]projectedFile) bool {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(dir, p)
		f, ok := files[rel]
		if !ok {
			return fs.ErrNotExist
		}
		st, err := d.Info()
		if err != nil || st.Mode().Perm() != f.mode.Perm() {
			return fs.ErrInvalid
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.data) {
			return fs.ErrInvalid
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}
