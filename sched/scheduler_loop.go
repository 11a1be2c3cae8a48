package sched

import (
	"context"
	"log/slog"
	"maps"
	"math/rand/v2"
	"sort"
	"sync"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// SchedulerConfig configures the scheduling loop.
type SchedulerConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits bindings and status updates.
	Proposer Proposer
	// Logger receives the loop's logs.
	Logger *slog.Logger
	// Resync is the longest pause between full passes without a change
	// (default 5 minutes, see defaultSchedulerResync).
	Resync time.Duration
	// MaxBatch caps the bindings committed in one entry (default 500).
	MaxBatch int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Rand breaks ties (default a randomly seeded source).
	Rand *rand.Rand
	// Recorder records Scheduled and FailedScheduling events (nil: none).
	Recorder *events.Recorder
}

// Scheduler places unbound pods on nodes while this master leads.
type Scheduler struct {
	cfg SchedulerConfig

	// mu serialises passes over the cache.
	mu    sync.Mutex
	cache schedulerCache
}

// defaultSchedulerResync is the default pause between full passes without
// a change. The scheduler's cache follows every pod and node change, and
// the changes that can make room for a waiting pod start a pass, so the
// full pass (which tries every pending pod again) is only a safety net: it
// runs as rarely as kube-scheduler flushes its unschedulable pods
// (podMaxInUnschedulablePodsDuration, 5 minutes). It does not rebuild the
// cache: the cache catches up from the feed, as on every pass, and is
// rebuilt from lists only when it cannot be (the first pass, a replaced
// store, a feed that lost the changes since; schedulerCache.sync), as
// kube-scheduler's cache is never rebuilt while its informers run.
const defaultSchedulerResync = 5 * time.Minute

// retryBackoff is how long a pass whose binding was refused (or may not
// have been committed) waits for a change before it tries again.
const retryBackoff = time.Second

// NewScheduler returns a scheduler; Run starts it.
func NewScheduler(cfg SchedulerConfig) *Scheduler {
	if cfg.Resync == 0 {
		cfg.Resync = defaultSchedulerResync
	}
	if cfg.MaxBatch == 0 {
		cfg.MaxBatch = 500
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "scheduler")
	return &Scheduler{cfg: cfg}
}

// Run schedules until ctx ends: a pass whenever pods or nodes change (many
// changes collapse into one pass) and at least every Resync.
//
// Cost per change: the cache's upkeep (schedulerCache: O(the changed pod)
// for a pod, O(pods on the node) for a node's new labels), then, when the
// change can place a pod, a pass of O(pending pods + namespaces) reads and
// O(pending pods × nodes) placement, never O(bound pods). A full pass (a
// resync, a wake to retry) costs the same; only a rebuild of the cache
// (first pass, store replaced, feed lost) reads every pod and node.
func (s *Scheduler) Run(ctx context.Context) {
	var left waiting // what the last pass could not place
	// A refused binding or one of unknown outcome is retried at the next
	// change, or after a back-off (kube-scheduler's initial pod back-off)
	// when none comes.
	retry := func() (time.Duration, bool) { return retryBackoff, left.retry }
	runOnChangesWake(ctx, s.cfg.Store, follows{"pods", "nodes", "namespaces"}, s.cfg.Resync, retry, s.cfg.Logger, func(ctx context.Context, store *fsm.Store, ch changes) error {
		s.mu.Lock()
		err := s.cache.sync(store)
		s.mu.Unlock()
		if err != nil {
			return err
		}
		if !ch.full && !relevant(ch.events, left) {
			return nil
		}
		_, left, err = s.pass(ctx, store)
		return err
	})
}

// waiting is what a pass left unplaced.
type waiting struct {
	// pods is how many pods fit nowhere.
	pods int
	// forPods: some of them have required pod affinity or a DoNotSchedule
	// topology spread constraint, so a pod bound
	// (or relabelled) anywhere may make room for them.
	forPods bool
	// retry: a binding was refused or its outcome is unknown (the pass
	// saw the cluster before a change it had not yet heard of), so the
	// next change of any kind starts a pass.
	retry bool
}

// relevant reports whether any of the changes can let a pass place a pod: a
// new or changed unbound pod, a node change, or (when pods wait) a pod that
// left a node or finished or a namespace's change, and any bound pod's
// change when a pod waits for other pods. Unbound pods are recognised by
// their index key, and every pod by its summary, never decoded whole.
func relevant(evs []fsm.Event, w waiting) bool {
	if w.retry && len(evs) > 0 {
		return true
	}
	podsWait := w.pods > 0
	for _, ev := range evs {
		switch ev.Resource {
		case "nodes":
			return true
		case "namespaces":
			// Their labels are what the namespace selectors of pod
			// affinity terms match: new labels on a namespace of pods
			// may select them (a new namespace holds no pods yet).
			if podsWait && ev.Type == v1.Modified && ev.Prev != nil &&
				!maps.Equal(ev.Prev.Summary().Meta.Labels, ev.Record.Summary().Meta.Labels) {
				return true
			}
		case "pods":
			if ev.Type != v1.Deleted && ev.Record.NodeName() == "" {
				if p := ev.Record.Summary(); oursByName(p.SchedulerName) && p.Meta.DeletionTimestamp == nil {
					return true
				}
				continue // another scheduler's pod, or one being deleted
			}
			if w.forPods && ev.Type != v1.Deleted {
				return true
			}
			if podsWait && (ev.Type == v1.Deleted || ev.Record.Summary().Terminal()) {
				return true
			}
		}
	}
	return false
}

