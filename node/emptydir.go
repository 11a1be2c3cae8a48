package node

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

// messageEmptyDirEvicted is the kubelet eviction manager's message for an
// emptyDir over its sizeLimit (with its trailing space).
const messageEmptyDirEvicted = "Usage of EmptyDir volume %q exceeds the limit %q. "

// setupEmptyDir makes the directory of one emptyDir volume: a plain
// directory on the node's disk, or for medium Memory a tmpfs mounted on it
// (once: a restarted agent finds it mounted).
func (a *Agent) setupEmptyDir(pod *v1.Pod, v *v1.Volume, dir string) error {
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return fmt.Errorf("emptyDir %s: %w", v.Name, err)
	}
	if v.EmptyDir.Medium != v1.MediumMemory {
		// 0777 as the kubelet's (MkdirAll honours the umask): any user
		// of any container may write; the pod dir above is 0700.
		if err := os.Chmod(dir, 0o777); err != nil {
			return fmt.Errorf("emptyDir %s: %w", v.Name, err)
		}
		return nil
	}
	mounted, err := isMountPoint(dir)
	if err != nil || mounted {
		return err
	}
	size := a.emptyDirMemorySize(pod, v.EmptyDir)
	opts := fmt.Sprintf("mode=1777,size=%d", size)
	if err := a.mountTmpfs("tmpfs", dir, unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("emptyDir %s: mount a tmpfs of %d bytes: %w", v.Name, size, err)
	}
	return nil
}

// emptyDirMemorySize is the size of a Memory emptyDir's tmpfs, as the
// kubelet's calculateEmptyDirMemorySize: the node's memory, lowered to the
// pod's memory limit when every container has one, lowered to the
// volume's sizeLimit when it is set.
func (a *Agent) emptyDirMemorySize(pod *v1.Pod, e *v1.EmptyDirVolumeSource) int64 {
	size := int64(0)
	if q, ok := a.capacity()[v1.ResourceMemory]; ok {
		size = q.Value()
	}
	var limits int64
	all := len(pod.Spec.Containers) > 0
	for i := range pod.Spec.Containers {
		q, ok := pod.Spec.Containers[i].Resources.Limits[v1.ResourceMemory]
		all = all && ok && q.Sign() > 0
		if ok {
			limits += q.Value()
		}
	}
	if all && (size == 0 || limits < size) {
		size = limits
	}
	if e.SizeLimit != nil && e.SizeLimit.Sign() > 0 && (size == 0 || e.SizeLimit.Value() < size) {
		size = e.SizeLimit.Value()
	}
	return size
}

// isMountPoint reports whether dir is on another filesystem than its parent.
func isMountPoint(dir string) (bool, error) {
	var st, parent unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return false, fmt.Errorf("stat %s: %w", dir, err)
	}
	if err := unix.Lstat(filepath.Dir(dir), &parent); err != nil {
		return false, fmt.Errorf("stat %s: %w", filepath.Dir(dir), err)
	}
	return st.Dev != parent.Dev, nil
}

// unmountEmptyDirs unmounts the tmpfs volumes of a pod's directory before
// it is removed. Idempotent.
func unmountEmptyDirs(podDir string) error {
	root := filepath.Join(podDir, volumesDir)
	ents, err := os.ReadDir(root)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list volumes: %w", err)
	}
	var errs []error
	for _, e := range ents {
		dir := filepath.Join(root, e.Name())
		mounted, err := isMountPoint(dir)
		if err != nil || !mounted {
			continue
		}
		if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
			errs = append(errs, fmt.Errorf("unmount emptyDir %s: %w", e.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// UnmountPodVolumes unmounts what the agent mounted for every pod under its
// state directory (subPath targets, shared memory, Memory emptyDirs), for
// `orchd node reset` after the agent is gone.
func UnmountPodVolumes(stateDir string) error {
	ents, err := os.ReadDir(filepath.Join(stateDir, "pods"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	var errs []error
	for _, e := range ents {
		if e.IsDir() {
			errs = append(errs, unmountPod(filepath.Join(stateDir, "pods", e.Name())))
		}
	}
	return errors.Join(errs...)
}

// checkEmptyDirUsage measures, at most once per EmptyDirCheckInterval, the
// space the pod's emptyDir volumes with a sizeLimit use, and ends the pod
// (Evicted) when one uses more than its limit, as the kubelet's eviction
// manager does.
func (w *podWorker) checkEmptyDirUsage(pod *v1.Pod) *terminalReason {
	now := w.a.cfg.Now()
	if !w.lastUsageCheck.IsZero() && now.Sub(w.lastUsageCheck) < w.a.cfg.EmptyDirCheckInterval {
		return nil
	}
	w.lastUsageCheck = now
	for _, v := range pod.Spec.Volumes {
		e := v.EmptyDir
		if e == nil || e.SizeLimit == nil || e.SizeLimit.Sign() <= 0 {
			continue
		}
		used, err := dirUsage(filepath.Join(w.a.podDir(w.uid), volumesDir, v.Name))
		if err != nil {
			w.log.Warn("measure emptyDir usage", "volume", v.Name, "err", err)
			continue
		}
		if resource.NewQuantity(used, resource.BinarySI).Cmp(*e.SizeLimit) > 0 {
			w.log.Info("emptyDir over its sizeLimit; evicting the pod", "pod", pod.Namespace+"/"+pod.Name,
				"volume", v.Name, "used", used, "limit", e.SizeLimit.String())
			return &terminalReason{ReasonEvicted, fmt.Sprintf(messageEmptyDirEvicted, v.Name, e.SizeLimit.String())}
		}
	}
	return nil
}
