package node

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// podStatus computes the pod's status from what the worker knows.
func (w *podWorker) podStatus(pod *v1.Pod) v1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := v1.NewTime(w.a.cfg.Now())
	st := v1.PodStatus{HostIP: w.a.cfg.NodeIP, StartTime: w.startTime, QOSClass: pod.Status.QOSClass}
	if w.sandbox != nil {
		st.PodIP = w.sandbox.IP.String()
		st.PodIPs = []v1.PodIP{{IP: st.PodIP}}
	}
	// Counted as the kubelet does: waiting = never started yet; stopped =
	// exited at least once (restarting or not).
	allReady, running, waiting, stopped, succeeded := true, 0, 0, 0, 0
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs := v1.ContainerStatus{Name: c.Name, Image: c.Image}
		s := w.containers[c.Name]
		if s == nil {
			s = &containerState{}
		}
		cs.RestartCount, cs.ImageID, cs.ContainerID = s.restarts, s.imageID, containerURI(s.id)
		if s.last != nil {
			cs.LastState.Terminated = s.last
		}
		started := s.running
		cs.Started = &started
		switch {
		case s.running:
			running++
			cs.State.Running = &v1.ContainerStateRunning{StartedAt: v1.NewTime(s.startedAt)}
			cs.Ready = s.ready || (c.ReadinessProbe == nil)
		case s.exited:
			stopped++
			if s.exitCode == 0 {
				succeeded++
			}
			if s.waitReason != "" && shouldRestart(pod.Spec.RestartPolicy, s.exitCode) {
				cs.State.Waiting = &v1.ContainerStateWaiting{Reason: s.waitReason, Message: s.waitMessage}
				cs.LastState.Terminated = terminatedState(s)
			} else {
				cs.State.Terminated = terminatedState(s)
			}
		case s.last != nil:
			// Between two attempts (a start that failed): it ran before.
			stopped++
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: s.waitReason, Message: s.waitMessage}
		default:
			waiting++
			reason := s.waitReason
			if reason == "" {
				reason = "ContainerCreating"
			}
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: reason, Message: s.waitMessage}
		}
		if !cs.Ready {
			allReady = false
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	total := len(pod.Spec.Containers)
	switch {
	case waiting > 0:
		st.Phase = v1.PodPending
	case running > 0:
		st.Phase = v1.PodRunning
	case pod.Spec.RestartPolicy == v1.RestartAlways || pod.Spec.RestartPolicy == "":
		st.Phase = v1.PodRunning
	case succeeded == stopped:
		st.Phase = v1.PodSucceeded
	case pod.Spec.RestartPolicy == v1.RestartOnFailure:
		st.Phase = v1.PodRunning
	default:
		st.Phase = v1.PodFailed
	}
	ready := v1.ConditionFalse
	reason := "ContainersNotReady"
	if allReady && total > 0 {
		ready, reason = v1.ConditionTrue, ""
	}
	conds := keepCondition(pod.Status.Conditions, v1.PodScheduled)
	conds = setCond(pod, conds, v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue}, now)
	conds = setCond(pod, conds, v1.PodCondition{Type: v1.ContainersReady, Status: ready, Reason: reason}, now)
	conds = setCond(pod, conds, v1.PodCondition{Type: v1.PodReady, Status: ready, Reason: reason}, now)
	st.Conditions = conds
	return st
}

// pendingStatus is the status of a pod whose sandbox could not be made.
func (w *podWorker) pendingStatus(pod *v1.Pod, reason, msg string) v1.PodStatus {
	st := w.podStatus(pod)
	st.Phase, st.Reason, st.Message = v1.PodPending, reason, msg
	return st
}

func keepCondition(conds []v1.PodCondition, t string) []v1.PodCondition {
	for _, c := range conds {
		if c.Type == t {
			return []v1.PodCondition{c}
		}
	}
	return nil
}

// setCond adds c, keeping the stored transition time while the status stays.
func setCond(pod *v1.Pod, conds []v1.PodCondition, c v1.PodCondition, now v1.Time) []v1.PodCondition {
	c.LastTransitionTime = now
	if old := pod.Status.Condition(c.Type); old != nil && old.Status == c.Status {
		c.LastTransitionTime = old.LastTransitionTime
	}
	return append(conds, c)
}

// statusManager sends pod statuses to the API. It keeps the newest status
// per pod and retries until a master takes it, so statuses computed while
// no master answers arrive when one returns.
type statusManager struct {
	client *client.Client
	log    *slog.Logger

	mu      sync.Mutex
	pending map[string]*statusUpdate // by pod UID
	sent    map[string][]byte        // last status JSON acknowledged, by pod UID
	wake    chan struct{}
}

type statusUpdate struct {
	namespace, name, uid string
	status               []byte
}

func newStatusManager(c *client.Client, log *slog.Logger) *statusManager {
	return &statusManager{client: c, log: log, pending: map[string]*statusUpdate{}, sent: map[string][]byte{}, wake: make(chan struct{}, 1)}
}

// set queues a pod's status unless it equals the last one sent.
func (m *statusManager) set(pod *v1.Pod, st v1.PodStatus) {
	b, err := json.Marshal(st)
	if err != nil {
		return
	}
	m.mu.Lock()
	if bytes.Equal(m.sent[pod.UID], b) {
		delete(m.pending, pod.UID)
		m.mu.Unlock()
		return
	}
	m.pending[pod.UID] = &statusUpdate{namespace: pod.Namespace, name: pod.Name, uid: pod.UID, status: b}
	m.mu.Unlock()
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// forget drops a pod that was torn down.
func (m *statusManager) forget(uid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pending, uid)
	delete(m.sent, uid)
}

// run sends pending statuses until ctx ends.
func (m *statusManager) run(ctx context.Context) {
	retry := time.NewTicker(time.Second)
	defer retry.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-retry.C:
		}
		m.mu.Lock()
		batch := make([]*statusUpdate, 0, len(m.pending))
		for _, u := range m.pending {
			batch = append(batch, u)
		}
		m.mu.Unlock()
		for _, u := range batch {
			err := m.send(ctx, u)
			m.mu.Lock()
			switch {
			case err == nil:
				m.sent[u.uid] = u.status
				if m.pending[u.uid] == u {
					delete(m.pending, u.uid)
				}
			case v1.IsNotFound(err) || v1.CodeOf(err) == 409 || v1.CodeOf(err) == 422:
				// The pod is gone or is another pod now.
				if m.pending[u.uid] == u {
					delete(m.pending, u.uid)
				}
			default:
				if ctx.Err() == nil {
					m.log.Warn("pod status update failed; will retry", "pod", u.namespace+"/"+u.name, "err", err)
				}
			}
			m.mu.Unlock()
		}
	}
}

func (m *statusManager) send(ctx context.Context, u *statusUpdate) error {
	patch := []byte(`{"metadata":{"uid":` + jsonString(u.uid) + `},"status":`)
	patch = append(patch, u.status...)
	patch = append(patch, '}')
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out v1.Pod
	return m.client.PatchStatus(ctx, "pods", u.namespace, u.name, patch, &out)
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
