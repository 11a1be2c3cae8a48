package sched

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/events"
	"orch.io/orch/fsm"
)

// DeploymentConfig configures the deployment controller.
type DeploymentConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the ReplicaSets' creates, updates and deletes and
	// the deployments' statuses.
	Proposer Proposer
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Resync is the longest pause between full passes (default
	// DefaultControllerResync). Between them a pass syncs only the
	// deployments its changes concern and those whose progress deadline came.
	Resync time.Duration
	// Pods is the leader's pod informer, shared with other controllers
	// (nil: the controller keeps its own).
	Pods *Informer
	// ReplicaSets is an informer over the ReplicaSets (nil: the controller
	// keeps its own).
	ReplicaSets *Informer
	// Now is the leader's clock, which progress deadlines are read on
	// (default time.Now).
	Now func() time.Time
	// Recorder records the deployments' ScalingReplicaSet events (nil: none).
	Recorder *events.Recorder
}

// DeploymentController rolls every Deployment out through its ReplicaSets
// while this master leads. Its decisions are PlanDeployment's; the
// replication manager makes the sets' pods.
type DeploymentController struct {
	cfg       DeploymentConfig
	pods, rss *Informer
	// lastFull is when the last full pass ran.
	lastFull time.Time
	// due holds each deployment's next progress deadline (by key).
	due dueSet[string]
}

// NewDeploymentController returns a controller; Run starts it.
func NewDeploymentController(cfg DeploymentConfig) *DeploymentController {
	if cfg.Resync == 0 {
		cfg.Resync = DefaultControllerResync
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "deployment")
	return &DeploymentController{cfg: cfg, pods: informerOr(cfg.Pods, "pods"), rss: informerOr(cfg.ReplicaSets, "replicasets")}
}

// Run syncs the deployments each change concerns, every deployment at
// least every Resync, and a deployment when its progress deadline passes.
func (c *DeploymentController) Run(ctx context.Context) {
	wake := func() (time.Duration, bool) { return c.due.wakeAfter(c.cfg.Now()) }
	runOnChangesWake(ctx, c.cfg.Store, follows{"deployments", "replicasets", "pods"}, c.cfg.Resync, wake, c.cfg.Logger, c.pass)
}

// deploymentWrite is one write of a pass and the event it records once
// committed.
type deploymentWrite struct {
	item  fsm.BatchItem
	d     *v1.Deployment
	event string
}

// rsCreate is a planned ReplicaSet create and the status that follows it.
type rsCreate struct {
	d      *v1.Deployment
	rs     *v1.ReplicaSet
	status *v1.DeploymentStatus
	event  string
}

// Pass plans every deployment (a full pass: the first one, a resync, or
// after the store was replaced) against the ReplicaSets it controls and
// the orphans its selector matches, and for a Recreate the pods of its
// sets, read through the informers as its incremental passes read them
// (inputsOf) and sorted by key, not every ReplicaSet and pod of the store:
// the planner skips every other set and pod, so it sees the same ones in
// the same order (TestFullPassDeploymentInputsEquivalent).
func (c *DeploymentController) Pass(ctx context.Context, store *fsm.Store) error {
	l, err := store.List("deployments", fsm.ListOptions{})
	if err != nil {
		return err
	}
	c.due.reset()
	if len(l.Items) == 0 {
		return nil
	}
	ds := make([]*v1.Deployment, 0, len(l.Items))
	for _, r := range l.Items {
		d, ok := r.Object().(*v1.Deployment)
		if !ok {
			return fmt.Errorf("list deployments: a stored %T", r.Object())
		}
		ds = append(ds, d)
	}
	if err := c.rss.Sync(store); err != nil {
		return err
	}
	if err := c.pods.Sync(store); err != nil {
		return err
	}
	return c.sync(ctx, ds, func(d *v1.Deployment) ([]*v1.ReplicaSet, []*v1.Pod, error) {
		rss, pods, err := c.inputsOf(store, d)
		if err != nil {
			return nil, nil, err
		}
		return inKeyOrder(rss), inKeyOrder(pods), nil
	})
}

// isRecreate reports whether d replaces its pods with the Recreate strategy.
func isRecreate(d *v1.Deployment) bool {
	return d.Spec.Strategy.Type == v1.RecreateDeploymentStrategyType
}

