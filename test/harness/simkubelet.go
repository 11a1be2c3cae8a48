package harness

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// SimKubelet stands in for the node agents of simulated nodes in tests and
// benches: it registers the nodes, keeps them Ready with heartbeats, marks
// every pod bound to one of them Running and Ready, and confirms the
// deletion of every such pod that is terminating, as an agent does once
// its containers stopped. No container runs anywhere, so controllers see
// availability without containerd.
type SimKubelet struct {
	cl     *client.Client
	nodes  map[string]bool
	cancel context.CancelFunc
	wg     sync.WaitGroup
	sem    chan struct{}

	mu      sync.Mutex
	pending map[string]bool // pods with a write in flight, by namespace/name
	lastErr error

	readied, deleted atomic.Int64
}

// SimKubeletOptions shape a SimKubelet.
type SimKubeletOptions struct {
	// Heartbeat is how often the nodes report Ready (default 2 s).
	Heartbeat time.Duration
	// Workers bounds the pod writes in flight (default 8).
	Workers int
	// CPU is each node's CPU capacity (default "64").
	CPU string
}

// SimulatedNode is a Node as an agent registers it: Ready, with room for
// 250 pods and cpu CPUs.
func SimulatedNode(name, cpu string) *v1.Node {
	return &v1.Node{
		ObjectMeta: v1.ObjectMeta{Name: name},
		Status: v1.NodeStatus{
			Capacity: v1.ResourceList{v1.ResourceCPU: resource.MustParse(cpu), v1.ResourceMemory: resource.MustParse("64Gi"),
				v1.ResourcePods: resource.MustParse("250")},
			Conditions: []v1.NodeCondition{{Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady"}},
		},
	}
}

// StartSimKubelet registers the nodes (those that exist are kept) and
// starts serving them; Stop ends it.
func StartSimKubelet(ctx context.Context, cl *client.Client, nodes []string, opts SimKubeletOptions) (*SimKubelet, error) {
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 2 * time.Second
	}
	if opts.Workers == 0 {
		opts.Workers = 8
	}
	if opts.CPU == "" {
		opts.CPU = "64"
	}
	k := &SimKubelet{cl: cl, nodes: map[string]bool{}, sem: make(chan struct{}, opts.Workers), pending: map[string]bool{}}
	for _, n := range nodes {
		k.nodes[n] = true
		if err := cl.Create(ctx, SimulatedNode(n, opts.CPU)); err != nil && !v1.IsAlreadyExists(err) {
			return nil, fmt.Errorf("register simulated node %s: %w", n, err)
		}
	}
	// The watch lives until Stop, not until ctx (which bounds the start).
	rctx, cancel := context.WithCancel(context.Background())
	w, err := cl.Watch(rctx, "pods", "", client.WatchOptions{})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch pods: %w", err)
	}
	k.cancel = cancel
	k.wg.Add(2)
	go func() {
		defer k.wg.Done()
		k.watch(rctx, w)
	}()
	go func() {
		defer k.wg.Done()
		k.heartbeat(rctx, nodes, opts.Heartbeat)
	}()
	return k, nil
}

// Stop ends the kubelet and waits for its writes.
func (k *SimKubelet) Stop() {
	k.cancel()
	k.wg.Wait()
}

// Readied and Deleted count the pods marked ready and the deletions
// confirmed.
func (k *SimKubelet) Readied() int64 { return k.readied.Load() }

// Deleted counts the pod deletions confirmed.
func (k *SimKubelet) Deleted() int64 { return k.deleted.Load() }

// Err returns the last write error other than a conflict or not-found
// (which the next event of the pod settles).
func (k *SimKubelet) Err() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lastErr
}

