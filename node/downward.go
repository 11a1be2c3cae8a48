package node

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "orch.io/orch/api/v1"
)

// The downward API as the kubelet resolves it: fields of the pod
// (podFieldSelectorRuntimeValue and fieldpath.ExtractFieldPathAsString)
// and resources of a container (resource.ExtractContainerResourceValue,
// a missing limit read as the node's allocatable), for environment
// variables and for the files of downwardAPI volumes and projected
// sources. The files are rewritten on every sync of the pod, so a change
// of its labels or annotations reaches them within DownwardAPISyncPeriod.

// DownwardAPISyncPeriod is how often the agent rewrites a pod's downward
// API files (as often as ConfigMap volumes; a pod update rewrites them at
// once too).
const DownwardAPISyncPeriod = ConfigMapSyncPeriod

// fieldRef resolves a field of the pod, as the kubelet: the fields of
// env (addresses, node, service account) and of fieldpath (metadata,
// labels and annotations, whole or one key).
func (w *podWorker) fieldRef(pod *v1.Pod, fieldPath string) (string, error) {
	switch fieldPath {
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		// orch's nodes have one address.
		return w.a.cfg.NodeIP, nil
	case "status.podIP", "status.podIPs":
		if w.sandbox != nil && w.sandbox.IP != nil {
			return w.sandbox.IP.String(), nil
		}
		return "", nil
	}
	return podMetadataField(pod, fieldPath)
}

// podMetadataField is Kubernetes' fieldpath.ExtractFieldPathAsString over
// a pod.
func podMetadataField(pod *v1.Pod, fieldPath string) (string, error) {
	if path, key, ok := v1.SplitSubscriptedPath(fieldPath); ok {
		switch path {
		case "metadata.annotations":
			return pod.Annotations[key], nil
		case "metadata.labels":
			return pod.Labels[key], nil
		}
		return "", fmt.Errorf("fieldPath %q does not support subscript", fieldPath)
	}
	switch fieldPath {
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	}
	return "", fmt.Errorf("unsupported fieldPath: %v", fieldPath)
}

// formatMap is Kubernetes' fieldpath.FormatMap: key="value" lines (the
// value quoted as Go does), keys sorted, no final newline.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%v=%q", k, m[k])
	}
	return b.String()
}

// resourceFieldRef resolves a resource of a container: the named one of
// the pod, or c when the selector names none (env only).
func (w *podWorker) resourceFieldRef(pod *v1.Pod, c *v1.Container, fs *v1.ResourceFieldSelector) (string, error) {
	if fs.ContainerName != "" {
		c = findContainer(pod, fs.ContainerName)
		if c == nil {
			return "", fmt.Errorf("container %s not found", fs.ContainerName)
		}
	}
	return containerResourceValue(fs, c.Resources, w.a.capacity())
}

// findContainer returns the pod's container (or init container) of that name.
func findContainer(pod *v1.Pod, name string) *v1.Container {
	for _, cs := range [][]v1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range cs {
			if cs[i].Name == name {
				return &cs[i]
			}
		}
	}
	return nil
}

// containerResourceValue is Kubernetes'
// ExtractResourceValueByContainerNameAndNodeAllocatable: a limit the
// container lacks is the node's allocatable (MergeContainerResourceLimits),
// a missing request is 0, and the value divided by the divisor (1 unset)
// is rounded up.
func containerResourceValue(fs *v1.ResourceFieldSelector, r v1.ResourceRequirements, allocatable v1.ResourceList) (string, error) {
	divisor := fs.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	kind, name, _ := strings.Cut(fs.Resource, ".")
	var list v1.ResourceList
	switch kind {
	case "limits":
		list = r.Limits
	case "requests":
		list = r.Requests
	default:
		return "", fmt.Errorf("unsupported container resource : %v", fs.Resource)
	}
	q, ok := list[v1.ResourceName(name)]
	if !ok && kind == "limits" {
		q, ok = allocatable[v1.ResourceName(name)]
	}
	if !ok {
		q = resource.Quantity{}
	}
	switch v1.ResourceName(name) {
	case v1.ResourceCPU:
		return strconv.FormatInt(int64(math.Ceil(float64(q.MilliValue())/float64(divisor.MilliValue()))), 10), nil
	case v1.ResourceMemory, v1.ResourceEphemeralStorage:
		return strconv.FormatInt(int64(math.Ceil(float64(q.Value())/float64(divisor.Value()))), 10), nil
	}
	return "", fmt.Errorf("unsupported container resource : %v", fs.Resource)
}

// downwardAPIFiles adds the files of downward API items: each item's
// value, with its mode or defaultMode.
func (w *podWorker) downwardAPIFiles(pod *v1.Pod, items []v1.DownwardAPIVolumeFile, defaultMode os.FileMode, files map[string]projectedFile) error {
	for _, it := range items {
		var val string
		var err error
		switch {
		case it.FieldRef != nil:
			val, err = podMetadataField(pod, it.FieldRef.FieldPath)
		case it.ResourceFieldRef != nil:
			val, err = w.resourceFieldRef(pod, nil, it.ResourceFieldRef)
		}
		if err != nil {
			return fmt.Errorf("error collecting data for %s: %w", it.Path, err)
		}
		mode := defaultMode
		if it.Mode != nil {
			mode = os.FileMode(*it.Mode) & 0o777
		}
		files[it.Path] = projectedFile{data: []byte(val), mode: mode}
	}
	return nil
}

// syncDownwardAPIVolume writes one downwardAPI volume.
func (w *podWorker) syncDownwardAPIVolume(pod *v1.Pod, v *v1.Volume) error {
	dir := filepath.Join(w.a.podDir(w.uid), volumesDir, v.Name)
	if err := w.a.setupProjectedDir(dir); err != nil {
		return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
	}
	mode := os.FileMode(v1.DownwardAPIVolumeDefaultMode)
	if m := v.DownwardAPI.DefaultMode; m != nil {
		mode = os.FileMode(*m) & 0o777
	}
	files := map[string]projectedFile{}
	if err := w.downwardAPIFiles(pod, v.DownwardAPI.Items, mode, files); err != nil {
		return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
	}
	if err := writeAtomic(dir, files, volumeGroup(pod, files)); err != nil {
		return fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
	}
	return nil
}

// usesDownwardAPIVolumes reports whether a pod has files of the downward
// API, which the worker rewrites every DownwardAPISyncPeriod.
func usesDownwardAPIVolumes(pod *v1.Pod) bool {
	for _, v := range pod.Spec.Volumes {
		if v.DownwardAPI != nil {
			return true
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.DownwardAPI != nil {
					return true
				}
			}
		}
	}
	return false
}
