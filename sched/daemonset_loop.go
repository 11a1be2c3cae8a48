package sched

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// DaemonSetConfig configures the daemon set controller.
type DaemonSetConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the pod creates, deletes and adoptions, the
	// revisions and the DaemonSet statuses.
	Proposer Proposer
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Resync is the longest pause between full passes (default
	// DefaultControllerResync). Between them a pass syncs only the
	// DaemonSets its changes concern and those whose time came (a back-off's
	// end, minReadySeconds, expectations' timeout).
	Resync time.Duration
	// Pods is the leader's pod informer, shared with other controllers
	// (nil: the controller keeps its own).
	Pods *Informer
	// Now is the leader's clock (default time.Now).
	Now func() time.Time
	// AdmitPod, if set, is the API's validating admission of a new pod
	// (Pod Security), which the controller's pods would otherwise miss.
	AdmitPod AdmitFunc
	// Recorder records the DaemonSets' events (nil: none).
	Recorder *events.Recorder
}

// DaemonSetController runs one pod of every DaemonSet on each eligible
// node while this master leads, as Kubernetes' daemon set controller. Its
// decisions are PlanDaemonSet's; it keeps nothing a new leader would need:
// every pass starts from the stored DaemonSets, nodes, pods and revisions.
type DaemonSetController struct {
	cfg     DaemonSetConfig
	exp     *Expectations
	backoff *createBackoff
	// failed holds back the replacement of failed pods, per daemon set
	// and node (key "<daemon set key>/<node>").
	failed *createBackoff
	pods   *Informer
	// lastFull is when the last full pass ran.
	lastFull time.Time
	// due holds when each DaemonSet (by namespace/name) must be synced
	// without a change.
	due dueSet[string]
}

// NewDaemonSetController returns a controller; Run starts it.
func NewDaemonSetController(cfg DaemonSetConfig) *DaemonSetController {
	if cfg.Resync == 0 {
		cfg.Resync = DefaultControllerResync
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "daemonset")
	return &DaemonSetController{cfg: cfg, exp: NewExpectations(0, cfg.Now), backoff: newCreateBackoff(0, 0),
		failed: newCreateBackoff(FailedDaemonPodBackoffBase, FailedDaemonPodBackoffMax), pods: informerOr(cfg.Pods, "pods")}
}

// Back-off between replacements of a node's failed daemon pods
// (Kubernetes' failedPodsBackoff).
const (
	FailedDaemonPodBackoffBase = time.Second
	FailedDaemonPodBackoffMax  = 15 * time.Minute
)

// retainFailed drops the failed-pod back-offs of daemon sets not in keys.
func (c *DaemonSetController) retainFailed(keys map[string]bool) {
	b := c.failed
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.items {
		if i := strings.LastIndexByte(k, '/'); i < 0 || !keys[k[:i]] {
			delete(b.items, k)
		}
	}
}

// failedRetryAt returns the earliest end of a back-off of key's failed pods
// (on any node), and false when none is held.
func (c *DaemonSetController) failedRetryAt(key string) (time.Time, bool) {
	b := c.failed
	b.mu.Lock()
	defer b.mu.Unlock()
	var first time.Time
	for k, it := range b.items {
		if strings.HasPrefix(k, key+"/") && (first.IsZero() || it.next.Before(first)) {
			first = it.next
		}
	}
	return first, !first.IsZero()
}

// Run syncs the DaemonSets each change concerns, every DaemonSet at least
// every Resync, and a DaemonSet when its back-offs or a pod's
// minReadySeconds end.
func (c *DaemonSetController) Run(ctx context.Context) {
	wake := func() (time.Duration, bool) { return c.due.wakeAfter(c.cfg.Now()) }
	runOnChangesWake(ctx, c.cfg.Store, follows{"daemonsets", "nodes", "pods", "controllerrevisions"}, c.cfg.Resync, wake, c.cfg.Logger, c.pass)
}

// dsWrite is one write of a pass and what it means for the expectations
// and the events.
type dsWrite struct {
	item   fsm.BatchItem
	ds     *v1.DaemonSet
	key    string
	create bool
	delUID string
	pod    string
}

// Pass plans every DaemonSet (a full pass: the first one, a resync, or
// after the store was replaced) against the nodes and the pods it controls and the orphans its
// selector matches, read through the pod informer (podsInKeyOrder), not
// every pod of the store: O(DaemonSets + their pods).
func (c *DaemonSetController) Pass(ctx context.Context, store *fsm.Store) error {
	list, err := store.List("daemonsets", fsm.ListOptions{})
	if err != nil {
		return fmt.Errorf("list daemonsets: %w", err)
	}
	dss := make([]*v1.DaemonSet, 0, len(list.Items))
	keys := map[string]bool{}
	for _, r := range list.Items {
		ds, ok := r.Object().(*v1.DaemonSet)
		if !ok {
			return fmt.Errorf("list daemonsets: a stored %T", r.Object())
		}
		dss = append(dss, ds)
		keys[daemonSetKey(ds)] = true
	}
	c.backoff.retain(keys)
	c.retainFailed(keys)
	if len(dss) == 0 {
		c.due.reset()
		return nil
	}
	if err := c.pods.Sync(store); err != nil {
		return err
	}
	c.due.reset()
	return c.sync(ctx, store, dss, func(ds *v1.DaemonSet) ([]*v1.Pod, error) { return podsInKeyOrder(c.podsOf(store, ds)) })
}

