package sched

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// UnreachableTaintKey is the NoSchedule taint the node lifecycle controller
// puts on a node that stopped posting status.
const UnreachableTaintKey = "node.orch.io/unreachable"

// Reason and message of the Ready=Unknown condition the controller writes.
const (
	nodeStatusUnknownReason  = "NodeStatusUnknown"
	nodeStatusUnknownMessage = "the node stopped posting status"
)

// NodeLifecycleConfig configures the node lifecycle controller.
type NodeLifecycleConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the status updates, taints and evictions.
	Proposer Proposer
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Grace is how long a node may be silent before it is marked
	// Ready=Unknown and tainted unreachable (default 40 s).
	Grace time.Duration
	// EvictionTimeout is how long a node may be silent before its pods are
	// deleted (default 5 min).
	EvictionTimeout time.Duration
	// Interval is how often the nodes' silences are checked without a
	// change (default 1 s): on the controller's own record of each node,
	// reading from the store only the nodes silent past their grace.
	Interval time.Duration
	// FullResync is how often every node and lease is read from the store
	// without a change (default 1 min): a safety net, since every change
	// of a node or lease reaches the controller as an event.
	FullResync time.Duration
	// Now is the controller's clock (default time.Now). Silence is measured
	// on it, never on the timestamps the nodes write.
	Now func() time.Time
	// Alive, if set, reports a node's gossip liveness (gossip.Liveness.Alive):
	// alive is true while its member is alive or suspect, known while the
	// pool knows it at all. Gossip never counts as a heartbeat: any holder
	// of the gossip key can gossip under a node's name, so only the node's
	// own Ready heartbeat, posted through the authenticated API, keeps it
	// Ready. A node that gossip knows and finds dead (or left) is judged
	// with GossipDeadGrace instead of Grace: gossip only speeds up the
	// detection of a death. Nil: no gossip, heartbeats only.
	Alive func(node string) (alive, known bool)
	// GossipDeadGrace is how long a node that gossip finds dead may be
	// silent before it is marked Ready=Unknown (default Grace/2, never more
	// than Grace). Keep it above the nodes' heartbeat interval, so a gossip
	// flap of a node that still heartbeats changes nothing. Eviction still
	// waits for EvictionTimeout of silence.
	GossipDeadGrace time.Duration
	// Recorder records NodeNotReady, NodeReady and eviction events (nil: none).
	Recorder *events.Recorder
}

// NodeLifecycle marks silent nodes Unknown and unreachable and evicts their
// pods, while this master leads. Like Kubernetes' node lifecycle controller it
// measures a node's silence on its own clock, from the moment *it* saw the
// node's heartbeat change; a new instance (a new leader) starts every node's
// clock afresh, so a failover never evicts a healthy node's pods.
//
// With gossip (NodeLifecycleConfig.Alive) a node that gossip declares dead
// is marked after the shorter GossipDeadGrace of heartbeat silence. Gossip
// never adds evidence of life: a member that keeps gossiping under a dead
// node's name (anyone holding the gossip key can) does not keep it Ready,
// and its pods are evicted after EvictionTimeout as for any silent node.
type NodeLifecycle struct {
	cfg NodeLifecycleConfig

	mu    sync.Mutex
	nodes map[string]*nodeHealth
	// lastFull is when the silences of every node were last checked (the
	// controller's clock), by Pass or CheckSilent.
	lastFull time.Time
}

// nodeHealth is what the controller knows of one node.
type nodeHealth struct {
	uid       string
	heartbeat time.Time // the node's last heartbeat as written in the object
	renewed   time.Time // its lease's renewTime (zero without a lease)
	observed  time.Time // when this controller saw either change (its clock)
	evicted   bool      // pods deleted since the node went silent
}

// NewNodeLifecycle returns a node lifecycle controller; Run starts it.
func NewNodeLifecycle(cfg NodeLifecycleConfig) *NodeLifecycle {
	if cfg.Grace == 0 {
		cfg.Grace = 40 * time.Second
	}
	if cfg.EvictionTimeout == 0 {
		cfg.EvictionTimeout = 5 * time.Minute
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	if cfg.FullResync == 0 {
		cfg.FullResync = time.Minute
	}
	cfg.FullResync = max(cfg.FullResync, cfg.Interval)
	if cfg.GossipDeadGrace <= 0 {
		cfg.GossipDeadGrace = cfg.Grace / 2
	}
	cfg.GossipDeadGrace = min(cfg.GossipDeadGrace, cfg.Grace)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "nodelifecycle")
	return &NodeLifecycle{cfg: cfg, nodes: map[string]*nodeHealth{}}
}