// sync plans each of ds against the ReplicaSets and pods inputs returns for
// it (at least the sets it controls, the orphans its selector matches and,
// for a Recreate, the pods of its sets) and commits the steps in at most
// two entries: the creates of new ReplicaSets first, then every other
// write (the status of a deployment whose set was created only if the
// create succeeded; a name taken by another template raises its
// collisionCount). Each deployment's progress deadline is recorded in due.
func (c *DeploymentController) sync(ctx context.Context, ds []*v1.Deployment,
	inputs func(*v1.Deployment) ([]*v1.ReplicaSet, []*v1.Pod, error)) error {
	now := c.cfg.Now()
	var writes []deploymentWrite
	var creates []rsCreate
	for _, d := range ds {
		key := v1.Key(d.Namespace, d.Name)
		rss, pods, err := inputs(d)
		if err != nil {
			return fmt.Errorf("deployment %s: %w", key, err)
		}
		step, err := PlanDeployment(d, rss, pods, now)
		if err != nil {
			c.due.set(key, time.Time{})
			c.cfg.Logger.Warn("deployment not planned", "deployment", key, "err", err)
			continue
		}
		c.due.set(key, step.Wake)
		if step.Create != nil {
			creates = append(creates, rsCreate{d: d, rs: step.Create, status: step.Status, event: step.Events[step.Create.Name]})
			continue
		}
		w, err := stepWrites(d, step, now)
		if err != nil {
			return fmt.Errorf("deployment %s: %w", key, err)
		}
		writes = append(writes, w...)
	}
	more, err := c.create(ctx, creates, now)
	if err != nil {
		return err
	}
	writes = append(writes, more...)
	return c.apply(ctx, writes)
}

