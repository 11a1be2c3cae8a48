package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/node/agentserver"
)

// Agent is a node agent: it registers its Node, watches the pods bound to
// it and runs each with one pod worker.
type Agent struct {
	cfg Config
	log *slog.Logger

	network Network
	status  *statusManager
	prober  *prober

	mu      sync.Mutex
	workers map[string]*podWorker // by pod UID
	byName  map[string]string     // namespace/name → UID
	adopted map[string][]Container

	hostPorts hostPortTable

	// configMaps and secrets cache the ConfigMaps and Secrets of the
	// node's pods' volumes.
	configMaps objectCache[v1.ConfigMap]
	secrets    objectCache[v1.Secret]

	// serviceEnvState holds the services for containers' environments.
	serviceEnvState serviceEnvState

	// nodeUID is the registered Node's uid, for the lease's owner.
	nodeUID atomic.Pointer[string]
}

// New builds an agent; Run starts it.
func New(cfg Config) (*Agent, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	a := &Agent{
		cfg: cfg, log: cfg.Logger.With("subsystem", "node", "node", cfg.Name),
		workers: map[string]*podWorker{}, byName: map[string]string{},
	}
	a.status = newStatusManager(cfg.Client, a.log)
	a.prober = newProber(cfg.Runtime)
	return a, nil
}

// Run registers the node and runs its pods until ctx ends. Ending it leaves
// the pods running: a restarted agent adopts them.
func (a *Agent) Run(ctx context.Context) error {
	if err := tightenStateTree(a.cfg.StateDir); err != nil {
		return fmt.Errorf("node %s: %w", a.cfg.Name, err)
	}
	if err := os.Chmod(a.registrationPath(), privateFileMode); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("node %s: %w", a.cfg.Name, err)
	}
	cidr, err := a.register(ctx)
	if err != nil {
		return err
	}
	if a.network, err = a.cfg.Network(ctx, cidr); err != nil {
		return fmt.Errorf("node %s: pod network: %w", a.cfg.Name, err)
	}
	if a.cfg.NodeLocalDNS {
		a.cfg.ClusterDNS = a.network.Gateway().String()
	}
	if err := a.loadAdoptable(ctx); err != nil {
		return err
	}
	var wg sync.WaitGroup
	run := func(f func(context.Context)) {
		wg.Add(1)
		go func() { defer wg.Done(); f(ctx) }()
	}
	run(a.status.run)
	run(a.heartbeat)
	run(a.leaseLoop)
	run(a.rotateLogs)
	run(a.watchPods)
	run(a.watchCluster)
	<-ctx.Done()
	wg.Wait()
	a.mu.Lock()
	workers := make([]*podWorker, 0, len(a.workers))
	for _, w := range a.workers {
		workers = append(workers, w)
	}
	a.mu.Unlock()
	for _, w := range workers {
		<-w.done
	}
	return nil
}

// loadAdoptable lists the containers the runtime already runs for this
// node, so workers adopt them instead of starting new ones.
func (a *Agent) loadAdoptable(ctx context.Context) error {
	cs, err := a.cfg.Runtime.ListContainers(ctx)
	if err != nil {
		return fmt.Errorf("node %s: list containers: %w", a.cfg.Name, err)
	}
	a.adopted = map[string][]Container{}
	for _, c := range cs {
		if uid := c.Labels[LabelPodUID]; uid != "" {
			a.adopted[uid] = append(a.adopted[uid], c)
		}
	}
	if len(cs) > 0 {
		a.log.Info("found containers to adopt", "containers", len(cs), "pods", len(a.adopted))
	}
	return nil
}

// watchPods lists the pods bound to this node, hands each to its worker,
// cleans up what no longer belongs here, then follows the changes. A broken
// watch resumes from its last resourceVersion; 410 Gone relists.
func (a *Agent) watchPods(ctx context.Context) {
	selector := "spec.nodeName=" + a.cfg.Name
	first := true
	for ctx.Err() == nil {
		pods, rv, err := client.ListTyped[v1.Pod](ctx, a.cfg.Client, "pods", "", client.ListOptions{FieldSelector: selector})
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("list pods failed; retrying", "err", err)
			}
			if first {
				// No master answers: keep what runs, adopted as it is.
				a.adoptWithoutMasters(ctx)
				first = false
			}
			sleepCtx(ctx, time.Second)
			continue
		}
		a.sync(ctx, pods)
		first = false
		a.follow(ctx, selector, rv)
	}
}

// follow applies watch events from rv until the watch ends for good.
func (a *Agent) follow(ctx context.Context, selector, rv string) {
	for ctx.Err() == nil {
		w, err := a.cfg.Client.Watch(ctx, "pods", "", client.WatchOptions{
			ListOptions: client.ListOptions{FieldSelector: selector}, ResourceVersion: rv})
		if err != nil {
			if v1.IsGone(err) {
				return
			}
			if ctx.Err() == nil {
				a.log.Warn("watch pods failed; retrying", "err", err)
			}
			sleepCtx(ctx, time.Second)
			continue
		}
		for ev := range w.Events() {
			var p v1.Pod
			if err := json.Unmarshal(ev.Object, &p); err != nil {
				a.log.Error("undecodable pod event", "err", err)
				continue
			}
			if ev.Type == v1.Deleted {
				a.podGone(ctx, p.UID)
			} else {
				a.podUpdate(ctx, &p)
			}
		}
		rv = w.ResourceVersion()
		err = w.Err()
		w.Stop()
		if v1.IsGone(err) {
			return
		}
	}
}

