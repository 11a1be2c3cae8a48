package node

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	v1 "orch.io/orch/api/v1"
)

// defaultShmSize is the size of a pod's /dev/shm: 64 MiB, Kubernetes' and
// containerd's default.
const defaultShmSize = 64 << 20

// shmPath is where a container sees its pod's shared memory.
const shmPath = "/dev/shm"

// Mount options of what the agent gives a container. Every bind mount of a
// pod's files carries nosuid and nodev, so nothing a container writes
// becomes a setuid binary or a device; shared memory is also noexec, as
// containerd's /dev/shm. hostPath volumes get none, as in Kubernetes (they
// are for privileged pods).
func shmMountOptions() []string    { return []string{"nosuid", "nodev", "noexec"} }
func volumeMountOptions() []string { return []string{"nosuid", "nodev"} }
func fileMountOptions() []string   { return []string{"nosuid", "nodev", "noexec"} }

// podVolume is one volume of a pod as the node provides it.
type podVolume struct {
	path     string   // on the node
	options  []string // mount options of every mount of it
	hostPath bool
	readOnly bool // mounted read-only whatever the container asks
	// atomic: written by the agent's atomic writer, whose top-level names
	// are links through "..data" (a subPath is resolved through them).
	atomic bool
}

// mountsAt reports whether the container mounts a volume at dir.
func mountsAt(c *v1.Container, dir string) bool {
	for _, m := range c.VolumeMounts {
		if path.Clean(m.MountPath) == dir {
			return true
		}
	}
	return false
}

// needsShm reports whether a container of the pod gets the pod's /dev/shm
// (a container that mounts a volume there, such as a Memory emptyDir, uses
// that instead).
func needsShm(pod *v1.Pod) bool {
	for _, cs := range [][]v1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range cs {
			if !mountsAt(&cs[i], shmPath) {
				return true
			}
		}
	}
	return false
}

// setupShm mounts the pod's shared memory, a tmpfs of defaultShmSize with
// mode 1777, nosuid, nodev and noexec, on dir (made 0700 first). A tmpfs
// already there (a restarted agent) is kept.
func (a *Agent) setupShm(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("pod shm: %w", err)
	}
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	opts := fmt.Sprintf("mode=1777,size=%d", defaultShmSize)
	if err := a.mountTmpfs("shm", dir, unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); err != nil {
		return fmt.Errorf("pod shm: mount a tmpfs: %w", err)
	}
	return nil
}

// podVolumes resolves every volume of the pod to what a container mounts,
// making and checking hostPath volumes as the kubelet's hostPath plugin.
func (w *podWorker) podVolumes(pod *v1.Pod) (map[string]podVolume, error) {
	dir := w.a.podDir(w.uid)
	vols := make(map[string]podVolume, len(pod.Spec.Volumes))
	for _, v := range pod.Spec.Volumes {
		switch {
		case v.EmptyDir != nil:
			vols[v.Name] = podVolume{path: filepath.Join(dir, volumesDir, v.Name), options: volumeMountOptions()}
		case v.Projected != nil, v.ConfigMap != nil, v.Secret != nil, v.DownwardAPI != nil:
			vols[v.Name] = podVolume{path: filepath.Join(dir, volumesDir, v.Name), options: fileMountOptions(), readOnly: true, atomic: true}
		case v.HostPath != nil:
			if err := checkHostPath(v.HostPath); err != nil {
				return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
			}
			vols[v.Name] = podVolume{path: v.HostPath.Path, hostPath: true}
		}
	}
	return vols, nil
}

// volumeMounts returns the container's volume mounts. A subPath is resolved
// inside its volume without following a symlink out of it and mounted by
// the agent on a target of its own, which the runtime gets instead (the
// kubelet's fix of CVE-2017-1002101).
func (w *podWorker) volumeMounts(pod *v1.Pod, c *v1.Container) ([]Mount, error) {
	vols, err := w.podVolumes(pod)
	if err != nil {
		return nil, err
	}
	var out []Mount
	for i, m := range c.VolumeMounts {
		vol, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s: the pod has no volume of that name", m.Name)
		}
		src := vol.path
		if m.SubPath != "" {
			src, err = w.subPath(vol, m.Name, m.SubPath, c.Name, i)
			if err != nil {
				return nil, err
			}
		}
		out = append(out, Mount{Source: src, Destination: m.MountPath, ReadOnly: m.ReadOnly || vol.readOnly, Options: vol.options})
	}
	return out, nil
}

// subPath prepares one subPath mount. The error the pod shows names no
// host path, as the kubelet's; the cause goes to the agent's log.
func (w *podWorker) subPath(vol podVolume, name, subPath, container string, index int) (string, error) {
	perm := os.FileMode(0o755)
	if st, err := os.Stat(vol.path); err == nil {
		perm = st.Mode().Perm()
	}
	target := subPathTarget(w.a.podDir(w.uid), name, container, index)
	if vol.atomic {
		// The agent wrote the volume: its only links are "..data" and the
		// top-level names through it. A subPath is the file of the data
		// directory of the moment, and keeps it across updates, as in
		// Kubernetes.
		ts, err := os.Readlink(filepath.Join(vol.path, dataDirName))
		if err != nil || strings.Contains(ts, "/") {
			return "", fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q", name, container)
		}
		subPath = filepath.Join(ts, subPath)
	}
	src, err := prepareSubPath(vol.path, subPath, target, perm)
	if err != nil {
		w.log.Warn("failed to prepare subPath for volumeMount of the container",
			"volume", name, "container", container, "subPath", subPath, "err", err)
		return "", fmt.Errorf("failed to prepare subPath for volumeMount %q of container %q", name, container)
	}
	return src, nil
}

// unmountPod unmounts everything the agent mounted in a pod's directory
// (subPath targets, shared memory, Memory emptyDirs), so the directory can
// be removed without reaching into a mount. Idempotent.
func unmountPod(podDir string) error {
	var errs []error
	errs = append(errs, cleanSubPaths(podDir))
	shm := filepath.Join(podDir, shmDir)
	if mounted, err := isMountPoint(shm); err == nil && mounted {
		if err := unix.Unmount(shm, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount the pod's shm: %w", err))
		}
	}
	errs = append(errs, unmountEmptyDirs(podDir))
	return errors.Join(errs...)
}
