package node

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/net/podnet"
)

// podUpdate is what a worker's mailbox holds: the newest pod, or nothing
// when the pod is gone from the API. keep means "no spec known yet (no
// master answers): leave what runs alone".
type podUpdate struct {
	pod  *v1.Pod
	keep bool
}

// workerEvent is news from a container: it exited, or a probe changed its mind.
type workerEvent struct {
	containerID string
	exit        *ExitStatus
	ready       *bool
	liveness    string // non-empty: the liveness probe failed with this message
	startup     string // non-empty: the startup probe failed with this message
	started     bool   // the startup probe succeeded
}

// podWorker runs one pod. It owns the pod's containers and sandbox; updates
// arrive in a one-slot mailbox that always holds the newest pod, so a burst
// of changes collapses into one sync (as the kubelet's pod workers do).
type podWorker struct {
	a   *Agent
	uid string
	log *slog.Logger

	mu       sync.Mutex
	latest   podUpdate
	pending  bool
	wake     chan struct{}
	events   chan workerEvent
	done     chan struct{}
	finished bool // the pod was torn down (under a.mu when read by the agent)

	// Owned by the run goroutine (snapshot under mu for readers).
	pod        *v1.Pod
	gone       bool // the pod no longer exists in the API
	sandbox    *podnet.Sandbox
	containers map[string]*containerState
	// netNS is the sandbox's network namespace file for port forwarding,
	// "" while there is none; hostNet: the pod uses the node's network.
	// Both are set under mu.
	netNS     string
	hostNet   bool
	startTime *v1.Time
	// initDone: every init container ran to success (or an app container
	// was found started, as after an agent restart); they never run again.
	initDone bool
	// terminal is set when the node ended the pod (deadline, eviction):
	// its containers are stopped and never restarted.
	terminal *terminalReason
	// lastUsageCheck is when emptyDir usage was last measured.
	lastUsageCheck time.Time
	// tokens are the service account tokens of projected volumes, by
	// volume name and source index.
	tokens map[string]*projectedToken
	// trace times the pod's first start (nil for an adopted pod or once
	// it was logged).
	trace *startTrace
}

// containerState is what the worker knows of one container of its pod.
type containerState struct {
	name      string
	id        string // current runtime container, "" when none
	attempt   int    // restart count of the current container
	imageID   string
	running   bool
	startedAt time.Time
	// exited is set when the current container's process ended.
	exited     bool
	exitCode   int
	finishedAt time.Time
	reason     string // why it was stopped by the agent (liveness)
	// last is the previous termination, shown as lastState.
	last *v1.ContainerStateTerminated
	// restarts and the back-off before the next start.
	restarts      int32
	backoffCount  int
	nextStart     time.Time
	waitReason    string
	waitMessage   string
	ready         bool
	stopProbes    context.CancelFunc
	livenessError string
	// started: the startup probe succeeded (or the container has none).
	started bool
	// killProbe is the probe whose failures ask for a restart
	// ("liveness" or "startup"), with livenessError its message.
	killProbe string
}

func newPodWorker(a *Agent, uid string, adopt []Container) *podWorker {
	w := &podWorker{
		a: a, uid: uid, log: a.log.With("pod_uid", uid),
		wake: make(chan struct{}, 1), events: make(chan workerEvent, 16), done: make(chan struct{}),
		containers: map[string]*containerState{},
	}
	w.adopt(adopt)
	return w
}

// send puts u in the mailbox, replacing what was there.
func (w *podWorker) send(u podUpdate) {
	w.mu.Lock()
	w.latest, w.pending = u, true
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *podWorker) take() (podUpdate, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	u, ok := w.latest, w.pending
	w.pending = false
	return u, ok
}

// running reports whether a container attempt is running (for log follow).
func (w *podWorker) running(name string, attempt int) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.containers[name]
	return c != nil && c.attempt == attempt && c.running
}