// Run checks the nodes until ctx ends: every node's silence every Interval,
// the nodes whose object or lease changed whenever the store changes (so a
// returning heartbeat lifts the taint at once), and every node and lease
// in the store every FullResync.
func (c *NodeLifecycle) Run(ctx context.Context) {
	// The feed's position is taken before each pass reads the store (in
	// runOnChanges), so a heartbeat committed while a pass runs wakes the
	// next one rather than waiting for the interval.
	runOnChangesWake(ctx, c.cfg.Store, follows{"nodes", "leases"}, c.cfg.FullResync, func() (time.Duration, bool) { return c.cfg.Interval, true },
		c.cfg.Logger, c.pass)
}

// pass runs one pass of the loop. Silence is measured on the clock, so
// every node's silence is checked at least every Interval (even while
// heartbeats keep waking the loop), on the controller's own record of the
// nodes: O(nodes) comparisons of times, and reads (each node's object and
// lease) only for the nodes silent past their grace. Cost per event: a
// node's or its lease's event checks that node alone (its object and lease:
// O(1), plus O(its pods) through PodsOnNode when it goes silent or its pods
// are evicted); a node's deletion reads every node and lease once (a full
// Pass, which collects its lease); other events (pods among them) cost
// nothing. Every node and lease is read at start, on a resync (FullResync)
// and when the feed lost events.
func (c *NodeLifecycle) pass(ctx context.Context, s *fsm.Store, ch changes) error {
	if (ch.full && !ch.woken) || nodeDeleted(ch.events) {
		return c.Pass(ctx, s)
	}
	c.mu.Lock()
	due := ch.full || c.cfg.Now().Sub(c.lastFull) >= c.cfg.Interval
	c.mu.Unlock()
	err := c.CheckNodes(ctx, s, changedNodes(ch.events))
	if due {
		err = errors.Join(err, c.CheckSilent(ctx, s))
	}
	return err
}

// nodeDeleted reports whether evs delete a node.
func nodeDeleted(evs []fsm.Event) bool {
	for _, ev := range evs {
		if ev.Resource == "nodes" && ev.Type == v1.Deleted {
			return true
		}
	}
	return false
}

// CheckSilent checks, as Pass does, the nodes the controller knows whose
// silence (on its clock) passed their grace, reading only those.
func (c *NodeLifecycle) CheckSilent(ctx context.Context, store *fsm.Store) error {
	c.mu.Lock()
	now := c.cfg.Now()
	c.lastFull = now
	var names []string
	for name, h := range c.nodes {
		grace := c.cfg.Grace
		if c.gossipDead(name) {
			grace = c.cfg.GossipDeadGrace
		}
		if now.Sub(h.observed) > grace {
			names = append(names, name)
		}
	}
	c.mu.Unlock()
	slices.Sort(names)
	return c.CheckNodes(ctx, store, names)
}

// changedNodes returns the names of the nodes whose object or lease (in
// kube-node-lease) evs change.
func changedNodes(evs []fsm.Event) []string {
	var names []string
	seen := map[string]bool{}
	for _, ev := range evs {
		if ev.Resource != "nodes" && ev.Resource != "leases" {
			continue
		}
		m := &ev.Record.Summary().Meta
		switch {
		case ev.Resource == "nodes", m.Namespace == v1.NodeLeaseNamespace:
			if !seen[m.Name] {
				seen[m.Name] = true
				names = append(names, m.Name)
			}
		}
	}
	return names
}

