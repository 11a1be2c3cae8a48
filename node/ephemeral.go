package node

import (
	"context"
	"fmt"
	"time"

	v1 "orch.io/orch/api/v1"
)

// ephemeralContainer returns the pod's ephemeral container of that name as
// a Container (the fields are the same), or nil.
func ephemeralContainer(pod *v1.Pod, name string) (*v1.Container, *v1.EphemeralContainer) {
	for i := range pod.Spec.EphemeralContainers {
		ec := &pod.Spec.EphemeralContainers[i]
		if ec.Name == name {
			c := v1.Container(ec.EphemeralContainerCommon)
			return &c, ec
		}
	}
	return nil, nil
}

// syncEphemeral starts each ephemeral container of the running pod once,
// as the kubelet does: it is never restarted, whatever its exit (a start
// that failed, such as an image pull, is retried with back-off). One
// reported as started before an agent restart, whose container is gone,
// keeps its reported status.
func (w *podWorker) syncEphemeral(ctx context.Context, pod *v1.Pod) time.Duration {
	var again time.Duration
	for i := range pod.Spec.EphemeralContainers {
		name := pod.Spec.EphemeralContainers[i].Name
		w.mu.Lock()
		st := w.containers[name]
		w.mu.Unlock()
		if st == nil {
			if old := reportedStatus(pod.Status.EphemeralContainerStatuses, name); old != nil &&
				(old.State.Running != nil || old.State.Terminated != nil) {
				continue
			}
		}
		c, _ := ephemeralContainer(pod, name)
		d := w.syncContainer(ctx, pod, c, w.state(name), v1.RestartNever)
		if d > 0 && (again == 0 || d < again) {
			again = d
		}
	}
	return again
}

// ephemeralStatuses are the ephemeral containers' statuses, in spec order
// (never ready, as in Kubernetes). The caller holds w.mu.
func (w *podWorker) ephemeralStatuses(pod *v1.Pod) []v1.ContainerStatus {
	var out []v1.ContainerStatus
	for i := range pod.Spec.EphemeralContainers {
		name := pod.Spec.EphemeralContainers[i].Name
		if old := reportedStatus(pod.Status.EphemeralContainerStatuses, name); w.containers[name] == nil && old != nil &&
			(old.State.Running != nil || old.State.Terminated != nil) {
			out = append(out, *old) // adopted without its container: keep what was reported
			continue
		}
		c, _ := ephemeralContainer(pod, name)
		cs, _ := w.containerStatus(c, v1.RestartNever, "ContainerCreating")
		cs.Ready = false
		out = append(out, cs)
	}
	return out
}

// pidNamespaceOwner names the container whose PID namespace the named
// container joins, "" for a namespace of its own (or the node's with
// hostPID). With shareProcessNamespace the pod's first container owns the
// pod's namespace (it is PID 1 there) and every other app and ephemeral
// container joins it; init containers, which run before it, have their
// own. Otherwise an ephemeral container with targetContainerName joins
// its target's, as the kubelet does.
func pidNamespaceOwner(pod *v1.Pod, name string) string {
	if pod.Spec.HostPID || len(pod.Spec.Containers) == 0 {
		return ""
	}
	_, ec := ephemeralContainer(pod, name)
	if s := pod.Spec.ShareProcessNamespace; s != nil && *s {
		first := pod.Spec.Containers[0].Name
		if name == first {
			return ""
		}
		for _, c := range pod.Spec.InitContainers {
			if c.Name == name {
				return ""
			}
		}
		return first
	}
	if ec != nil && ec.TargetContainerName != name {
		return ec.TargetContainerName
	}
	return ""
}

// pidNamespace is the PID namespace file the named container joins
// (/proc/PID/ns/pid of its owner's process), "" for its own. The owner
// must be running.
func (w *podWorker) pidNamespace(ctx context.Context, pod *v1.Pod, name string) (string, error) {
	owner := pidNamespaceOwner(pod, name)
	if owner == "" {
		return "", nil
	}
	w.mu.Lock()
	st := w.containers[owner]
	id := ""
	if st != nil && st.running {
		id = st.id
	}
	w.mu.Unlock()
	if id == "" {
		return "", fmt.Errorf("container %q, whose process namespace %s joins, is not running", owner, name)
	}
	cs, err := w.a.cfg.Runtime.ListContainers(ctx)
	if err != nil {
		return "", fmt.Errorf("process namespace of %s: %w", owner, err)
	}
	for _, c := range cs {
		if c.ID == id && c.PID > 0 {
			return fmt.Sprintf("/proc/%d/ns/pid", c.PID), nil
		}
	}
	return "", fmt.Errorf("container %q, whose process namespace %s joins, is not running", owner, name)
}
