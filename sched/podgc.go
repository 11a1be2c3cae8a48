package sched

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// Defaults of the pod garbage collector (Kubernetes' podgc: a node must be
// missing for quarantineTime, 40 s, and the check runs every gcCheckPeriod,
// 20 s).
const (
	DefaultPodGCQuarantine = 40 * time.Second
	DefaultPodGCInterval   = 20 * time.Second
)

// The condition PodGC gives a pod before deleting it, as Kubernetes does.
const (
	PodDisruptionTarget    = "DisruptionTarget"
	podGCReasonDeletion    = "DeletionByPodGC"
	podGCMessageNodeAbsent = "PodGC: node no longer exists"
)

// PodGCConfig configures the pod garbage collector.
type PodGCConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the pods' failure and deletion.
	Proposer Proposer
	// Logger receives the collector's logs.
	Logger *slog.Logger
	// Quarantine is how long a node must be missing, as seen by this
	// collector, before the pods bound to it are deleted (default
	// DefaultPodGCQuarantine). A node that registers within it keeps its pods.
	Quarantine time.Duration
	// Interval is the longest pause between checks without a change
	// (default DefaultPodGCInterval).
	Interval time.Duration
	// Now is the collector's clock (default time.Now).
	Now func() time.Time
}

// PodGC deletes, while this master leads, the pods bound to a node that does
// not exist (Kubernetes' podgc gcOrphaned): no agent will ever confirm their
// termination, so they would stay Terminating for good and keep their
// namespace from being deleted. A missing node is quarantined first: its
// pods go only once it has been missing for Quarantine on this collector's
// clock (a new leader starts over) and is still missing in the current
// store just before the delete. Each pod is marked Failed with the
// condition DisruptionTarget (reason DeletionByPodGC) and deleted with grace
// period 0, in one entry, so watchers see why it went.
type PodGC struct {
	cfg PodGCConfig

	mu sync.Mutex
	// missing maps a node name that pods are bound to and that does not
	// exist to when this collector first saw it missing.
	missing map[string]time.Time
}

// NewPodGC returns a pod garbage collector; Run starts it.
func NewPodGC(cfg PodGCConfig) *PodGC {
	if cfg.Quarantine <= 0 {
		cfg.Quarantine = DefaultPodGCQuarantine
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultPodGCInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "podgc")
	return &PodGC{cfg: cfg, missing: map[string]time.Time{}}
}

// Run checks until ctx ends: at start, every Interval, when a quarantine
// ends, when a node is deleted, and when a pod is bound to (or changes on) a
// node that does not exist. A full check lists every pod, so ordinary pod
// changes, which are most of a busy cluster's writes, only cost a node
// lookup each (Kubernetes' podgc looks every 20 s).
func (g *PodGC) Run(ctx context.Context) {
	wake := func() (time.Duration, bool) {
		now := g.cfg.Now()
		t, ok := g.nextExpiry(now)
		return t.Sub(now), ok
	}
	runOnChangesWake(ctx, g.cfg.Store, follows{"nodes", "pods"}, g.cfg.Interval, wake, g.cfg.Logger, g.pass)
}

// pass runs one pass of the loop. Cost per event: a bound pod's change
// reads its node (one record); a full check (every Interval, when a
// quarantine ends, and when an event may orphan a pod) reads every node
// and pod, as Kubernetes' podgc lists every pod every 20 s.
func (g *PodGC) pass(ctx context.Context, s *fsm.Store, ch changes) error {
	if !ch.full && !slices.ContainsFunc(ch.events, func(e fsm.Event) bool { return orphaning(s, e) }) {
		return nil
	}
	return g.Pass(ctx, s)
}

// orphaning reports whether an event may leave a pod bound to a node that
// does not exist: a node's deletion, or a pod on a node the store lacks.
func orphaning(s *fsm.Store, e fsm.Event) bool {
	switch e.Resource {
	case "nodes":
		return e.Type == v1.Deleted
	case "pods":
		if n := e.Record.NodeName(); n != "" && e.Type != v1.Deleted {
			_, err := s.Get("nodes", "", n)
			return err != nil
		}
	}
	return false
}

// nextExpiry returns the earliest end of a quarantine after now.
func (g *PodGC) nextExpiry(now time.Time) (time.Time, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var first time.Time
	for _, since := range g.missing {
		if end := since.Add(g.cfg.Quarantine); end.After(now) && (first.IsZero() || end.Before(first)) {
			first = end
		}
	}
	return first, !first.IsZero()
}