// CheckNodes checks the named nodes once, as Pass checks every node; a
// node that is gone is forgotten (the next full pass collects its lease).
func (c *NodeLifecycle) CheckNodes(ctx context.Context, store *fsm.Store, names []string) error {
	if len(names) == 0 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	var errs []error
	for _, name := range names {
		r, err := store.Get("nodes", "", name)
		if v1.IsNotFound(err) {
			delete(c.nodes, name)
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("node %s: %w", name, err))
			continue
		}
		if err := c.check(ctx, store, r.Object().(*v1.Node), now); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// heartbeatOf is the node's last heartbeat as the node wrote it: its Ready
// condition's lastHeartbeatTime, or its creation if it never posted one.
func heartbeatOf(n *v1.Node) time.Time {
	if c := n.Status.Condition(v1.NodeReady); c != nil && !c.LastHeartbeatTime.IsZero() {
		return c.LastHeartbeatTime.Time
	}
	return n.CreationTimestamp.Time
}

// leaseRenewTime is the renewTime of the node's lease in kube-node-lease,
// zero when it has none. Only a lease held by the node counts: any other
// holder is not the node's agent.
func leaseRenewTime(store *fsm.Store, node string) time.Time {
	rec, err := store.Get("leases", v1.NodeLeaseNamespace, node)
	if err != nil {
		return time.Time{}
	}
	l := rec.Object().(*v1.Lease)
	if l.Spec.RenewTime == nil || l.Spec.HolderIdentity == nil || *l.Spec.HolderIdentity != node {
		return time.Time{}
	}
	return l.Spec.RenewTime.Time
}

func hasUnreachableTaint(n *v1.Node) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == UnreachableTaintKey && t.Effect == v1.TaintNoSchedule {
			return true
		}
	}
	return false
}

// Pass checks every node once: it records heartbeats, marks the nodes silent
// for longer than Grace Ready=Unknown with the unreachable taint, deletes the
// pods of those silent for longer than EvictionTimeout (once per silence),
// and lifts the taint from nodes that report Ready again.
func (c *NodeLifecycle) Pass(ctx context.Context, store *fsm.Store) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	res, err := store.List("nodes", fsm.ListOptions{})
	if err != nil {
		return err
	}
	now := c.cfg.Now()
	c.lastFull = now
	present := make(map[string]bool, len(res.Items))
	var errs []error
	for _, r := range res.Items {
		n := r.Object().(*v1.Node)
		present[n.Name] = true
		if err := c.check(ctx, store, n, now); err != nil {
			errs = append(errs, err)
		}
	}
	for name := range c.nodes {
		if !present[name] {
			delete(c.nodes, name)
		}
	}
	if err := c.collectLeases(ctx, store, res.Items, now); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// check records the node's heartbeats, marks it Ready=Unknown with the
// unreachable taint once silent for longer than its grace, deletes its pods
// once silent for longer than EvictionTimeout (once per silence), and lifts
// the taint when it reports Ready again. c.mu is held.
func (c *NodeLifecycle) check(ctx context.Context, store *fsm.Store, n *v1.Node, now time.Time) error {
	hb, renewed := heartbeatOf(n), leaseRenewTime(store, n.Name)
	h := c.nodes[n.Name]
	switch {
	case h == nil || h.uid != n.UID || !h.heartbeat.Equal(hb):
		// First sight (or a new leader, or a new node of that name), or
		// a new status heartbeat: the grace starts now, on our clock.
		h = &nodeHealth{uid: n.UID, heartbeat: hb, renewed: renewed, observed: now}
		c.nodes[n.Name] = h
	case renewed.After(h.renewed):
		// A renewal of the node's lease, its heartbeat since nodes
		// write their status only when it changes (as Kubernetes'
		// controller, which reads the lease's renewTime too). The
		// pods' eviction clock restarts with it.
		h.renewed, h.observed, h.evicted = renewed, now, false
	}
	silent := now.Sub(h.observed)
	grace := c.cfg.Grace
	if c.gossipDead(n.Name) {
		grace = c.cfg.GossipDeadGrace
	}
	if silent <= grace {
		if ready := n.Status.Condition(v1.NodeReady); ready != nil && ready.Status == v1.ConditionTrue && hasUnreachableTaint(n) {
			return c.removeTaint(ctx, n)
		}
		return nil
	}
	var errs []error
	if err := c.markUnreachable(ctx, store, n, now, silent); err != nil {
		errs = append(errs, err)
	}
	if silent > c.cfg.EvictionTimeout && !h.evicted {
		if err := c.evict(ctx, store, n, now, silent); err != nil {
			errs = append(errs, err)
		} else {
			h.evicted = true
		}
	}
	return errors.Join(errs...)
}

