package harness

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
)

// mountDataDirs puts a tmpfs of Options.DataDirSize bytes on each master's
// data dir; the test's cleanup unmounts it (lazily if it is still busy).
func (c *Cluster) mountDataDirs(masters []*Master) {
	c.t.Helper()
	size := fmt.Sprintf("size=%d,mode=0700", c.opts.DataDirSize)
	for _, m := range masters {
		if err := os.MkdirAll(m.DataDir, 0o700); err != nil {
			c.t.Fatalf("data dir of %s: %v", m.Name, err)
		}
		if out, err := exec.Command("mount", "-t", "tmpfs", "-o", size, "tmpfs", m.DataDir).CombinedOutput(); err != nil {
			c.t.Fatalf("mount a tmpfs on %s (needs root and mount(8): run make deps): %v\n%s", m.DataDir, err, out)
		}
		dir := m.DataDir
		c.t.Cleanup(func() {
			if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
				if out2, err2 := exec.Command("umount", "-l", dir).CombinedOutput(); err2 != nil {
					c.t.Logf("umount %s: %v %s; umount -l: %v %s", dir, err, out, err2, out2)
				}
			}
		})
	}
}

// FillDisk fills master i's data dir (a tmpfs of Options.DataDirSize bytes)
// with a filler file until the file system answers ENOSPC, so the master's
// next write that needs a new block fails. release deletes the filler; it
// may be called more than once.
func (c *Cluster) FillDisk(i int) (release func(), err error) {
	if c.opts.DataDirSize <= 0 {
		return nil, errors.New("FillDisk needs Options.DataDirSize: the data dirs are not size-limited mounts")
	}
	m := c.Masters[i]
	f, err := os.CreateTemp(m.DataDir, ".harness-filler-*")
	if err != nil {
		if errors.Is(err, syscall.ENOSPC) {
			return func() {}, nil // already full: not even an inode left
		}
		return nil, fmt.Errorf("create a filler in %s: %w", m.DataDir, err)
	}
	path := f.Name()
	var once sync.Once
	release = func() {
		once.Do(func() {
			if err := os.Remove(path); err != nil {
				c.t.Logf("remove filler %s: %v", path, err)
			}
		})
	}
	buf := make([]byte, 1<<20)
	var written int64
	for {
		// A short write fills the last pages; the next one fails at once.
		n, err := f.Write(buf)
		written += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err == nil && written > 2*c.opts.DataDirSize {
			err = fmt.Errorf("wrote %d bytes without ENOSPC: %s is not a %d-byte mount", written, m.DataDir, c.opts.DataDirSize)
		}
		if err != nil {
			f.Close()
			release()
			return nil, fmt.Errorf("fill %s: %w", m.DataDir, err)
		}
	}
	if err := f.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		release()
		return nil, fmt.Errorf("close filler %s: %w", path, err)
	}
	return release, nil
}

// DiskFree returns the bytes free on master i's data dir file system.
func (c *Cluster) DiskFree(i int) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(c.Masters[i].DataDir, &st); err != nil {
		return 0, fmt.Errorf("statfs %s: %w", c.Masters[i].DataDir, err)
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}
