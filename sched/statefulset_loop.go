package sched

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// StatefulSetConfig configures the stateful set controller.
type StatefulSetConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the pod creates, deletes, adoptions and statuses.
	Proposer Proposer
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Resync is the longest pause between full passes (default
	// DefaultControllerResync). Between them a pass syncs only the sets its
	// changes concern and those whose time came (a back-off's end,
	// minReadySeconds).
	Resync time.Duration
	// Pods is the leader's pod informer, shared with other controllers
	// (nil: the controller keeps its own).
	Pods *Informer
	// Now is the leader's clock (default time.Now).
	Now func() time.Time
	// AdmitPod, if set, is the API's validating admission of a new pod
	// (Pod Security), which the controller's pods would otherwise miss.
	AdmitPod AdmitFunc
	// Recorder records the sets' events (nil: none).
	Recorder *events.Recorder
}

// StatefulSetController keeps every stateful set's pods while this master
// leads. Its decisions are PlanStatefulSet's; it keeps no state of its own
// beyond back-offs, so a new leader continues from the stored objects.
// Every write has a precondition: a create fails if the pod's name is
// taken, a delete names the pod's uid, an adoption and a status update the
// object's resourceVersion.
type StatefulSetController struct {
	cfg     StatefulSetConfig
	backoff *createBackoff
	pods    *Informer
	// lastFull is when the last full pass ran.
	lastFull time.Time
	// due holds when each set (by namespace/name) must be synced without
	// a change.
	due dueSet[string]
}

// NewStatefulSetController returns a controller; Run starts it.
func NewStatefulSetController(cfg StatefulSetConfig) *StatefulSetController {
	if cfg.Resync == 0 {
		cfg.Resync = DefaultControllerResync
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "statefulset")
	return &StatefulSetController{cfg: cfg, backoff: newCreateBackoff(0, 0), pods: informerOr(cfg.Pods, "pods")}
}

// Run syncs the sets each change concerns, every set at least every
// Resync, and a set when a pod of it becomes available or its back-off
// ends.
func (c *StatefulSetController) Run(ctx context.Context) {
	wake := func() (time.Duration, bool) { return c.due.wakeAfter(c.cfg.Now()) }
	runOnChangesWake(ctx, c.cfg.Store, follows{"statefulsets", "pods", "controllerrevisions"}, c.cfg.Resync, wake, c.cfg.Logger, c.pass)
}

// ssWrite is one write of a pass and its event.
type ssWrite struct {
	item   fsm.BatchItem
	set    *v1.StatefulSet
	create bool
	pod    string
}

// Pass plans every set (a full pass: the first one, a resync, or after the
// store was replaced) against the pods it controls and the orphans its
// selector matches, read through the pod informer (podsInKeyOrder), not
// every pod of the store: O(sets + their pods).
func (c *StatefulSetController) Pass(ctx context.Context, store *fsm.Store) error {
	l, err := store.List("statefulsets", fsm.ListOptions{})
	if err != nil {
		return err
	}
	sets := make([]*v1.StatefulSet, 0, len(l.Items))
	keys := map[string]bool{}
	for _, r := range l.Items {
		ss, ok := r.Object().(*v1.StatefulSet)
		if !ok {
			return fmt.Errorf("list statefulsets: a stored %T", r.Object())
		}
		sets = append(sets, ss)
		keys[ExpectationsKey(ss.Namespace, ss.Name, ss.UID)] = true
	}
	c.backoff.retain(keys)
	if len(sets) == 0 {
		c.due.reset()
		return nil
	}
	if err := c.pods.Sync(store); err != nil {
		return err
	}
	c.due.reset()
	return c.sync(ctx, store, sets, func(ss *v1.StatefulSet) ([]*v1.Pod, error) { return podsInKeyOrder(c.podsOf(store, ss)) })
}

