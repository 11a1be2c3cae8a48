package node

import "golang.org/x/sys/unix"

// mountTmpfs mounts a tmpfs on dir with Config.MountTmpfs, or with
// mount(2) when that is nil (a real node).
func (a *Agent) mountTmpfs(source, dir string, flags uintptr, data string) error {
	if a.cfg.MountTmpfs != nil {
		return a.cfg.MountTmpfs(source, dir, flags, data)
	}
	return unix.Mount(source, dir, "tmpfs", flags, data)
}