// sync hands a full list of the node's pods to the workers and ends the
// work of every pod that is no longer bound here.
func (a *Agent) sync(ctx context.Context, pods []v1.Pod) {
	a.seedHostPorts(pods)
	want := map[string]bool{}
	for i := range pods {
		want[pods[i].UID] = true
		a.podUpdate(ctx, &pods[i])
	}
	a.mu.Lock()
	var gone []string
	for uid := range a.workers {
		if !want[uid] {
			gone = append(gone, uid)
		}
	}
	orphans := map[string]bool{}
	for uid := range a.adopted {
		if !want[uid] {
			orphans[uid] = true
		}
	}
	a.mu.Unlock()
	for _, uid := range gone {
		a.podGone(ctx, uid)
	}
	if sbs, err := a.network.Sandboxes(); err == nil {
		for _, uid := range sbs {
			if !want[uid] {
				orphans[uid] = true
			}
		}
	}
	if dirs, err := os.ReadDir(a.podsDir()); err == nil {
		for _, d := range dirs {
			if !want[d.Name()] {
				orphans[d.Name()] = true
			}
		}
	}
	for uid := range orphans {
		a.mu.Lock()
		_, running := a.workers[uid]
		a.mu.Unlock()
		if !running {
			a.log.Info("cleaning up a pod no longer bound here", "uid", uid)
			a.startWorker(ctx, uid, nil)
		}
	}
}

// adoptWithoutMasters starts workers for the pods whose containers run,
// with no spec: they keep running as they are until a master answers.
func (a *Agent) adoptWithoutMasters(ctx context.Context) {
	a.mu.Lock()
	uids := make([]string, 0, len(a.adopted))
	for uid := range a.adopted {
		if _, ok := a.workers[uid]; !ok {
			uids = append(uids, uid)
		}
	}
	a.mu.Unlock()
	for _, uid := range uids {
		// The spec the previous agent last saw lets the worker go on
		// restarting what exits; without one it leaves the pod as it is.
		u := &podUpdate{keep: true}
		if b, err := os.ReadFile(filepath.Join(a.podDir(uid), podSpecFile)); err == nil {
			var p v1.Pod
			if json.Unmarshal(b, &p) == nil && p.UID == uid {
				u = &podUpdate{pod: &p}
				a.mu.Lock()
				a.byName[v1.Key(p.Namespace, p.Name)] = uid
				a.mu.Unlock()
			}
		}
		a.startWorker(ctx, uid, u)
	}
	if len(uids) > 0 {
		a.log.Info("no master answers; running the pods found as they were last seen", "pods", len(uids))
	}
}

// podUpdate hands the newest version of a pod to its worker.
func (a *Agent) podUpdate(ctx context.Context, p *v1.Pod) {
	if p.Spec.NodeName != a.cfg.Name {
		return
	}
	a.mu.Lock()
	a.byName[v1.Key(p.Namespace, p.Name)] = p.UID
	w := a.workers[p.UID]
	a.mu.Unlock()
	if w == nil {
		a.startWorker(ctx, p.UID, &podUpdate{pod: p})
		return
	}
	w.send(podUpdate{pod: p})
}

// podGone tells a pod's worker that its pod no longer exists in the API.
func (a *Agent) podGone(ctx context.Context, uid string) {
	a.mu.Lock()
	w := a.workers[uid]
	a.mu.Unlock()
	if w != nil {
		w.send(podUpdate{})
	}
}

// startWorker starts the worker of a pod; u nil means the pod is gone.
func (a *Agent) startWorker(ctx context.Context, uid string, u *podUpdate) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, ok := a.workers[uid]; ok {
		return
	}
	w := newPodWorker(a, uid, a.adopted[uid])
	if u != nil && u.pod != nil && len(a.adopted[uid]) == 0 {
		w.trace = newStartTrace(time.Now())
	}
	delete(a.adopted, uid)
	if u == nil {
		u = &podUpdate{}
	}
	w.send(*u)
	a.workers[uid] = w
	go func() {
		w.run(ctx)
		a.mu.Lock()
		if a.workers[uid] == w && w.finished {
			delete(a.workers, uid)
			for k, v := range a.byName {
				if v == uid {
					delete(a.byName, k)
				}
			}
		}
		a.mu.Unlock()
	}()
}

// LookupPod returns the UID of a pod running on this node (for the agent's
// log endpoint).
func (a *Agent) LookupPod(namespace, name string) (string, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	uid, ok := a.byName[v1.Key(namespace, name)]
	return uid, ok
}

// ContainerRunning reports whether the given attempt of a pod's container
// is running (a log follower stops when it is not).
func (a *Agent) ContainerRunning(uid, container string, attempt int) bool {
	a.mu.Lock()
	w := a.workers[uid]
	a.mu.Unlock()
	if w == nil {
		return false
	}
	return w.running(container, attempt)
}

// ImportImages imports an OCI image tarball into the runtime.
func (a *Agent) ImportImages(ctx context.Context, r io.Reader) ([]string, error) {
	return a.cfg.Runtime.ImportImages(ctx, r)
}

func (a *Agent) podsDir() string          { return filepath.Join(a.cfg.StateDir, "pods") }
func (a *Agent) podDir(uid string) string { return filepath.Join(a.podsDir(), uid) }
func logPath(podDir, c string, n int) string {
	return filepath.Join(podDir, "logs", c, strconv.Itoa(n)+".log")
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// rotateLogs rotates container logs above LogMaxBytes once a minute.
func (a *Agent) rotateLogs(ctx context.Context) {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if err := agentserver.RotateLogs(a.podsDir(), a.cfg.LogMaxBytes); err != nil {
				a.log.Warn("rotate logs", "err", err)
			}
		}
	}
}