// collectLeases deletes the leases in kube-node-lease owned by a Node that
// is gone (or was made again under its name, with another uid), in one
// entry, each with its uid and resourceVersion as preconditions: what
// Kubernetes' garbage collector does for a deleted Node's lease. Leases
// without a Node owner are left alone.
func (c *NodeLifecycle) collectLeases(ctx context.Context, store *fsm.Store, nodes []*fsm.Record, now time.Time) error {
	leases, err := store.List("leases", fsm.ListOptions{Namespace: v1.NodeLeaseNamespace})
	if err != nil || len(leases.Items) == 0 {
		return err
	}
	uids := make(map[string]string, len(nodes))
	for _, r := range nodes {
		uids[r.Summary().Meta.Name] = r.Summary().Meta.UID
	}
	var items []fsm.BatchItem
	for _, r := range leases.Items {
		m := &r.Summary().Meta
		orphan := false
		for _, o := range m.OwnerReferences {
			if o.APIVersion == "v1" && o.Kind == "Node" && uids[o.Name] != o.UID {
				orphan = true
			}
		}
		if !orphan {
			continue
		}
		body, err := fsm.EncodeBody(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "leases", Namespace: m.Namespace, Name: m.Name,
			UID: m.UID, ResourceVersion: m.ResourceVersion, Now: v1.NewTime(now)})
		if err != nil {
			return err
		}
		items = append(items, fsm.BatchItem{Type: fsm.DeleteCommand, Body: body})
	}
	if len(items) == 0 {
		return nil
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	if _, err := c.cfg.Proposer.Apply(ctx, cmd); err != nil {
		return fmt.Errorf("delete the leases of deleted nodes: %w", err)
	}
	c.cfg.Logger.Info("deleted the leases of deleted nodes", "leases", len(items))
	return nil
}

// gossipDead reports whether gossip knows the node and finds it dead or left.
func (c *NodeLifecycle) gossipDead(node string) bool {
	if c.cfg.Alive == nil {
		return false
	}
	alive, known := c.cfg.Alive(node)
	return known && !alive
}

// markUnreachable sets the node's Ready condition to Unknown and adds the
// unreachable taint, each only if missing. The two are separate entries, each
// with the resourceVersion it was computed from as precondition: inside one
// BatchCommand the second item would see the first's new resourceVersion
// (the entry's index, unknown to the proposer) and fail its precondition,
// and without one it could overwrite a concurrent change.
func (c *NodeLifecycle) markUnreachable(ctx context.Context, store *fsm.Store, n *v1.Node, now time.Time, silent time.Duration) error {
	ready := n.Status.Condition(v1.NodeReady)
	if ready == nil || ready.Status != v1.ConditionUnknown {
		q := v1.DeepCopy(n)
		cond := v1.NodeCondition{Type: v1.NodeReady, Status: v1.ConditionUnknown,
			Reason: nodeStatusUnknownReason, Message: nodeStatusUnknownMessage, LastTransitionTime: v1.NewTime(now)}
		if ready != nil {
			// Keep the node's own heartbeat: it is not one of ours.
			cond.LastHeartbeatTime = ready.LastHeartbeatTime
		}
		q.Status.Conditions = v1.SetNodeCondition(q.Status.Conditions, cond)
		rec, err := c.update(ctx, q, true)
		if err != nil {
			return fmt.Errorf("mark node %s unknown: %w", n.Name, err)
		}
		c.cfg.Logger.Warn("node stopped posting status", "node", n.Name, "silent", silent)
		c.markPodsNotReady(store, n)
		if rec == nil {
			return nil // the next pass adds the taint to what it reads
		}
		n = rec.Object().(*v1.Node)
	}
	if hasUnreachableTaint(n) {
		return nil
	}
	q := v1.DeepCopy(n)
	added := v1.NewTime(now)
	q.Spec.Taints = append(q.Spec.Taints, v1.Taint{Key: UnreachableTaintKey, Effect: v1.TaintNoSchedule, TimeAdded: &added})
	if _, err := c.update(ctx, q, false); err != nil {
		return fmt.Errorf("taint node %s unreachable: %w", n.Name, err)
	}
	return nil
}

// removeTaint lifts the unreachable taint from a node that reports Ready again.
func (c *NodeLifecycle) removeTaint(ctx context.Context, n *v1.Node) error {
	q := v1.DeepCopy(n)
	taints := q.Spec.Taints[:0]
	for _, t := range q.Spec.Taints {
		if !(t.Key == UnreachableTaintKey && t.Effect == v1.TaintNoSchedule) {
			taints = append(taints, t)
		}
	}
	q.Spec.Taints = taints
	if len(taints) == 0 {
		q.Spec.Taints = nil
	}
	if _, err := c.update(ctx, q, false); err != nil {
		return fmt.Errorf("untaint node %s: %w", n.Name, err)
	}
	c.cfg.Logger.Info("node is posting status again", "node", n.Name)
	c.cfg.Recorder.Eventf(n, v1.EventTypeNormal, "NodeReady", "Node %s status is now: %s", n.Name, "NodeReady")
	return nil
}

