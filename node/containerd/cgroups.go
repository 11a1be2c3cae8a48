package containerd

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// mountsFile lists the mounts of the agent's mount namespace.
const mountsFile = "/proc/self/mounts"

// RemovePod removes the pod's parent cgroup <CgroupRoot>/pod<uid> in every
// cgroup hierarchy mounted on the node (each v1 controller, named
// hierarchies such as name=systemd, and the unified one). runc removes the
// containers' leaf cgroups when their tasks are deleted, but not the parents
// it created. Missing directories are fine; a directory that still holds
// containers (child cgroups or processes) is an error.
func (r *Runtime) RemovePod(ctx context.Context, podUID string) error {
	if podUID == "" || strings.ContainsAny(podUID, "/\x00") || podUID == "." || podUID == ".." {
		return fmt.Errorf("remove pod cgroups: invalid pod uid %q", podUID)
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return fmt.Errorf("remove pod %s cgroups: %w", podUID, err)
	}
	if len(mounts) == 0 {
		// E.g. under `ip netns exec`, which remounts /sys without cgroups.
		return fmt.Errorf("remove pod %s cgroups: no cgroup filesystem is mounted in this mount namespace", podUID)
	}
	rel := r.podCgroup(podUID)
	var errs []error
	for _, m := range mounts {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("remove pod %s cgroups: %w", podUID, err)
		}
		dir := filepath.Join(m, rel)
		if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", dir, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove pod %s cgroups: %w", podUID, errors.Join(errs...))
	}
	return nil
}

// cgroupMounts returns the mount points of every cgroup (v1) and cgroup2
// filesystem, each once. Co-mounted controllers share one mount point.
func cgroupMounts() ([]string, error) {
	f, err := os.Open(mountsFile)
	if err != nil {
		return nil, fmt.Errorf("list cgroup mounts: %w", err)
	}
	defer f.Close()
	seen := map[string]bool{}
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || (fields[2] != "cgroup" && fields[2] != "cgroup2") {
			continue
		}
		mp := unescapeMount(fields[1])
		if !seen[mp] {
			seen[mp] = true
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("list cgroup mounts: %w", err)
	}
	return out, nil
}

// unescapeMount undoes the octal escapes (\040 for space, ...) of
// /proc/mounts fields.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var sb strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var v byte
			ok := true
			for _, c := range s[i+1 : i+4] {
				if c < '0' || c > '7' {
					ok = false
					break
				}
				v = v*8 + byte(c-'0')
			}
			if ok {
				sb.WriteByte(v)
				i += 3
				continue
			}
		}
		sb.WriteByte(s[i])
	}
	return sb.String()
}

// CgroupDirs returns the directory of cgroup path rel (e.g. a value of
// Runtime.ContainerCgroup) in every mounted cgroup hierarchy, whether or not
// it exists.
func CgroupDirs(rel string) ([]string, error) {
	mounts, err := cgroupMounts()
	if err != nil {
		return nil, err
	}
	dirs := make([]string, 0, len(mounts))
	for _, m := range mounts {
		dirs = append(dirs, filepath.Join(m, rel))
	}
	return dirs, nil
}

// removeCgroupTree removes cgroup path rel and every cgroup below it in
// every hierarchy, deepest first. It fails for cgroups that still hold
// processes. Used to clean up a test's cgroup root.
func removeCgroupTree(rel string) error {
	if rel == "" || rel == "/" {
		return errors.New("refusing to remove the root cgroup")
	}
	dirs, err := CgroupDirs(rel)
	if err != nil {
		return err
	}
	var errs []error
	for _, top := range dirs {
		var found []string
		err := filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				found = append(found, p)
			}
			return nil
		})
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		sort.Slice(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
		for _, d := range found {
			if err := syscall.Rmdir(d); err != nil && !errors.Is(err, syscall.ENOENT) {
				errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
			}
		}
	}
	return errors.Join(errs...)
}