// sync plans each of sets against the pods podsOf returns for it (at least
// those it controls and the orphans its selector matches) and the
// revisions of its namespace, and commits the pod writes of all sets in
// one entry, then the statuses that changed in another. When each set
// must be synced again without a change is recorded in due.
func (c *StatefulSetController) sync(ctx context.Context, store *fsm.Store, sets []*v1.StatefulSet,
	podsOf func(*v1.StatefulSet) ([]*v1.Pod, error)) error {
	revsByNS := map[string][]*v1.ControllerRevision{}
	for _, ss := range sets {
		if _, ok := revsByNS[ss.Namespace]; ok {
			continue
		}
		l, err := store.List("controllerrevisions", fsm.ListOptions{Namespace: ss.Namespace})
		if err != nil {
			return fmt.Errorf("list controllerrevisions of %s: %w", ss.Namespace, err)
		}
		revs := make([]*v1.ControllerRevision, 0, len(l.Items))
		for _, r := range l.Items {
			revs = append(revs, r.Object().(*v1.ControllerRevision))
		}
		revsByNS[ss.Namespace] = revs
	}
	now := c.cfg.Now()
	var writes, statuses []ssWrite
	wakes := map[*v1.StatefulSet]time.Time{}
	defer func() {
		for ss, w := range wakes {
			c.scheduleSet(ss, w, now)
		}
	}()
	for _, ss := range sets {
		key := ExpectationsKey(ss.Namespace, ss.Name, ss.UID)
		wakes[ss] = time.Time{}
		pods, err := podsOf(ss)
		if err != nil {
			return fmt.Errorf("pods of statefulset %s/%s: %w", ss.Namespace, ss.Name, err)
		}
		rp, err := PlanStatefulSetRevisions(ss, revsByNS[ss.Namespace], pods)
		if err != nil {
			return fmt.Errorf("revisions of statefulset %s/%s: %w", ss.Namespace, ss.Name, err)
		}
		if rp.Collision && ss.DeletionTimestamp == nil {
			q := v1.DeepCopy(ss)
			n := int32(1)
			if q.Status.CollisionCount != nil {
				n = *q.Status.CollisionCount + 1
			}
			q.Status.CollisionCount = &n
			cmd, err := fsm.NewUpdate(q, true)
			if err != nil {
				return fmt.Errorf("status of statefulset %s/%s: %w", ss.Namespace, ss.Name, err)
			}
			statuses = append(statuses, ssWrite{item: batchItem(cmd)})
			continue
		}
		if ss.DeletionTimestamp == nil {
			w, err := revisionWrites(rp, now)
			if err != nil {
				return fmt.Errorf("revisions of statefulset %s/%s: %w", ss.Namespace, ss.Name, err)
			}
			writes = append(writes, w...)
		}
		plan := PlanStatefulSet(ss, pods, rp.Revisions, now)
		wakes[ss] = plan.Wake
		w, created, err := c.writes(ctx, ss, key, plan, now)
		if err != nil {
			return fmt.Errorf("plan statefulset %s/%s: %w", ss.Namespace, ss.Name, err)
		}
		writes = append(writes, w...)
		st := plan.Status
		if created < len(plan.Create) {
			st = plan.statusWith(created) // refused creates do not count
		}
		if !v1.JSONEqual(st, ss.Status) {
			q := v1.DeepCopy(ss)
			q.Status = st
			cmd, err := fsm.NewUpdate(q, true)
			if err != nil {
				return fmt.Errorf("status of statefulset %s/%s: %w", ss.Namespace, ss.Name, err)
			}
			statuses = append(statuses, ssWrite{item: batchItem(cmd)})
		}
	}
	if err := c.apply(ctx, writes); err != nil {
		return err
	}
	return c.apply(ctx, statuses)
}

// writes turns a plan into commands; it returns how many of the plan's
// creates it admitted. After an admission refusal the set's creates back
// off and the rest of its creates wait.
func (c *StatefulSetController) writes(ctx context.Context, ss *v1.StatefulSet, key string, plan StatefulSetPlan, now time.Time) ([]ssWrite, int, error) {
	var out []ssWrite
	add := func(cmd []byte, err error, w ssWrite) error {
		if err != nil {
			return err
		}
		w.item = batchItem(cmd)
		out = append(out, w)
		return nil
	}
	for _, p := range plan.Adopt {
		q := v1.DeepCopy(p)
		q.OwnerReferences = append(q.OwnerReferences, NewControllerRef(ss))
		cmd, err := fsm.NewUpdate(q, false)
		if err := add(cmd, err, ssWrite{}); err != nil {
			return nil, 0, err
		}
	}
	for _, p := range plan.Release {
		q := v1.DeepCopy(p)
		var refs []v1.OwnerReference
		for _, ref := range q.OwnerReferences {
			if ref.UID != ss.UID {
				refs = append(refs, ref)
			}
		}
		q.OwnerReferences = refs
		cmd, err := fsm.NewUpdate(q, false)
		if err := add(cmd, err, ssWrite{}); err != nil {
			return nil, 0, err
		}
	}
	for _, p := range plan.Delete {
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "pods", Namespace: p.Namespace, Name: p.Name,
			UID: p.UID, Now: v1.NewTime(now)})
		if err := add(cmd, err, ssWrite{set: ss, pod: p.Name}); err != nil {
			return nil, 0, err
		}
	}
	if len(plan.Create) == 0 {
		c.backoff.forget(key)
		return out, 0, nil
	}
	if !c.backoff.ready(key, now) {
		return out, 0, nil
	}
	made := 0
	for _, p := range plan.Create {
		err := c.admit(ctx, p, now)
		var lr limitRefusal
		if errors.As(err, &lr) {
			d := c.backoff.failure(key, now)
			c.cfg.Logger.Warn("pod create refused: backing off", "statefulset", key, "retryIn", d, "err", lr.err)
			c.cfg.Recorder.Eventf(ss, v1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %v", p.Name, ss.Name, lr.err)
			break
		}
		if err != nil {
			return nil, 0, err
		}
		cmd, err := fsm.NewCreate(p)
		if err := add(cmd, err, ssWrite{set: ss, create: true, pod: p.Name}); err != nil {
			return nil, 0, err
		}
		made++
	}
	return out, made, nil
}

