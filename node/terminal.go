package node

import (
	"context"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
)

// Reasons and messages of pods the node ends, worded as the kubelet's.
const (
	ReasonDeadlineExceeded  = "DeadlineExceeded"
	MessageDeadlineExceeded = "Pod was active on the node longer than the specified deadline"
	ReasonEvicted           = "Evicted"
)

// terminalReason says why the node ended a pod (phase Failed).
type terminalReason struct {
	reason, message string
}

// checkTerminal decides whether the pod must end now: the status the API
// holds already says so (an agent restarted after ending it), its
// activeDeadlineSeconds passed (the kubelet's activeDeadlineHandler), or
// an emptyDir outgrew its sizeLimit (the eviction manager). Otherwise it
// returns how long until the deadline, to look again then.
func (w *podWorker) checkTerminal(pod *v1.Pod) (*terminalReason, time.Duration) {
	if pod.Status.Phase == v1.PodFailed && (pod.Status.Reason == ReasonDeadlineExceeded || pod.Status.Reason == ReasonEvicted) {
		return &terminalReason{pod.Status.Reason, pod.Status.Message}, 0
	}
	var again time.Duration
	if d := pod.Spec.ActiveDeadlineSeconds; d != nil && w.startTime != nil {
		left := w.startTime.Add(time.Duration(*d) * time.Second).Sub(w.a.cfg.Now())
		if left <= 0 {
			w.log.Info("pod passed its active deadline", "pod", pod.Namespace+"/"+pod.Name, "activeDeadlineSeconds", *d)
			return &terminalReason{ReasonDeadlineExceeded, MessageDeadlineExceeded}, 0
		}
		again = left
	}
	if t := w.checkEmptyDirUsage(pod); t != nil {
		return t, 0
	}
	return nil, again
}

// killAll stops every running container of an ended pod; none restarts.
// The containers stay (stopped) until the pod is deleted. It returns when
// to try again if a stop failed.
func (w *podWorker) killAll(ctx context.Context, pod *v1.Pod) time.Duration {
	w.stopAllProbes()
	grace := podGrace(pod)
	var again time.Duration
	w.mu.Lock()
	var running []*containerState
	for _, st := range w.containers {
		st.waitReason, st.waitMessage = "", ""
		if st.running {
			running = append(running, st)
		}
	}
	w.mu.Unlock()
	for _, st := range running {
		w.a.cfg.Recorder.RefEventf(events.ContainerRef(pod, st.name), v1.EventTypeNormal, "Killing", "Stopping container %s", st.name)
		if err := w.a.cfg.Runtime.StopContainer(ctx, st.id, grace); err != nil {
			w.log.Warn("stop the container of an ended pod", "container", st.name, "err", err)
			again = time.Second
			continue
		}
		w.mu.Lock()
		if st.running {
			st.running, st.exited, st.ready, st.exitCode, st.finishedAt = false, true, false, 137, w.a.cfg.Now()
		}
		w.mu.Unlock()
	}
	return again
}