// adopt takes over containers a previous agent started: for each container
// name the newest attempt becomes current; older ones are removed later.
func (w *podWorker) adopt(cs []Container) {
	sort.Slice(cs, func(i, j int) bool { return attemptOf(cs[i]) < attemptOf(cs[j]) })
	for _, c := range cs {
		name := c.Labels[LabelContainer]
		st := w.containers[name]
		if st == nil {
			st = &containerState{name: name}
			w.containers[name] = st
		} else if st.id != "" && st.exited {
			st.last = terminatedState(st)
		}
		st.id, st.attempt, st.restarts = c.ID, attemptOf(c), int32(attemptOf(c))
		st.imageID = c.ImageID
		st.running = c.State == StateRunning
		st.startedAt = c.StartedAt
		st.exited = c.State == StateExited
		st.exitCode, st.finishedAt = c.ExitCode, c.FinishedAt
		if c.State == StateCreated || c.State == StateUnknown {
			st.exited, st.exitCode, st.finishedAt = true, 128, c.CreatedAt
		}
	}
}

func attemptOf(c Container) int {
	n, _ := strconv.Atoi(c.Labels[LabelAttempt])
	return n
}

// run is the worker's loop: sync, then wait for news.
func (w *podWorker) run(ctx context.Context) {
	defer close(w.done)
	// Adopted running containers: watch their exits and probes.
	for _, st := range w.containers {
		if st.running {
			w.watchExit(ctx, st.id)
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if u, ok := w.take(); ok {
			if u.pod != nil {
				if w.pod == nil || w.pod.ResourceVersion != u.pod.ResourceVersion {
					w.savePod(u.pod)
				}
				w.pod, w.gone = u.pod, false
			} else if !u.keep {
				w.pod, w.gone = nil, true
			}
		}
		next := w.a.cfg.ResyncInterval
		if w.gone {
			if w.terminate(ctx, nil) {
				return
			}
			next = 2 * time.Second
		} else if w.pod != nil {
			if w.pod.DeletionTimestamp != nil {
				if w.terminate(ctx, w.pod) {
					return
				}
				next = 2 * time.Second
			} else if d := w.sync(ctx); d > 0 && d < next {
				next = d
			}
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(next)
		select {
		case <-ctx.Done():
			w.stopAllProbes()
			return
		case <-w.wake:
		case ev := <-w.events:
			w.handle(ev)
		case <-timer.C:
		}
	}
}

// handle records a container's exit or a probe result.
func (w *podWorker) handle(ev workerEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.containers {
		if st.id != ev.containerID {
			continue
		}
		switch {
		case ev.exit != nil:
			st.running, st.exited, st.ready = false, true, false
			st.exitCode, st.finishedAt = ev.exit.Code, ev.exit.FinishedAt
			if st.stopProbes != nil {
				st.stopProbes()
				st.stopProbes = nil
			}
		case ev.ready != nil:
			st.ready = *ev.ready && st.running
		case ev.liveness != "":
			st.livenessError, st.killProbe = ev.liveness, "liveness"
		case ev.startup != "":
			st.livenessError, st.killProbe = ev.startup, "startup"
		case ev.started:
			st.started = st.running
		}
	}
}

// watchExit forwards the container's exit to the worker's loop. It asks
// the runtime on a goroutine of its own, so a start's status goes out
// without waiting for the runtime's answer; an exit that came first is
// still reported (the runtime keeps it until the container is removed).
func (w *podWorker) watchExit(ctx context.Context, id string) {
	go func() {
		ch, err := w.a.cfg.Runtime.Wait(ctx, id)
		if err != nil {
			if ctx.Err() == nil {
				w.log.Warn("cannot wait on container", "container_id", id, "err", err)
			}
			return
		}
		select {
		case <-ctx.Done():
		case ex, ok := <-ch:
			if !ok {
				return
			}
			select {
			case w.events <- workerEvent{containerID: id, exit: &ex}:
			case <-ctx.Done():
			}
		}
	}()
}

// sync brings the pod's containers to what its spec and restart policy
// want, then reports status. It returns how soon it wants to run again
// (0: no hurry).
func (w *podWorker) sync(ctx context.Context) time.Duration {
	pod := w.pod
	if w.sandbox == nil {
		w.trace.mark("worker")
	}
	if t := w.admitHostPorts(pod); t != nil {
		w.terminal = t
		w.a.status.set(pod, w.podStatus(pod))
		return 0
	}
	if w.sandbox == nil {
		tokens := w.prefetchTokens(ctx, pod)
		err := w.ensureSandbox(ctx, pod)
		tokens()
		if err != nil {
			w.log.Error("pod sandbox", "pod", pod.Namespace+"/"+pod.Name, "err", err)
			w.a.cfg.Recorder.Eventf(pod, v1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			w.a.status.set(pod, w.pendingStatus(pod, "SandboxError", err.Error()))
			return 2 * time.Second
		}
		w.a.setHostPorts(w.uid, pod, w.sandbox.IP.String())
		w.trace.mark("sandbox")
	}
	refresh, err := w.syncProjected(ctx, pod)
	if err != nil {
		w.log.Error("projected volume", "pod", pod.Namespace+"/"+pod.Name, "err", err)
		w.a.cfg.Recorder.Eventf(pod, v1.EventTypeWarning, "FailedMount", "MountVolume.SetUp failed for pod %q: %v", pod.Name, err)
		if !w.anyStarted() {
			w.a.status.set(pod, w.pendingStatus(pod, "ContainerCreating", err.Error()))
			return 2 * time.Second
		}
		refresh = 2 * time.Second
	}
	w.trace.mark("volumes")
	if w.startTime == nil {
		t := v1.NewTime(w.a.cfg.Now())
		w.startTime = &t
		if pod.Status.StartTime != nil {
			w.startTime = pod.Status.StartTime
		}
	}
	// As the kubelet's syncPod: the status observed (a container that just
	// exited shows as terminated) is reported before acting on it.
	w.a.status.set(pod, w.podStatus(pod))
	var again time.Duration
	wantSoon := func(d time.Duration) {
		if d > 0 && (again == 0 || d < again) {
			again = d
		}
	}
	wantSoon(refresh)
	if w.terminal == nil {
		var d time.Duration
		w.terminal, d = w.checkTerminal(pod)
		wantSoon(d)
	}
	if w.terminal != nil {
		wantSoon(w.killAll(ctx, pod))
		w.a.status.set(pod, w.podStatus(pod))
		return again
	}
	initialized, d := w.syncInit(ctx, pod)
	wantSoon(d)
	if initialized {
		for i := range pod.Spec.Containers {
			c := &pod.Spec.Containers[i]
			wantSoon(w.syncContainer(ctx, pod, c, w.state(c.Name), pod.Spec.RestartPolicy))
		}
		wantSoon(w.syncEphemeral(ctx, pod))
	}
	st := w.podStatus(pod)
	w.a.status.set(pod, st)
	if w.trace != nil && st.Phase == v1.PodRunning {
		w.trace.mark("status")
		w.trace.finish(w.log, pod.Namespace+"/"+pod.Name)
		w.trace = nil
	}
	return again
}

// state is the worker's record of the named container, made on first use.
func (w *podWorker) state(name string) *containerState {
	w.mu.Lock()
	defer w.mu.Unlock()
	st := w.containers[name]
	if st == nil {
		st = &containerState{name: name}
		w.containers[name] = st
	}
	return st
}

// syncContainer handles one container under the restart policy (the
// pod's, or the one init containers follow); it returns when to look again.
func (w *podWorker) syncContainer(ctx context.Context, pod *v1.Pod, c *v1.Container, st *containerState, policy string) time.Duration {
	now := w.a.cfg.Now()
	if st.running && st.livenessError != "" {
		w.log.Info(st.killProbe+" probe failed; restarting the container", "container", c.Name, "reason", st.livenessError)
		w.a.cfg.Recorder.RefEventf(events.ContainerRef(pod, c.Name), v1.EventTypeNormal, "Killing",
			"Container %s failed %s probe, will be restarted", c.Name, st.killProbe)
		grace := podGrace(pod)
		p := c.LivenessProbe
		if st.killProbe == "startup" {
			p = c.StartupProbe
		}
		if p != nil && p.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*p.TerminationGracePeriodSeconds) * time.Second
		}
		if err := w.a.cfg.Runtime.StopContainer(ctx, st.id, grace); err != nil {
			w.log.Warn("stop unhealthy container", "container", c.Name, "err", err)
			return time.Second
		}
		// The exit arrives as an event too; record it now so the restart
		// below does not wait for it.
		w.mu.Lock()
		st.reason = "Unhealthy"
		st.livenessError = ""
		if st.running {
			st.running, st.exited, st.ready, st.exitCode, st.finishedAt = false, true, false, 137, now
		}
		if st.stopProbes != nil {
			st.stopProbes()
			st.stopProbes = nil
		}
		w.mu.Unlock()
	}
	switch {
	case st.running:
		if st.stopProbes == nil {
			w.startProbes(ctx, pod, c, st)
		}
		return 0
	case st.id == "" && !st.exited:
		if !now.Before(st.nextStart) {
			return w.start(ctx, pod, c, st)
		}
		w.imagePullBackOff(pod, c, st)
		return st.nextStart.Sub(now)
	}
	// The current container exited: restart it if the policy says so.
	if !shouldRestart(policy, st.exitCode) {
		return 0
	}
	if now.Before(st.nextStart) && w.imagePullBackOff(pod, c, st) {
		// A restart whose pull failed waits for the pull's back-off.
		return st.nextStart.Sub(now)
	}
	if st.nextStart.IsZero() || st.nextStart.Before(st.finishedAt) {
		st.nextStart = st.finishedAt.Add(w.backoff(st))
		if now.Before(st.nextStart) {
			w.a.cfg.Recorder.RefEventf(events.ContainerRef(pod, c.Name), v1.EventTypeWarning, "BackOff",
				"Back-off restarting failed container %s in pod %s_%s(%s)", c.Name, pod.Name, pod.Namespace, pod.UID)
		}
	}
	if now.Before(st.nextStart) {
		w.mu.Lock()
		st.waitReason = "CrashLoopBackOff"
		st.waitMessage = fmt.Sprintf("back-off %s restarting failed container %s", st.nextStart.Sub(st.finishedAt).Round(time.Second), c.Name)
		w.mu.Unlock()
		return st.nextStart.Sub(now)
	}
	return w.start(ctx, pod, c, st)
}

// backoff is the delay before restarting st: none for the first restart,
// then BackoffInitial doubling up to BackoffMax; a container that ran for
// twice BackoffMax starts the sequence again.
func (w *podWorker) backoff(st *containerState) time.Duration {
	if !st.startedAt.IsZero() && st.finishedAt.Sub(st.startedAt) >= 2*w.a.cfg.BackoffMax {
		st.backoffCount = 0
	}
	n := st.backoffCount
	st.backoffCount++
	if n == 0 {
		return 0
	}
	d := w.a.cfg.BackoffInitial
	for i := 1; i < n && d < w.a.cfg.BackoffMax; i++ {
		d *= 2
	}
	return min(d, w.a.cfg.BackoffMax)
}

func shouldRestart(policy string, exitCode int) bool {
	switch policy {
	case v1.RestartNever:
		return false
	case v1.RestartOnFailure:
		return exitCode != 0
	}
	return true
}

// start removes the container's previous incarnation (keeping its exit as
// lastState) and starts a new one.
func (w *podWorker) start(ctx context.Context, pod *v1.Pod, c *v1.Container, st *containerState) time.Duration {
	rt := w.a.cfg.Runtime
	attempt := 0
	if st.id != "" || st.exited {
		attempt = st.attempt + 1
	}
	ref := events.ContainerRef(pod, c.Name)
	rec := w.a.cfg.Recorder
	auth, err := w.pullCredentials(ctx, pod, c.Image)
	var img ImageInfo
	if err == nil {
		img, err = rt.EnsureImage(ctx, c.Image, c.ImagePullPolicy, auth)
	}
	if err != nil {
		reason := reasonErrImagePull
		if c.ImagePullPolicy == v1.PullNever {
			reason = reasonErrImageNeverPull
			rec.RefEventf(ref, v1.EventTypeWarning, reason, "Container image %q is not present with pull policy of Never", c.Image)
		} else {
			rec.RefEventf(ref, v1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
			rec.RefEventf(ref, v1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		}
		rec.RefEventf(ref, v1.EventTypeWarning, "Failed", "Error: %s", reason)
		d := w.startFailed(st, reason, err)
		if reason == reasonErrImagePull {
			// ImagePullBackOff for the rest of the back-off.
			d = min(d, imagePullBackOffAfter)
		}
		return d
	}
	w.trace.pulled(img.Pulled)
	w.trace.mark("image")
	if img.Pulled > 0 {
		// The pull is over when the runtime answers: both of the
		// kubelet's events, with its messages.
		rec.RefEventf(ref, v1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
		rec.RefEventf(ref, v1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %v", c.Image, img.Pulled.Round(time.Millisecond))
	} else {
		// Imported (or pulled before): the kubelet's message for an image
		// already on the machine.
		rec.RefEventf(ref, v1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
	}
	spec, err := w.containerSpec(ctx, pod, c, attempt)
	if err == nil {
		err = verifyRunAsNonRoot(pod, c, img.User)
	}
	if err == nil {
		spec.PIDNS, err = w.pidNamespace(ctx, pod, c.Name)
	}
	if err != nil {
		rec.RefEventf(ref, v1.EventTypeWarning, "Failed", "Error: %v", err)
		if configMissing(err) {
			// Not a failure of the container: it starts once the
			// ConfigMap or key appears, without a growing back-off.
			return w.waitForConfig(st, err)
		}
		return w.startFailed(st, "CreateContainerConfigError", err)
	}
	// A new file per start (logs of the previous attempt stay readable),
	// made 0600 before the runtime opens it for appending.
	if err := createLogFile(spec.LogPath); err != nil {
		rec.RefEventf(ref, v1.EventTypeWarning, "Failed", "Error: %v", err)
		return w.startFailed(st, "CreateContainerError", err)
	}
	w.trace.mark("spec")
	id, err := rt.StartContainer(ctx, spec)
	w.trace.mark("runtime")
	if err != nil {
		rec.RefEventf(ref, v1.EventTypeWarning, "Failed", "Error: %v", err)
		return w.startFailed(st, "RunContainerError", err)
	}
	// orch's runtime creates and starts a container in one call: the
	// kubelet's two events.
	rec.RefEventf(ref, v1.EventTypeNormal, "Created", "Created container: %v", c.Name)
	rec.RefEventf(ref, v1.EventTypeNormal, "Started", "Started container %v", c.Name)
	old := st.id
	w.mu.Lock()
	if st.exited && old != "" {
		st.last = terminatedState(st)
	}
	if attempt > 0 {
		st.restarts = int32(attempt)
	}
	st.id, st.attempt, st.imageID = id, attempt, img.Digest
	st.running, st.exited, st.ready, st.reason, st.started = true, false, false, "", false
	st.startedAt, st.exitCode, st.finishedAt = w.a.cfg.Now(), 0, time.Time{}
	st.waitReason, st.waitMessage = "", ""
	w.mu.Unlock()
	if old != "" {
		if err := rt.RemoveContainer(ctx, old); err != nil {
			w.log.Warn("remove old container", "container_id", old, "err", err)
		}
	}
	w.log.Info("container started", "pod", pod.Namespace+"/"+pod.Name, "container", c.Name, "attempt", attempt, "container_id", id)
	w.watchExit(ctx, id)
	w.startProbes(ctx, pod, c, st)
	w.trace.mark("watch")
	return 0
}

func (w *podWorker) startFailed(st *containerState, reason string, err error) time.Duration {
	w.log.Warn("container start failed", "container", st.name, "reason", reason, "err", err)
	w.mu.Lock()
	defer w.mu.Unlock()
	st.waitReason, st.waitMessage = reason, err.Error()
	d := w.backoff(st)
	if d == 0 {
		d = w.a.cfg.BackoffInitial
	}
	st.nextStart = w.a.cfg.Now().Add(d)
	return d
}

// waitForConfig leaves the container waiting with
// CreateContainerConfigError and tries again in configMissingRetry.
func (w *podWorker) waitForConfig(st *containerState, err error) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	st.waitReason, st.waitMessage = "CreateContainerConfigError", err.Error()
	st.nextStart = w.a.cfg.Now().Add(configMissingRetry)
	return configMissingRetry
}

func terminatedState(st *containerState) *v1.ContainerStateTerminated {
	reason := "Completed"
	if st.exitCode != 0 {
		reason = "Error"
	}
	if st.reason != "" {
		reason = st.reason
	}
	return &v1.ContainerStateTerminated{
		ExitCode: int32(st.exitCode), Reason: reason, ContainerID: containerURI(st.id),
		StartedAt: v1.NewTime(st.startedAt), FinishedAt: v1.NewTime(st.finishedAt),
	}
}

func containerURI(id string) string {
	if id == "" {
		return ""
	}
	return "containerd://" + id
}

// savePod keeps the newest pod in its directory, so an agent restarted
// while no master answers knows what the pod should run.
func (w *podWorker) savePod(p *v1.Pod) {
	dir := w.a.podDir(w.uid)
	if _, err := os.Stat(dir); err != nil && p.DeletionTimestamp != nil {
		return // never made, already being deleted
	}
	b, err := json.Marshal(p)
	if err == nil {
		err = writeFileAtomic(filepath.Join(dir, podSpecFile), b, 0o600)
	}
	if err != nil {
		w.log.Warn("save the pod spec", "err", err)
	}
}

// podGrace is the pod's termination grace period.
func podGrace(pod *v1.Pod) time.Duration {
	g := v1.DefaultTerminationGracePeriodSeconds
	if pod != nil && pod.DeletionGracePeriodSeconds != nil {
		g = *pod.DeletionGracePeriodSeconds
	} else if pod != nil && pod.Spec.TerminationGracePeriodSeconds != nil {
		g = *pod.Spec.TerminationGracePeriodSeconds
	}
	return time.Duration(g) * time.Second
}

// terminate stops and removes everything of the pod, then confirms the
// delete to the API when the pod still exists there (pod != nil). It
// reports whether the worker is done; on a failure it is retried.
func (w *podWorker) terminate(ctx context.Context, pod *v1.Pod) bool {
	rt := w.a.cfg.Runtime
	w.stopAllProbes()
	grace := podGrace(pod)
	cs, err := rt.ListContainers(ctx)
	if err != nil {
		w.log.Warn("terminate: list containers", "err", err)
		return false
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(cs))
	for _, c := range cs {
		if c.Labels[LabelPodUID] != w.uid {
			continue
		}
		wg.Add(1)
		go func(c Container) {
			defer wg.Done()
			if c.State == StateRunning {
				if pod != nil {
					name := c.Labels[LabelContainer]
					w.a.cfg.Recorder.RefEventf(events.ContainerRef(pod, name), v1.EventTypeNormal, "Killing", "Stopping container %s", name)
				}
				if err := rt.StopContainer(ctx, c.ID, grace); err != nil {
					errs <- fmt.Errorf("stop %s: %w", c.ID, err)
					return
				}
			}
			if err := rt.RemoveContainer(ctx, c.ID); err != nil {
				errs <- fmt.Errorf("remove %s: %w", c.ID, err)
			}
		}(c)
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	if err := rt.RemovePod(ctx, w.uid); err != nil {
		all = append(all, err)
	}
	if err := w.a.network.DeleteSandbox(ctx, w.uid); err != nil {
		all = append(all, err)
	}
	if err := errors.Join(all...); err != nil {
		w.log.Warn("terminate pod", "err", err)
		return false
	}
	w.mu.Lock()
	for _, st := range w.containers {
		st.running = false
	}
	w.mu.Unlock()
	if err := unmountPod(w.a.podDir(w.uid)); err != nil {
		w.log.Warn("terminate pod", "err", err)
		return false
	}
	if err := removePodDir(w.a.podDir(w.uid)); err != nil {
		w.log.Warn("remove pod dir", "err", err)
	}
	w.sandbox = nil
	w.mu.Lock()
	w.netNS, w.hostNet = "", false
	w.mu.Unlock()
	w.a.setHostPorts(w.uid, nil, "")
	w.a.status.forget(w.uid)
	if last := cmp.Or(pod, w.pod); last != nil {
		// The node keeps no Secret value of a pod that is gone.
		w.a.secrets.forget(last.Namespace, v1.PodSecretNames(&last.Spec))
	}
	if pod != nil {
		zero := int64(0)
		uid := w.uid
		_, err := w.a.cfg.Client.Delete(ctx, "pods", pod.Namespace, pod.Name,
			&v1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &v1.Preconditions{UID: &uid}})
		if err != nil && !v1.IsNotFound(err) && v1.CodeOf(err) != 409 {
			w.log.Warn("confirm pod delete", "err", err)
			return false
		}
		w.log.Info("pod stopped and deleted", "pod", pod.Namespace+"/"+pod.Name)
	}
	w.a.mu.Lock()
	w.finished = true
	w.a.mu.Unlock()
	return true
}

func (w *podWorker) stopAllProbes() {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, st := range w.containers {
		if st.stopProbes != nil {
			st.stopProbes()
			st.stopProbes = nil
		}
	}
}