// revisionWrites turns a revision plan into commands: the new revision
// (its name is its precondition), the renumbered one (its resourceVersion)
// and the deletes of old ones (their uid).
func revisionWrites(rp RevisionPlan, now time.Time) ([]ssWrite, error) {
	var out []ssWrite
	if cr := rp.Create; cr != nil {
		cr.UID = uuid.NewString()
		cr.CreationTimestamp = v1.NewTime(now)
		cmd, err := fsm.NewCreate(cr)
		if err != nil {
			return nil, err
		}
		out = append(out, ssWrite{item: batchItem(cmd)})
	}
	if cr := rp.Renumber; cr != nil {
		cmd, err := fsm.NewUpdate(cr, false)
		if err != nil {
			return nil, err
		}
		out = append(out, ssWrite{item: batchItem(cmd)})
	}
	for _, cr := range rp.Delete {
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "controllerrevisions", Namespace: cr.Namespace,
			Name: cr.Name, UID: cr.UID, Now: v1.NewTime(now)})
		if err != nil {
			return nil, err
		}
		out = append(out, ssWrite{item: batchItem(cmd)})
	}
	return out, nil
}

// admit completes a new pod (uid, creationTimestamp, defaults) and admits
// it as the API would: its service account, the LimitRanges, Pod Security.
func (c *StatefulSetController) admit(ctx context.Context, p *v1.Pod, now time.Time) error {
	v1.ApplyLabelKeys(p) // as the API server does to a created pod
	return admitNewPod(ctx, c.cfg.Store(), c.cfg.AdmitPod, p, now)
}

// apply commits writes in one entry and records their events with
// Kubernetes' reasons and messages. Conflicts and not-found mean another
// write came first: the next pass plans again.
func (c *StatefulSetController) apply(ctx context.Context, writes []ssWrite) error {
	if len(writes) == 0 {
		return nil
	}
	items := make([]fsm.BatchItem, len(writes))
	for i, w := range writes {
		items[i] = w.item
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	res, err := c.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return err
	}
	results, _ := res.(fsm.BatchResult)
	for i, w := range writes {
		var werr error
		if i < len(results) {
			werr = results[i].Err
		}
		if werr != nil && !v1.IsConflict(werr) && !v1.IsNotFound(werr) && !v1.IsAlreadyExists(werr) {
			c.cfg.Logger.Warn("statefulset write refused", "pod", w.pod, "err", werr)
		}
		if w.set == nil {
			continue
		}
		verb := "delete"
		if w.create {
			verb = "create"
		}
		if werr == nil {
			c.cfg.Recorder.Eventf(w.set, v1.EventTypeNormal, "Successful"+capitalize(verb),
				"%s Pod %s in StatefulSet %s successful", verb, w.pod, w.set.Name)
		} else if !v1.IsNotFound(werr) && !v1.IsConflict(werr) {
			c.cfg.Recorder.Eventf(w.set, v1.EventTypeWarning, "Failed"+capitalize(verb),
				"%s Pod %s in StatefulSet %s failed error: %v", verb, w.pod, w.set.Name, werr)
		}
	}
	return nil
}

// capitalize returns "Create" for "create".
func capitalize(s string) string {
	if s == "" {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
