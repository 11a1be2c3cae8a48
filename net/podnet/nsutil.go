package podnet

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// nsKinds are the namespaces pinned per pod, with the file name each is
// bind-mounted onto inside the pod's sandbox directory (the same names as
// /proc/<pid>/ns/).
var nsKinds = [...]string{"net", "uts", "ipc"}

// onThrowawayThread runs fn on a fresh goroutine locked to its OS thread and
// never unlocks it: when the goroutine returns the runtime terminates the
// thread, so whatever fn did to the thread's namespaces cannot leak to other
// goroutines.
func onThrowawayThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// No UnlockOSThread on purpose: the thread dies with the goroutine.
		errc <- fn()
	}()
	return <-errc
}

// inNetNS runs fn on a throwaway thread that has joined the network
// namespace at path.
func inNetNS(path string, fn func() error) error {
	return onThrowawayThread(func() error {
		ns, err := netns.GetFromPath(path)
		if err != nil {
			return fmt.Errorf("open netns %s: %w", path, err)
		}
		defer ns.Close()
		if err := netns.Set(ns); err != nil {
			return fmt.Errorf("enter netns %s: %w", path, err)
		}
		return fn()
	})
}

// handleAt returns a netlink handle whose sockets live in the network
// namespace at path. The calling thread is not switched (netlink switches a
// locked thread only while it opens the sockets).
func handleAt(path string) (*netlink.Handle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("open netns %s: %w", path, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		return nil, fmt.Errorf("netlink handle in %s: %w", path, err)
	}
	return h, nil
}

// pinNamespaces creates new net, uts and ipc namespaces on a throwaway
// thread, sets the hostname, brings lo up and bind-mounts the three
// namespaces onto files in dir, which must exist. On error some files may
// exist or be mounted: the caller cleans dir up with unpinNamespaces.
func pinNamespaces(dir, hostname string) error {
	return onThrowawayThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		if err := unix.Sethostname([]byte(hostname)); err != nil {
			return fmt.Errorf("sethostname %q: %w", hostname, err)
		}
		if err := loUp(); err != nil {
			return err
		}
		tid := unix.Gettid()
		for _, kind := range nsKinds {
			target := filepath.Join(dir, kind)
			f, err := os.OpenFile(target, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0o444)
			if err != nil {
				return fmt.Errorf("pin %s namespace: %w", kind, err)
			}
			if err := f.Close(); err != nil {
				return fmt.Errorf("pin %s namespace: %w", kind, err)
			}
			src := fmt.Sprintf("/proc/self/task/%d/ns/%s", tid, kind)
			if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
				return fmt.Errorf("pin %s namespace: bind mount %s: %w", kind, src, err)
			}
		}
		return nil
	})
}

// loUp brings up the loopback device of the calling thread's netns.
func loUp() error {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	defer h.Close()
	lo, err := h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("lo up: %w", err)
	}
	return nil
}

// unpinNamespaces unmounts the namespace files in dir and removes dir. A
// missing dir is not an error.
func unpinNamespaces(dir string) error {
	var errs []error
	for _, kind := range nsKinds {
		if err := unmountFile(filepath.Join(dir, kind)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove %s: %w", dir, err)
	}
	return nil
}

// unmountFile detaches every mount stacked on path. A path that is missing
// or not mounted is not an error.
func unmountFile(path string) error {
	for range 16 { // bound the loop in case of a mount we cannot remove
		err := unix.Unmount(path, unix.MNT_DETACH)
		switch {
		case err == nil:
			continue // another mount may be stacked underneath
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOENT):
			return nil // not (or no longer) a mount point
		default:
			return fmt.Errorf("unmount %s: %w", path, err)
		}
	}
	return fmt.Errorf("unmount %s: still mounted", path)
}

// isNSFile reports whether path is a bind-mounted namespace file (on nsfs),
// as opposed to the empty placeholder left after a reboot.
func isNSFile(path string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return false
	}
	return st.Type == unix.NSFS_MAGIC
}

// makeSharedMountDir makes dir a mount point with shared propagation so
// that namespace files mounted under it propagate to mount namespaces
// created later (runc, shims), as `ip netns` does with /run/netns. A dir
// that is not yet a mount point is bind-mounted onto itself and first made
// private, so it forms its own peer group rather than joining (and
// shadowing mounts into) its parent's. Idempotent.
func makeSharedMountDir(dir string) error {
	mounted, err := isMountPoint(dir)
	if err != nil {
		return err
	}
	if !mounted {
		if err := unix.Mount(dir, dir, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind mount %s onto itself: %w", dir, err)
		}
		if err := unix.Mount("", dir, "", unix.MS_PRIVATE, ""); err != nil {
			return fmt.Errorf("make %s private: %w", dir, err)
		}
	}
	if err := unix.Mount("", dir, "", unix.MS_SHARED|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("make %s shared: %w", dir, err)
	}
	return nil
}

// isMountPoint reports whether dir (an absolute, symlink-free path) is a
// mount point in the calling process's mount namespace.
func isMountPoint(dir string) (bool, error) {
	mps, err := mountPoints()
	if err != nil {
		return false, err
	}
	for _, mp := range mps {
		if mp == dir {
			return true, nil
		}
	}
	return false, nil
}

// mountPoints lists the mount points of /proc/self/mountinfo, unescaped.
func mountPoints() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var mps []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mps = append(mps, unescapeMountinfo(fields[4]))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mps, nil
}

// unescapeMountinfo undoes the kernel's octal escaping (\040 for a space)
// of paths in mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cleanDir makes dir and returns its absolute, symlink-free path, the form
// mountinfo reports.
func cleanDir(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return filepath.EvalSymlinks(abs)
}

// isNotExist reports whether err means a file is missing.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