// watch serves pod events, re-watching from a fresh list when the watch
// ends (as after 410 Gone), until ctx ends.
func (k *SimKubelet) watch(ctx context.Context, w *client.Watcher) {
	for {
		for ev := range w.Events() {
			if ev.Type != v1.Added && ev.Type != v1.Modified {
				continue
			}
			var p v1.Pod
			if err := json.Unmarshal(ev.Object, &p); err != nil || !k.nodes[p.Spec.NodeName] {
				continue
			}
			k.serve(ctx, &p)
		}
		w.Stop()
		for {
			if ctx.Err() != nil {
				return
			}
			var err error
			if w, err = k.cl.Watch(ctx, "pods", "", client.WatchOptions{}); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
}

// serve starts the write a pod needs, if any and none is in flight.
func (k *SimKubelet) serve(ctx context.Context, p *v1.Pod) {
	deleting := p.DeletionTimestamp != nil
	if !deleting && p.Status.Phase == v1.PodRunning && p.IsReady() {
		return
	}
	key := p.Namespace + "/" + p.Name
	k.mu.Lock()
	if k.pending[key] {
		k.mu.Unlock()
		return
	}
	k.pending[key] = true
	k.mu.Unlock()
	select {
	case k.sem <- struct{}{}:
	case <-ctx.Done():
		return
	}
	k.wg.Add(1)
	go func() {
		defer k.wg.Done()
		defer func() {
			<-k.sem
			k.mu.Lock()
			delete(k.pending, key)
			k.mu.Unlock()
		}()
		err := k.retry(ctx, func() error {
			if deleting {
				return k.confirmDelete(ctx, p)
			}
			return k.markReady(ctx, p)
		})
		if err != nil && !v1.IsConflict(err) && !v1.IsNotFound(err) && ctx.Err() == nil {
			k.mu.Lock()
			k.lastErr = err
			k.mu.Unlock()
		}
	}()
}

// retry runs write until it succeeds or fails for good: a write whose
// outcome is unknown or whose master is unreachable (a leader being
// killed) is tried again, as an agent does, for up to 30 s; a conflict or
// not-found ends it (the pod's next event brings the next write).
func (k *SimKubelet) retry(ctx context.Context, write func() error) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := write()
		if err == nil || !(client.IsUnknownOutcome(err) || client.IsUnreachable(err) || v1.CodeOf(err) >= 500) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// markReady writes the pod's status as an agent does once its containers
// run and pass readiness: Running, Initialized, ContainersReady and Ready.
func (k *SimKubelet) markReady(ctx context.Context, p *v1.Pod) error {
	now := v1.NewTime(time.Now())
	q := v1.DeepCopy(p)
	q.Status.Phase = v1.PodRunning
	if q.Status.StartTime == nil {
		q.Status.StartTime = &now
	}
	for _, t := range []string{v1.PodInitialized, v1.PodReady, v1.ContainersReady} {
		set := false
		for i := range q.Status.Conditions {
			if q.Status.Conditions[i].Type == t {
				q.Status.Conditions[i].Status, q.Status.Conditions[i].LastTransitionTime = v1.ConditionTrue, now
				set = true
			}
		}
		if !set {
			q.Status.Conditions = append(q.Status.Conditions, v1.PodCondition{Type: t, Status: v1.ConditionTrue, LastTransitionTime: now})
		}
	}
	q.Status.ContainerStatuses = nil
	for _, c := range q.Spec.Containers {
		q.Status.ContainerStatuses = append(q.Status.ContainerStatuses, v1.ContainerStatus{Name: c.Name, Image: c.Image,
			Ready: true, Started: new(true), State: v1.ContainerState{Running: &v1.ContainerStateRunning{StartedAt: now}}})
	}
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := k.cl.UpdateStatus(wctx, q); err != nil {
		return fmt.Errorf("mark %s/%s ready: %w", p.Namespace, p.Name, err)
	}
	k.readied.Add(1)
	return nil
}

// confirmDelete removes a terminating pod with grace 0 and its uid as the
// precondition, as an agent does once the pod stopped.
func (k *SimKubelet) confirmDelete(ctx context.Context, p *v1.Pod) error {
	zero := int64(0)
	uid := p.UID
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := k.cl.Delete(wctx, "pods", p.Namespace, p.Name,
		&v1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &v1.Preconditions{UID: &uid}}); err != nil {
		return fmt.Errorf("confirm delete of %s/%s: %w", p.Namespace, p.Name, err)
	}
	k.deleted.Add(1)
	return nil
}

// heartbeat reports every node Ready each period.
func (k *SimKubelet) heartbeat(ctx context.Context, nodes []string, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for _, n := range nodes {
			now := v1.NewTime(time.Now())
			patch, err := json.Marshal(map[string]any{"status": map[string]any{"conditions": []v1.NodeCondition{{
				Type: v1.NodeReady, Status: v1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: now, LastTransitionTime: now}}}})
			if err != nil {
				continue
			}
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			// A beat lost to a leader change is retried on the next tick.
			_ = k.cl.PatchStatus(pctx, "nodes", "", n, patch, &v1.Node{})
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
