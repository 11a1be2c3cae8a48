package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"

	walfs "github.com/hashicorp/raft-wal/fs"
	"github.com/hashicorp/raft-wal/types"
)

// raft-wal's segment files as a master keeps them.
//
// A segment is made from the reserve (walstore.go): a file of written,
// synced blocks, renamed to the segment's name and cut to its size, so
// an append overwrites blocks that already hold data and its sync writes
// the entries alone. raft-wal's own files (fs.FS) fallocate each segment
// and fsync after each append: into unwritten extents every append also
// changed the extent tree, which the sync wrote too, and fsync writes the
// inode's times besides (on a journalled ext4, a journal commit per
// batch).
//
// A segment is synced with fdatasync, as etcd syncs its WAL
// (fileutil.Fdatasync). POSIX has fdatasync make the written data durable
// with the metadata needed to read it back, the file's size and its
// blocks, leaving out only times: an entry acknowledged after it is as
// durable as after fsync. A segment made from the reserve has its size
// and blocks synced before its first append (the file when filled and
// when cut, the directory after the rename); one made by fallocate, when
// no filled reserve is at hand, has its extents' conversions written by
// fdatasync as by fsync, and the directory is synced on its first sync as
// raft-wal does.

// walFS is raft-wal's file system (fs.FS: listing, reading, deleting)
// with segments made from the reserve and synced by fdatasync.
type walFS struct {
	*walfs.FS
	reserve *walReserve
}

// Create makes the segment name in dir of size bytes: the filled reserve
// renamed, or else a new file in the reserve's room.
func (w walFS) Create(dir, name string, size uint64) (types.WritableFile, error) {
	return w.reserve.createSegment(filepath.Join(dir, name), int64(size))
}

// OpenWriter opens an existing segment to append to.
func (w walFS) OpenWriter(dir, name string) (types.WritableFile, error) {
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return &segmentFile{File: f, dir: dir}, nil
}

// segmentFile is a segment synced by fdatasync; the first sync also syncs
// the directory unless its entry is known to be durable.
type segmentFile struct {
	*os.File
	dir       string
	dirSynced atomic.Bool
}

// Sync makes what was written durable.
func (f *segmentFile) Sync() error {
	if err := fdatasync(f.File); err != nil {
		return fmt.Errorf("fdatasync %s: %w", f.Name(), err)
	}
	if !f.dirSynced.Load() {
		if err := syncDir(f.dir); err != nil {
			return err
		}
		f.dirSynced.Store(true)
	}
	return nil
}

func fdatasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		for {
			if serr = syscall.Fdatasync(int(fd)); !errors.Is(serr, syscall.EINTR) {
				return
			}
		}
	}); err != nil {
		return err
	}
	return serr
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// createSegment makes the segment file path of size bytes: the reserve
// renamed when it is filled, else a new file allocated in the reserve's
// room, which is released first and not made again before the file is
// (the writer's next batch makes the reserve again on its own goroutine;
// if it took the room between the release and the creation, the rotation
// would fail and raft-wal would refuse every append until a restart). An
// existing path is refused as raft-wal's own Create does.
func (r *walReserve) createSegment(path string, size int64) (types.WritableFile, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, err := os.Lstat(path); err == nil {
		return nil, &fs.PathError{Op: "create", Path: path, Err: fs.ErrExist}
	}
	if r.readyLocked() {
		if f, err := r.adoptLocked(path, size); err == nil {
			return f, nil
		}
	}
	r.releaseLocked()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := allocateFile(f, size); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("allocate %s: %w", path, err)
	}
	return &segmentFile{File: f, dir: filepath.Dir(path)}, nil
}

// adoptLocked renames the filled reserve to path and cuts it to size,
// synced file and directory; on failure no file is left at path and no
// reserve is held.
func (r *walReserve) adoptLocked(path string, size int64) (_ *segmentFile, err error) {
	r.stopFillLocked()
	r.held = false
	if err := os.Rename(r.path, path); err != nil {
		os.Remove(r.path)
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		os.Remove(path)
		return nil, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(path)
		}
	}()
	if err := f.Truncate(size); err != nil {
		return nil, err
	}
	if err := f.Sync(); err != nil {
		return nil, err
	}
	dir := filepath.Dir(path)
	if err := syncDir(dir); err != nil {
		return nil, err
	}
	sf := &segmentFile{File: f, dir: dir}
	sf.dirSynced.Store(true)
	return sf, nil
}