// listNodes returns every node of store.
func listNodes(store *fsm.Store) ([]*v1.Node, error) {
	nodeList, err := store.List("nodes", fsm.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	nodes := make([]*v1.Node, 0, len(nodeList.Items))
	for _, r := range nodeList.Items {
		n, ok := r.Object().(*v1.Node)
		if !ok {
			return nil, fmt.Errorf("list nodes: a stored %T", r.Object())
		}
		nodes = append(nodes, n)
	}
	return nodes, nil
}

// sync plans each of dss against the nodes and the pods podsOf returns for
// it (at least those it controls and the orphans its selector matches) and
// commits the writes of all of them in one entry (adoptions, pod deletes
// and creates), then the statuses that changed in a second one. When each
// DaemonSet must be synced again without a change is recorded in due.
func (c *DaemonSetController) sync(ctx context.Context, store *fsm.Store, dss []*v1.DaemonSet,
	podsOf func(*v1.DaemonSet) ([]*v1.Pod, error)) error {
	nodes, err := listNodes(store)
	if err != nil {
		return err
	}
	now := c.cfg.Now()
	var writes []dsWrite
	var statuses []dsStatus
	wakes := map[*v1.DaemonSet]time.Time{}
	defer func() {
		for ds, w := range wakes {
			c.scheduleDaemonSet(ds, w, now)
		}
	}()
	for _, ds := range dss {
		key := daemonSetKey(ds)
		wakes[ds] = time.Time{}
		if ds.DeletionTimestamp != nil {
			continue // the garbage collector takes its pods and revisions
		}
		cur, err := c.revision(ctx, store, ds)
		if err != nil {
			c.cfg.Logger.Warn("revision not written", "daemonset", key, "err", err)
			continue
		}
		pods, err := podsOf(ds)
		if err != nil {
			return fmt.Errorf("pods of daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
		}
		held := func(node string) bool { return !c.failed.ready(key+"/"+node, now) }
		plan := PlanDaemonSet(ds, nodes, pods, cur.hash, c.exp, held, now)
		for _, node := range plan.FailedOn {
			c.failed.failure(key+"/"+node, now)
		}
		for _, p := range plan.Delete {
			if p.Status.Phase == v1.PodFailed && p.DeletionTimestamp == nil {
				c.cfg.Recorder.Eventf(ds, v1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it",
					p.Namespace, p.Name, daemonPodTarget(p))
			}
		}
		wakes[ds] = plan.Wake
		w, refused, err := c.writes(ctx, ds, key, cur.hash, plan, now)
		if err != nil {
			return fmt.Errorf("plan daemon set %s/%s: %w", ds.Namespace, ds.Name, err)
		}
		writes = append(writes, w...)
		if refused != nil {
			d := c.backoff.failure(key, now)
			c.cfg.Logger.Warn("pod creates refused: backing off", "daemonset", key, "retryIn", d, "err", refused)
			c.cfg.Recorder.Eventf(ds, v1.EventTypeWarning, "FailedCreate", "Error creating: %v", refused)
		}
		if len(plan.Create)+len(plan.Delete)+len(plan.Adopt) == 0 && c.exp.Satisfied(key) {
			if err := c.cleanupHistory(ctx, ds, cur.old, pods); err != nil {
				c.cfg.Logger.Warn("history not cleaned up", "daemonset", key, "err", err)
			}
		}
		if !v1.JSONEqual(plan.Status, ds.Status) {
			statuses = append(statuses, dsStatus{ds, plan.Status})
		}
	}
	if len(writes) > 0 {
		if err := c.apply(ctx, writes, now); err != nil {
			return err
		}
	}
	return c.writeStatuses(ctx, statuses)
}

// dsStatus is a DaemonSet and its new status.
type dsStatus struct {
	ds *v1.DaemonSet
	st v1.DaemonSetStatus
}

// writes turns a plan into commands. It returns the first admission
// refusal of a pod create, if any (the DaemonSet's creates then back off).
func (c *DaemonSetController) writes(ctx context.Context, ds *v1.DaemonSet, key, hash string, plan DaemonSetPlan, now time.Time) (out []dsWrite, refused, err error) {
	for _, p := range plan.Adopt {
		q := v1.DeepCopy(p)
		q.OwnerReferences = append(q.OwnerReferences, NewDaemonSetControllerRef(ds))
		cmd, err := fsm.NewUpdate(q, false) // the pod's resourceVersion is the precondition
		if err != nil {
			return nil, nil, err
		}
		out = append(out, dsWrite{item: batchItem(cmd), key: key})
	}
	var dels []string
	for _, p := range plan.Delete {
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "pods", Namespace: p.Namespace, Name: p.Name,
			UID: p.UID, ResourceVersion: p.ResourceVersion, Now: v1.NewTime(now)})
		if err != nil {
			return nil, nil, err
		}
		dels = append(dels, p.UID)
		out = append(out, dsWrite{item: batchItem(cmd), ds: ds, key: key, delUID: p.UID, pod: p.Name})
	}
	if len(dels) > 0 {
		c.exp.ExpectDeletions(key, dels)
	}
	if len(plan.Create) == 0 {
		c.backoff.forget(key)
		return out, nil, nil
	}
	if !c.backoff.ready(key, now) {
		return out, nil, nil
	}
	made := 0
	for _, node := range plan.Create {
		w, err := c.createWrite(ctx, ds, key, node, hash, now)
		var lr limitRefusal
		if errors.As(err, &lr) {
			refused = lr.err
			break
		}
		if err != nil {
			return nil, nil, err
		}
		out = append(out, w)
		made++
	}
	if made > 0 {
		c.exp.ExpectCreations(key, made)
	}
	return out, refused, nil
}

