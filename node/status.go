package node

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// podStatus computes the pod's status from what the worker knows, as the
// kubelet's generateAPIPodStatus does: init containers' statuses, the
// phase (getPhase), the Initialized, ContainersReady and Ready conditions,
// and a terminal reason (DeadlineExceeded, Evicted) when the node ended
// the pod.
func (w *podWorker) podStatus(pod *v1.Pod) v1.PodStatus {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := v1.NewTime(w.a.cfg.Now())
	st := v1.PodStatus{HostIP: w.a.cfg.NodeIP, StartTime: w.startTime, QOSClass: pod.Status.QOSClass}
	if w.sandbox != nil {
		st.PodIP = w.sandbox.IP.String()
		st.PodIPs = []v1.PodIP{{IP: st.PodIP}}
	}
	hasInit := len(pod.Spec.InitContainers) > 0
	// Init containers: pending = not yet run to success; failed = the last
	// attempt exited non-zero (kubelet's getPhase).
	initPolicy := initRestartPolicy(pod.Spec.RestartPolicy)
	pendingInit, failedInit := 0, 0
	var incomplete []string
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cs, k := w.containerStatus(c, initPolicy, "PodInitializing")
		if old := reportedStatus(pod.Status.InitContainerStatuses, c.Name); w.containers[c.Name] == nil && old != nil && old.State.Terminated != nil {
			// Adopted without its (removed) container: keep what was reported.
			cs, k = *old, kindExited
		}
		cs.Ready = false // an init container is ready once it succeeded
		switch {
		case cs.State.Terminated != nil && cs.State.Terminated.ExitCode == 0:
			cs.Ready = true
		case cs.State.Terminated != nil:
			failedInit++
		case cs.State.Waiting != nil && cs.LastState.Terminated != nil && cs.LastState.Terminated.ExitCode != 0:
			failedInit++
		default:
			pendingInit++
		}
		if !cs.Ready {
			incomplete = append(incomplete, c.Name)
		}
		cs.Started = new(k == kindRunning)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	initialized := w.initDone || len(incomplete) == 0
	if initialized {
		pendingInit, failedInit = 0, 0
	}
	// Counted as the kubelet does: waiting = never started yet; stopped =
	// exited at least once (restarting or not).
	defaultWait := "ContainerCreating"
	if hasInit {
		defaultWait = "PodInitializing"
	}
	allReady, running, waiting, stopped, succeeded := true, 0, 0, 0, 0
	var unready []string
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cs, k := w.containerStatus(c, pod.Spec.RestartPolicy, defaultWait)
		switch k {
		case kindRunning:
			running++
		case kindExited:
			stopped++
			if s := w.containers[c.Name]; s != nil && s.exited && s.exitCode == 0 {
				succeeded++
			}
		case kindWaiting:
			waiting++
		}
		if !cs.Ready {
			allReady = false
			unready = append(unready, c.Name)
		}
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
	}
	st.EphemeralContainerStatuses = w.ephemeralStatuses(pod)
	total := len(pod.Spec.Containers)
	switch {
	case w.terminal != nil:
		st.Phase, st.Reason, st.Message = v1.PodFailed, w.terminal.reason, w.terminal.message
	case failedInit > 0 && pod.Spec.RestartPolicy == v1.RestartNever:
		st.Phase = v1.PodFailed
	case pendingInit > 0 || failedInit > 0 || waiting > 0:
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
	reason, msg := "ContainersNotReady", fmt.Sprintf("containers with unready status: [%s]", strings.Join(unready, " "))
	if allReady && total > 0 {
		ready, reason, msg = v1.ConditionTrue, "", ""
	}
	if st.Phase == v1.PodFailed || st.Phase == v1.PodSucceeded {
		ready, reason, msg = v1.ConditionFalse, "PodCompleted", ""
		if st.Phase == v1.PodFailed {
			reason = "PodFailed"
		}
	}
	init := v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionTrue}
	if !initialized {
		init = v1.PodCondition{Type: v1.PodInitialized, Status: v1.ConditionFalse, Reason: "ContainersNotInitialized",
			Message: fmt.Sprintf("containers with incomplete status: [%s]", strings.Join(incomplete, " "))}
	}
	conds := keepCondition(pod.Status.Conditions, v1.PodScheduled)
	conds = setCond(pod, conds, init, now)
	conds = setCond(pod, conds, v1.PodCondition{Type: v1.ContainersReady, Status: ready, Reason: reason, Message: msg}, now)
	conds = setCond(pod, conds, v1.PodCondition{Type: v1.PodReady, Status: ready, Reason: reason, Message: msg}, now)
	st.Conditions = conds
	return st
}

// reportedStatus is the named container's status as last reported, or nil.
func reportedStatus(statuses []v1.ContainerStatus, name string) *v1.ContainerStatus {
	for i := range statuses {
		if statuses[i].Name == name {
			return &statuses[i]
		}
	}
	return nil
}

// What a container's status counts as in the pod's phase.
type containerKind int

const (
	kindWaiting containerKind = iota // never started yet
	kindRunning
	kindExited // exited at least once, restarting or not
)