// Pass schedules every pending pod once: it commits the bindings (in
// entries of at most MaxBatch) and marks the pods that fit nowhere. It
// returns the number of pods bound.
func (s *Scheduler) Pass(ctx context.Context, store *fsm.Store) (int, error) {
	placed, _, err := s.pass(ctx, store)
	return placed, err
}

// pass is Pass that also returns what it could not place. It catches the
// cache up with the store first, and reads only the pods it may place
// (the cache's pending set, schedulerCache.pendingPods) and the
// namespaces.
func (s *Scheduler) pass(ctx context.Context, store *fsm.Store) (int, waiting, error) {
	begin := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.cache.sync(store); err != nil {
		return 0, waiting{}, err
	}
	pending, err := s.cache.pendingPods(store)
	if err != nil {
		return 0, waiting{}, err
	}
	if len(pending) == 0 {
		return 0, waiting{}, nil
	}
	// Oldest first, so a pod waiting longest gets the next free room.
	sort.SliceStable(pending, func(i, j int) bool {
		return pending[i].CreationTimestamp.Before(pending[j].CreationTimestamp.Time)
	})
	nsRes, err := store.List("namespaces", fsm.ListOptions{})
	if err != nil {
		return 0, waiting{}, err
	}
	namespaces := make([]*v1.Namespace, 0, len(nsRes.Items))
	for _, r := range nsRes.Items {
		namespaces = append(namespaces, r.Object().(*v1.Namespace))
	}
	snap := s.cache.snap
	snap.SetNamespaces(namespaces)
	plan := Schedule(snap, pending, s.cfg.Rand)
	// The placements stay in the cache, assumed, until the feed brings
	// the bound pods (or the FSM refuses them).
	for _, pi := range plan.placed {
		s.cache.assume(pi)
	}
	left := waiting{pods: len(plan.Unschedulable)}
	for _, p := range pending {
		if _, ok := plan.Unschedulable[v1.Key(p.Namespace, p.Name)]; ok && waitsForPods(p) {
			left.forPods = true
			break
		}
	}
	now := v1.NewTime(s.cfg.Now())
	placed := 0
	for start := 0; start < len(plan.Bindings); start += s.cfg.MaxBatch {
		end := min(start+s.cfg.MaxBatch, len(plan.Bindings))
		planned := time.Now()
		res, err := s.bind(ctx, plan.Bindings[start:end], now)
		s.cfg.Logger.Debug("bindings committed", "pods", end-start, "plan", planned.Sub(begin), "commit", time.Since(planned), "err", err)
		if err != nil {
			// Unknown outcome: forget the rest; the feed brings back
			// those that were bound.
			for _, b := range plan.Bindings[start:] {
				s.cache.remove(v1.Key(b.Namespace, b.Name))
			}
			left.retry = true
			return placed, left, err
		}
		for i, r := range res {
			b := plan.Bindings[start+i]
			if r.Err != nil {
				s.cache.remove(v1.Key(b.Namespace, b.Name))
				left.retry = true
				continue
			}
			placed++
			if p, ok := recordPod(r.Record); ok {
				s.cfg.Recorder.Eventf(p, v1.EventTypeNormal, "Scheduled", "Successfully assigned %v/%v to %v", b.Namespace, b.Name, b.Node)
			}
		}
	}
	return placed, left, s.markUnschedulable(ctx, pending, plan.Unschedulable, now)
}

// bind commits one entry of bindings and returns each one's result.
func (s *Scheduler) bind(ctx context.Context, bs []fsm.Binding, now v1.Time) (fsm.BatchResult, error) {
	cmd, err := fsm.Encode(fsm.BindCommand, fsm.BindRequest{Bindings: bs, Now: now})
	if err != nil {
		return nil, err
	}
	res, err := s.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	return res.(fsm.BatchResult), nil
}

// ours reports whether a pod is this scheduler's to place: pods that name
// another scheduler are left alone, as Kubernetes' default scheduler does.
func ours(p *v1.Pod) bool { return oursByName(p.Spec.SchedulerName) }

// oursByName reports whether a pod naming scheduler is this scheduler's.
func oursByName(scheduler string) bool {
	return scheduler == "" || scheduler == v1.DefaultSchedulerName
}

// markUnschedulable sets PodScheduled=False with the reason on the pods that
// fit nowhere, in one entry, skipping pods whose condition already says so.
func (s *Scheduler) markUnschedulable(ctx context.Context, pending []*v1.Pod, why map[string]string, now v1.Time) error {
	var items []fsm.BatchItem
	for _, p := range pending {
		msg, ok := why[v1.Key(p.Namespace, p.Name)]
		if !ok {
			continue
		}
		// Every failed attempt, as Kubernetes' scheduler: the recorder
		// counts repeats into one event.
		s.cfg.Recorder.Eventf(p, v1.EventTypeWarning, "FailedScheduling", "%s", msg)
		if c := p.Status.Condition(v1.PodScheduled); c != nil && c.Status == v1.ConditionFalse && c.Message == msg {
			continue
		}
		q := v1.DeepCopy(p)
		q.Status.Conditions = v1.SetPodCondition(q.Status.Conditions, v1.PodCondition{Type: v1.PodScheduled, Status: v1.ConditionFalse,
			Reason: "Unschedulable", Message: msg, LastTransitionTime: now})
		body, err := fsm.NewUpdate(q, true)
		if err != nil {
			return err
		}
		items = append(items, fsm.BatchItem{Type: fsm.CommandType(body[0]), Body: body[1:]})
	}
	if len(items) == 0 {
		return nil
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	_, err = s.cfg.Proposer.Apply(ctx, cmd)
	return err
}