// update commits a spec (status=false) or status update of n, with n's
// resourceVersion as precondition, and returns the stored record if the
// proposer reports it.
func (c *NodeLifecycle) update(ctx context.Context, n *v1.Node, status bool) (*fsm.Record, error) {
	cmd, err := fsm.NewUpdate(n, status)
	if err != nil {
		return nil, err
	}
	res, err := c.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	switch r := res.(type) {
	case fsm.Result:
		if r.Err != nil {
			return nil, r.Err
		}
		return r.Record, nil
	case *fsm.Result:
		if r != nil {
			if r.Err != nil {
				return nil, r.Err
			}
			return r.Record, nil
		}
	}
	return nil, nil
}

// evict deletes every pod bound to the node, in one entry, each with its uid
// as precondition and grace 0 since no node will confirm the deletion. A
// pod that tolerates Kubernetes' unreachable NoExecute taint for ever (no
// tolerationSeconds: a daemon pod) stays, as Kubernetes' taint eviction
// leaves it.
func (c *NodeLifecycle) evict(ctx context.Context, store *fsm.Store, n *v1.Node, now time.Time, silent time.Duration) error {
	all, err := store.PodsOnNode(n.Name)
	if err != nil {
		return err
	}
	pods := make([]*v1.Pod, 0, len(all))
	for _, p := range all {
		if !toleratesForever(p.Spec.Tolerations, unreachableNoExecute) {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return nil
	}
	var zero int64
	items := make([]fsm.BatchItem, 0, len(pods))
	for _, p := range pods {
		body, err := fsm.EncodeBody(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "pods", Namespace: p.Namespace, Name: p.Name,
			UID: p.UID, GracePeriodSeconds: &zero, Now: v1.NewTime(now)})
		if err != nil {
			return err
		}
		items = append(items, fsm.BatchItem{Type: fsm.DeleteCommand, Body: body})
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	c.cfg.Recorder.Eventf(n, v1.EventTypeNormal, "DeletingAllPods", "Deleting all Pods from Node %v.", n.Name)
	if _, err := c.cfg.Proposer.Apply(ctx, cmd); err != nil {
		return fmt.Errorf("evict pods of node %s: %w", n.Name, err)
	}
	for _, p := range pods {
		c.cfg.Recorder.Eventf(p, v1.EventTypeNormal, "NodeControllerEviction", "Marking for deletion Pod %s from Node %s", p.Name, n.Name)
	}
	c.cfg.Logger.Warn("evicted the pods of an unreachable node", "node", n.Name, "pods", len(pods), "silent", silent)
	return nil
}

// markPodsNotReady records, as Kubernetes' node lifecycle controller, the
// node's change to NotReady on the node and a NodeNotReady warning on each
// of its pods.
func (c *NodeLifecycle) markPodsNotReady(store *fsm.Store, n *v1.Node) {
	if c.cfg.Recorder == nil {
		return
	}
	c.cfg.Recorder.Eventf(n, v1.EventTypeNormal, "NodeNotReady", "Node %s status is now: %s", n.Name, "NodeNotReady")
	pods, err := store.PodsOnNode(n.Name)
	if err != nil {
		return
	}
	for _, p := range pods {
		c.cfg.Recorder.Eventf(p, v1.EventTypeWarning, "NodeNotReady", "Node is not ready")
	}
}

// unreachableNoExecute is the taint Kubernetes evicts the pods of an
// unreachable node by; a pod that tolerates it for ever is not evicted.
var unreachableNoExecute = v1.Taint{Key: "node.kubernetes.io/unreachable", Effect: v1.TaintNoExecute}

// toleratesForever reports whether a toleration without tolerationSeconds
// matches the taint.
func toleratesForever(tols []v1.Toleration, t v1.Taint) bool {
	for _, tol := range tols {
		if tol.TolerationSeconds == nil && tolerates([]v1.Toleration{tol}, t) {
			return true
		}
	}
	return false
}