// containerStatus is one container's status under the given restart
// policy; defaultWait is the waiting reason before it was ever started.
// The caller holds w.mu.
func (w *podWorker) containerStatus(c *v1.Container, policy, defaultWait string) (v1.ContainerStatus, containerKind) {
	cs := v1.ContainerStatus{Name: c.Name, Image: c.Image}
	s := w.containers[c.Name]
	if s == nil {
		s = &containerState{}
	}
	cs.RestartCount, cs.ImageID, cs.ContainerID = s.restarts, s.imageID, containerURI(s.id)
	if s.last != nil {
		cs.LastState.Terminated = s.last
	}
	// Started: the process runs and its startup probe, if any, succeeded.
	started := s.running && (c.StartupProbe == nil || s.started)
	cs.Started = &started
	var k containerKind
	switch {
	case s.running:
		k = kindRunning
		cs.State.Running = &v1.ContainerStateRunning{StartedAt: v1.NewTime(s.startedAt)}
		cs.Ready = started && (s.ready || c.ReadinessProbe == nil)
	case s.exited:
		k = kindExited
		if s.waitReason != "" && w.terminal == nil && shouldRestart(policy, s.exitCode) {
			cs.State.Waiting = &v1.ContainerStateWaiting{Reason: s.waitReason, Message: s.waitMessage}
			cs.LastState.Terminated = terminatedState(s)
		} else {
			cs.State.Terminated = terminatedState(s)
		}
	case s.last != nil:
		// Between two attempts (a start that failed): it ran before.
		k = kindExited
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: s.waitReason, Message: s.waitMessage}
	default:
		k = kindWaiting
		reason := s.waitReason
		if reason == "" {
			reason = defaultWait
		}
		cs.State.Waiting = &v1.ContainerStateWaiting{Reason: reason, Message: s.waitMessage}
	}
	return cs, k
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
// no master answers arrive when one returns. Statuses of different pods
// are sent concurrently (up to statusSenders at once; the masters commit
// concurrent writes in one Raft entry), those of one pod one at a time and
// in order: a pod's newer status waits for its older one's answer.
type statusManager struct {
	client *client.Client
	log    *slog.Logger

	mu      sync.Mutex
	pending map[string]*statusUpdate // by pod UID
	sent    map[string][]byte        // last status JSON acknowledged, by pod UID
	// inflight holds the pods whose status is being sent: true once the
	// pod was forgotten meanwhile, so the answer records nothing for it.
	inflight map[string]bool
	wake     chan struct{}
}

// statusSenders bounds the status updates in flight at once. The kubelet
// sends one at a time (its API client's QPS limits the rate); a burst of
// pods starting on one node would then wait in line for each other's
// writes.
const statusSenders = 8

// statusRetry is how often statuses that failed to send are tried again.
const statusRetry = time.Second

type statusUpdate struct {
	namespace, name, uid string
	status               []byte
	// phase and queued (when set was called) are for the debug log.
	phase  string
	queued time.Time
}

func newStatusManager(c *client.Client, log *slog.Logger) *statusManager {
	return &statusManager{client: c, log: log, pending: map[string]*statusUpdate{}, sent: map[string][]byte{},
		inflight: map[string]bool{}, wake: make(chan struct{}, 1)}
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
	m.pending[pod.UID] = &statusUpdate{namespace: pod.Namespace, name: pod.Name, uid: pod.UID, status: b,
		phase: st.Phase, queued: time.Now()}
	m.mu.Unlock()
	m.poke()
}

// poke wakes the run loop.
func (m *statusManager) poke() {
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
	if _, ok := m.inflight[uid]; ok {
		m.inflight[uid] = true
	}
}

// run sends pending statuses until ctx ends. Each wake sends every pod's
// pending status once; it returns once no send is in flight.
func (m *statusManager) run(ctx context.Context) {
	retry := time.NewTicker(statusRetry)
	defer retry.Stop()
	slots := make(chan struct{}, statusSenders)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.wake:
		case <-retry.C:
		}
		for _, uid := range m.due() {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			u := m.take(uid)
			if u == nil {
				<-slots
				continue
			}
			wg.Go(func() {
				defer func() { <-slots }()
				m.finish(ctx, u, m.send(ctx, u))
			})
		}
	}
}

// due lists the pods with a pending status and none in flight.
func (m *statusManager) due() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	uids := make([]string, 0, len(m.pending))
	for uid := range m.pending {
		if _, busy := m.inflight[uid]; !busy {
			uids = append(uids, uid)
		}
	}
	return uids
}

// take returns the pod's newest pending status and marks the pod in
// flight; nil when there is none or one is in flight already.
func (m *statusManager) take(uid string) *statusUpdate {
	m.mu.Lock()
	defer m.mu.Unlock()
	u := m.pending[uid]
	if _, busy := m.inflight[uid]; u == nil || busy {
		return nil
	}
	m.inflight[uid] = false
	return u
}

// finish records the answer to u's send. A newer status of the same pod
// that came meanwhile wakes the loop; a failed one waits for the retry.
func (m *statusManager) finish(ctx context.Context, u *statusUpdate, err error) {
	m.mu.Lock()
	forgotten := m.inflight[u.uid]
	delete(m.inflight, u.uid)
	switch {
	case forgotten:
		// Torn down while in flight: remembering what was sent would
		// keep the pod's entry for the node's lifetime.
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
	newer := m.pending[u.uid] != nil && m.pending[u.uid] != u
	m.mu.Unlock()
	if newer {
		m.poke()
	}
}

func (m *statusManager) send(ctx context.Context, u *statusUpdate) error {
	start := time.Now()
	defer func() {
		m.log.Debug("pod status sent", "pod", u.namespace+"/"+u.name, "phase", u.phase,
			"waited", start.Sub(u.queued), "took", time.Since(start))
	}()
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
