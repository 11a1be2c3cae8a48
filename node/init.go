package node

import (
	"context"
	"time"

	v1 "orch.io/orch/api/v1"
)

// initRestartPolicy is how init containers restart under the pod's policy,
// as the kubelet does: they run until they succeed, so a failed one is
// restarted (with the crash back-off) unless the pod's policy is Never, in
// which case the pod fails.
func initRestartPolicy(podPolicy string) string {
	if podPolicy == v1.RestartNever {
		return v1.RestartNever
	}
	return v1.RestartOnFailure
}

// syncInit runs the pod's init containers one at a time, in order, each
// to success, before any app container starts (the kubelet's
// computePodActions). It reports whether the pod is initialized and when
// to look again.
//
// Init containers never run twice: once all succeeded, or once an app
// container of the pod is known to have been started (a restarted agent
// adopting a running pod whose init containers were removed), the pod
// stays initialized.
func (w *podWorker) syncInit(ctx context.Context, pod *v1.Pod) (bool, time.Duration) {
	if w.initDone || len(pod.Spec.InitContainers) == 0 || w.appStarted(pod) {
		w.initDone = true
		return true, 0
	}
	policy := initRestartPolicy(pod.Spec.RestartPolicy)
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		st := w.state(c.Name)
		w.mu.Lock()
		done := st.exited && !st.running && st.exitCode == 0
		w.mu.Unlock()
		if done {
			continue
		}
		return false, w.syncContainer(ctx, pod, c, st, policy)
	}
	w.initDone = true
	w.log.Info("pod initialized", "pod", pod.Namespace+"/"+pod.Name)
	return true, 0
}

// appStarted reports whether an app container of the pod was ever started
// on this node: one the worker runs or adopted, or one the pod's last
// reported status shows with a container ID.
func (w *podWorker) appStarted(pod *v1.Pod) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for i := range pod.Spec.Containers {
		if st := w.containers[pod.Spec.Containers[i].Name]; st != nil && (st.id != "" || st.exited || st.last != nil) {
			return true
		}
	}
	if c := pod.Status.Condition(v1.PodInitialized); c != nil && c.Status == v1.ConditionTrue && pod.Status.StartTime != nil {
		for _, cs := range pod.Status.ContainerStatuses {
			if cs.ContainerID != "" {
				return true
			}
		}
	}
	return false
}