// createWrite is the create of ds's pod for node, admitted as the API
// would admit it.
func (c *DaemonSetController) createWrite(ctx context.Context, ds *v1.DaemonSet, key, node, hash string, now time.Time) (dsWrite, error) {
	p := PodForNode(ds, node, hash)
	p.Name = v1.GenerateName(p.GenerateName)
	v1.ApplyLabelKeys(p) // as the API server does to a created pod
	if err := admitNewPod(ctx, c.cfg.Store(), c.cfg.AdmitPod, p, now); err != nil {
		return dsWrite{}, err
	}
	cmd, err := fsm.NewCreate(p)
	if err != nil {
		return dsWrite{}, err
	}
	return dsWrite{item: batchItem(cmd), ds: ds, key: key, create: true, pod: p.Name}, nil
}

// apply commits writes in one entry and settles their expectations (the
// leader's store holds the entry once Apply returns).
func (c *DaemonSetController) apply(ctx context.Context, writes []dsWrite, now time.Time) error {
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
		return err // outcome unknown: the expectations hold these DaemonSets back
	}
	results, _ := res.(fsm.BatchResult)
	for i, w := range writes {
		var werr error
		if i < len(results) {
			werr = results[i].Err
		}
		switch {
		case w.create:
			c.exp.CreationObserved(w.key)
			if werr != nil {
				c.backoff.failure(w.key, now)
			}
		case w.delUID != "":
			c.exp.DeletionObserved(w.key, w.delUID)
		}
		if werr != nil && !v1.IsConflict(werr) && !v1.IsNotFound(werr) {
			c.cfg.Logger.Warn("daemon set write refused", "daemonset", w.key, "err", werr)
		}
		if w.ds != nil {
			c.recordWrite(w, werr)
		}
	}
	return nil
}

// writeStatuses commits the changed statuses in one entry, each with the
// DaemonSet's resourceVersion as precondition (a conflict is planned
// again).
func (c *DaemonSetController) writeStatuses(ctx context.Context, sts []dsStatus) error {
	if len(sts) == 0 {
		return nil
	}
	items := make([]fsm.BatchItem, 0, len(sts))
	for _, s := range sts {
		q := v1.DeepCopy(s.ds)
		q.Status = s.st
		cmd, err := fsm.NewUpdate(q, true)
		if err != nil {
			return fmt.Errorf("status of daemon set %s/%s: %w", s.ds.Namespace, s.ds.Name, err)
		}
		items = append(items, batchItem(cmd))
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
	for i, s := range sts {
		if i < len(results) && results[i].Err != nil && !v1.IsConflict(results[i].Err) && !v1.IsNotFound(results[i].Err) {
			c.cfg.Logger.Warn("daemon set status refused", "daemonset", s.ds.Namespace+"/"+s.ds.Name, "err", results[i].Err)
		}
	}
	return nil
}

// recordWrite records a pod create or delete on its DaemonSet, with
// Kubernetes' reasons and messages.
func (c *DaemonSetController) recordWrite(w dsWrite, err error) {
	switch {
	case w.create && err == nil:
		c.cfg.Recorder.Eventf(w.ds, v1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", w.pod)
	case w.create:
		c.cfg.Recorder.Eventf(w.ds, v1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
	case err == nil:
		c.cfg.Recorder.Eventf(w.ds, v1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", w.pod)
	case !v1.IsNotFound(err) && !v1.IsConflict(err):
		c.cfg.Recorder.Eventf(w.ds, v1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
	}
}