// Pass finds the pods bound to missing nodes in store, starts or continues
// those nodes' quarantine, and deletes the pods of the nodes whose
// quarantine is over and that the current store still does not have.
func (g *PodGC) Pass(ctx context.Context, store *fsm.Store) error {
	nodes, err := store.List("nodes", fsm.ListOptions{})
	if err != nil {
		return err
	}
	exists := make(map[string]bool, len(nodes.Items))
	for _, r := range nodes.Items {
		exists[r.Summary().Meta.Name] = true
	}
	pods, err := store.List("pods", fsm.ListOptions{})
	if err != nil {
		return err
	}
	orphans := map[string][]*v1.Pod{}
	for _, r := range pods.Items {
		if n := r.NodeName(); n != "" && !exists[n] {
			orphans[n] = append(orphans[n], r.Object().(*v1.Pod))
		}
	}
	expired := g.quarantine(orphans, g.cfg.Now())
	if len(expired) == 0 {
		return nil
	}
	// Re-check against the current store, as Kubernetes asks the API
	// server: the node may have registered since the list above.
	fresh := g.cfg.Store()
	var items []fsm.BatchItem
	var deleted []string
	now := v1.NewTime(g.cfg.Now())
	for _, node := range expired {
		if _, err := fresh.Get("nodes", "", node); err == nil {
			g.forget(node)
			continue
		} else if !v1.IsNotFound(err) {
			return fmt.Errorf("check node %s: %w", node, err)
		}
		for _, p := range orphans[node] {
			it, err := podGCWrites(p, now)
			if err != nil {
				return fmt.Errorf("pod %s/%s: %w", p.Namespace, p.Name, err)
			}
			items = append(items, it...)
			deleted = append(deleted, v1.Key(p.Namespace, p.Name))
		}
	}
	if len(items) == 0 {
		return nil
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	res, err := g.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return fmt.Errorf("delete pods of missing nodes %v: %w", expired, err)
	}
	results, _ := res.(fsm.BatchResult)
	for i, r := range results {
		// Conflicts and not-found: the pod changed or went meanwhile; the
		// next pass looks again.
		if r.Err != nil && !v1.IsConflict(r.Err) && !v1.IsNotFound(r.Err) {
			g.cfg.Logger.Warn("pod garbage collection refused", "item", i, "err", r.Err)
		}
	}
	g.cfg.Logger.Info("force-deleted pods bound to nodes that no longer exist", "nodes", expired, "pods", deleted)
	return nil
}

// quarantine records the missing nodes of orphans, forgets the nodes that
// no longer have orphans (they registered, or their pods went), and returns,
// sorted, the nodes missing for at least the quarantine at now.
func (g *PodGC) quarantine(orphans map[string][]*v1.Pod, now time.Time) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	for n := range g.missing {
		if _, ok := orphans[n]; !ok {
			delete(g.missing, n)
		}
	}
	var expired []string
	for n := range orphans {
		since, ok := g.missing[n]
		if !ok {
			g.missing[n] = now
			continue
		}
		if now.Sub(since) >= g.cfg.Quarantine {
			expired = append(expired, n)
		}
	}
	slices.Sort(expired)
	return expired
}

func (g *PodGC) forget(node string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.missing, node)
}

// podGCWrites marks p Failed with the DisruptionTarget condition (unless it
// has finished already) and force-deletes it (grace period 0), both with
// p's identity as precondition.
func podGCWrites(p *v1.Pod, now v1.Time) ([]fsm.BatchItem, error) {
	var out []fsm.BatchItem
	if !p.Terminal() {
		q := v1.DeepCopy(p)
		q.Status.Phase = v1.PodFailed
		q.Status.Conditions = v1.SetPodCondition(q.Status.Conditions, v1.PodCondition{Type: PodDisruptionTarget,
			Status: v1.ConditionTrue, Reason: podGCReasonDeletion, Message: podGCMessageNodeAbsent, LastTransitionTime: now})
		cmd, err := fsm.NewUpdate(q, true)
		if err != nil {
			return nil, err
		}
		out = append(out, batchItem(cmd))
	}
	zero := int64(0)
	cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "pods", Namespace: p.Namespace, Name: p.Name,
		UID: p.UID, GracePeriodSeconds: &zero, Now: now})
	if err != nil {
		return nil, err
	}
	return append(out, batchItem(cmd)), nil
}