// stepWrites turns a step (other than a create) into commands, each with
// the object's resourceVersion or uid as its precondition.
func stepWrites(d *v1.Deployment, step DeploymentStep, now time.Time) ([]deploymentWrite, error) {
	var out []deploymentWrite
	add := func(cmd []byte, err error, event string) error {
		if err != nil {
			return err
		}
		out = append(out, deploymentWrite{item: batchItem(cmd), d: d, event: event})
		return nil
	}
	for _, rs := range step.Adopt {
		cmd, err := fsm.NewUpdate(rs, false)
		if err := add(cmd, err, ""); err != nil {
			return nil, err
		}
	}
	for _, rs := range step.Update {
		cmd, err := fsm.NewUpdate(rs, false)
		if err := add(cmd, err, step.Events[rs.Name]); err != nil {
			return nil, err
		}
	}
	for _, rs := range step.Delete {
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "replicasets", Namespace: rs.Namespace, Name: rs.Name,
			UID: rs.UID, ResourceVersion: rs.ResourceVersion, Propagation: v1.PropagationBackground, Now: v1.NewTime(now)})
		if err := add(cmd, err, ""); err != nil {
			return nil, err
		}
	}
	if step.Meta != nil {
		cmd, err := fsm.NewUpdate(step.Meta, false)
		if err := add(cmd, err, ""); err != nil {
			return nil, err
		}
	}
	if step.Status != nil {
		cmd, err := statusUpdate(d, *step.Status)
		if err := add(cmd, err, ""); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// statusUpdate is the status write of d, with its resourceVersion.
func statusUpdate(d *v1.Deployment, st v1.DeploymentStatus) ([]byte, error) {
	q := v1.DeepCopy(d)
	q.Status = st
	return fsm.NewUpdate(q, true)
}

// create commits the planned ReplicaSet creates in one entry and returns
// the writes that follow each: its deployment's status when it was
// created, a raised collisionCount when its name belongs to another
// template, a ReplicaSetCreateError condition when it was refused.
func (c *DeploymentController) create(ctx context.Context, creates []rsCreate, now time.Time) ([]deploymentWrite, error) {
	if len(creates) == 0 {
		return nil, nil
	}
	var items []fsm.BatchItem
	var sent []rsCreate
	var out []deploymentWrite
	for _, cr := range creates {
		rs := cr.rs
		rs.UID = uuid.NewString()
		rs.CreationTimestamp = v1.NewTime(now)
		v1.Default(rs)
		if err := v1.Validate(rs); err != nil {
			out = append(out, c.createFailed(cr, err, now)...)
			continue
		}
		cmd, err := fsm.NewCreate(rs)
		if err != nil {
			return nil, err
		}
		items = append(items, batchItem(cmd))
		sent = append(sent, cr)
	}
	if len(items) == 0 {
		return out, nil
	}
	results, err := c.applyItems(ctx, items)
	if err != nil {
		return nil, err
	}
	for i, cr := range sent {
		var rerr error
		if i < len(results) {
			rerr = results[i].Err
		}
		switch {
		case rerr == nil:
			if cr.event != "" {
				c.cfg.Recorder.Eventf(cr.d, v1.EventTypeNormal, "ScalingReplicaSet", "%s", cr.event)
			}
			if cr.status != nil {
				cmd, err := statusUpdate(cr.d, *cr.status)
				if err != nil {
					return nil, err
				}
				out = append(out, deploymentWrite{item: batchItem(cmd), d: cr.d})
			}
		case v1.IsAlreadyExists(rerr):
			// Another template's set has the name: Kubernetes' hash
			// collision, resolved by a new collisionCount in the hash.
			st := v1.DeepCopy(cr.d).Status
			n := int32(1)
			if st.CollisionCount != nil {
				n = *st.CollisionCount + 1
			}
			st.CollisionCount = &n
			cmd, err := statusUpdate(cr.d, st)
			if err != nil {
				return nil, err
			}
			out = append(out, deploymentWrite{item: batchItem(cmd), d: cr.d})
		default:
			out = append(out, c.createFailed(cr, rerr, now)...)
		}
	}
	return out, nil
}

// createFailed reports a refused create as Kubernetes does: Progressing
// False ReplicaSetCreateError and a warning event.
func (c *DeploymentController) createFailed(cr rsCreate, err error, now time.Time) []deploymentWrite {
	msg := fmt.Sprintf("Failed to create new replica set %q: %v", cr.rs.Name, err)
	c.cfg.Recorder.Eventf(cr.d, v1.EventTypeWarning, ReasonFailedReplicaSetCreate, "%s", msg)
	c.cfg.Logger.Warn("replica set create refused", "deployment", cr.d.Namespace+"/"+cr.d.Name, "err", err)
	if !hasProgressDeadline(cr.d) {
		return nil
	}
	st := v1.DeepCopy(cr.d).Status
	setDeploymentCondition(&st, newDeploymentCondition(v1.DeploymentProgressing, v1.ConditionFalse, ReasonFailedReplicaSetCreate, msg, now))
	if v1.JSONEqual(st, cr.d.Status) {
		return nil
	}
	cmd, cerr := statusUpdate(cr.d, st)
	if cerr != nil {
		return nil
	}
	return []deploymentWrite{{item: batchItem(cmd), d: cr.d}}
}

// apply commits writes in one entry and records their events. Refusals
// other than conflicts and not-found are logged; the next pass plans again.
func (c *DeploymentController) apply(ctx context.Context, writes []deploymentWrite) error {
	if len(writes) == 0 {
		return nil
	}
	items := make([]fsm.BatchItem, len(writes))
	for i, w := range writes {
		items[i] = w.item
	}
	results, err := c.applyItems(ctx, items)
	if err != nil {
		return err
	}
	for i, w := range writes {
		var rerr error
		if i < len(results) {
			rerr = results[i].Err
		}
		switch {
		case rerr == nil && w.event != "":
			c.cfg.Recorder.Eventf(w.d, v1.EventTypeNormal, "ScalingReplicaSet", "%s", w.event)
		case rerr != nil && !v1.IsConflict(rerr) && !v1.IsNotFound(rerr):
			c.cfg.Logger.Warn("deployment write refused", "deployment", w.d.Namespace+"/"+w.d.Name, "err", rerr)
		}
	}
	return nil
}

// applyItems commits items as one BatchCommand.
func (c *DeploymentController) applyItems(ctx context.Context, items []fsm.BatchItem) (fsm.BatchResult, error) {
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return nil, err
	}
	res, err := c.cfg.Proposer.Apply(ctx, cmd)
	if err != nil {
		return nil, err
	}
	results, _ := res.(fsm.BatchResult)
	return results, nil
}
