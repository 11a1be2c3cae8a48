package sched

import (
	"context"
	"fmt"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// pass is one pass of Run. A full pass plans every deployment (Pass); a
// woken one only when Resync has passed since the last full pass.
// Otherwise the pass plans the deployments its changes concern and those
// whose progress deadline came.
//
// Cost per event: a deployment event costs O(its ReplicaSets), plus the
// pods of its sets for a Recreate; a ReplicaSet event the same for its
// deployment (found by uid), or for an orphan set the deployments of its
// namespace (O(deployments in the namespace), as Kubernetes'
// getDeploymentsForReplicaSet); a pod event costs two reads by uid (its set
// and the set's deployment) and, when the pod went or finished and its
// deployment is a Recreate, that deployment's sync. Other pod events cost
// nothing beyond that: readiness reaches a deployment through its sets'
// statuses.
func (c *DeploymentController) pass(ctx context.Context, s *fsm.Store, ch changes) error {
	if err := c.rss.Sync(s); err != nil {
		return err
	}
	if err := c.pods.Sync(s); err != nil {
		return err
	}
	now := c.cfg.Now()
	if ch.full && (!ch.woken || c.lastFull.IsZero() || now.Sub(c.lastFull) >= c.cfg.Resync) {
		c.lastFull = now
		return c.Pass(ctx, s)
	}
	dirty := c.due.take(now)
	inNS := map[string][]*v1.Deployment{}
	for _, ev := range ch.events {
		if err := c.dirtyFrom(s, ev, dirty, inNS); err != nil {
			return err
		}
	}
	ds, err := getKeys[*v1.Deployment](s, "deployments", dirty)
	if err != nil {
		return err
	}
	if len(ds) == 0 {
		return nil
	}
	return c.sync(ctx, ds, func(d *v1.Deployment) ([]*v1.ReplicaSet, []*v1.Pod, error) { return c.inputsOf(s, d) })
}

// dirtyFrom adds to dirty the keys of the deployments ev concerns.
func (c *DeploymentController) dirtyFrom(s *fsm.Store, ev fsm.Event, dirty map[string]bool, inNS map[string][]*v1.Deployment) error {
	switch ev.Resource {
	case "deployments":
		m := &ev.Record.Summary().Meta
		dirty[v1.Key(m.Namespace, m.Name)] = true
		delete(inNS, m.Namespace)
	case "replicasets":
		for _, r := range []*fsm.Record{ev.Record, ev.Prev} {
			if r == nil {
				continue
			}
			if err := c.dirtyFromSet(s, &r.Summary().Meta, dirty, inNS); err != nil {
				return err
			}
		}
	case "pods":
		for _, r := range []*fsm.Record{ev.Record, ev.Prev} {
			if r == nil || !podGoneOrFinished(ev, r) {
				continue
			}
			d, err := c.recreateOf(s, &r.Summary().Meta)
			if err != nil {
				return err
			}
			if d != nil {
				dirty[v1.Key(d.Namespace, d.Name)] = true
			}
		}
	}
	return nil
}

// podGoneOrFinished reports whether ev, for the pod r (its record or prev),
// is what a Recreate waits for: the pod went, or it finished.
func podGoneOrFinished(ev fsm.Event, r *fsm.Record) bool {
	if ev.Type == v1.Deleted {
		return true
	}
	finished := func(r *fsm.Record) bool { return r.Summary().Terminal() }
	return r == ev.Record && finished(r) && (ev.Prev == nil || !finished(ev.Prev))
}

// deploymentKind finds the Deployments a ReplicaSet's change concerns.
var deploymentKind = controllerKind[*v1.Deployment]{kind: "Deployment", resource: "deployments", selector: v1.DeploymentSelector}

// dirtyFromSet adds the deployment of a ReplicaSet: its controller, or for
// an orphan the deployments of its namespace whose selector matches it.
func (c *DeploymentController) dirtyFromSet(s *fsm.Store, m *v1.ObjectMeta, dirty map[string]bool, inNS map[string][]*v1.Deployment) error {
	if err := deploymentKind.dirtyByDependent(s, m, true, dirty, inNS); err != nil {
		return fmt.Errorf("replica set: %w", err)
	}
	return nil
}

// recreateOf returns the Recreate deployment whose ReplicaSet controls the
// pod m, or nil.
func (c *DeploymentController) recreateOf(s *fsm.Store, m *v1.ObjectMeta) (*v1.Deployment, error) {
	ref := m.ControllerRef()
	if ref == nil || ref.Kind != "ReplicaSet" {
		return nil, nil
	}
	rs, err := s.GetByUID("replicasets", ref.UID)
	if v1.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("controller of pod %s/%s: %w", m.Namespace, m.Name, err)
	}
	dref := rs.Summary().Meta.ControllerRef()
	if dref == nil || dref.Kind != "Deployment" {
		return nil, nil
	}
	r, err := s.GetByUID("deployments", dref.UID)
	if v1.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("deployment of replica set %s/%s: %w", m.Namespace, rs.Summary().Meta.Name, err)
	}
	if d := r.Object().(*v1.Deployment); isRecreate(d) {
		return d, nil
	}
	return nil, nil
}

// inputsOf returns what PlanDeployment needs of d: the ReplicaSets it
// controls and the orphans its selector matches, and for a Recreate the
// pods its sets control.
func (c *DeploymentController) inputsOf(s *fsm.Store, d *v1.Deployment) ([]*v1.ReplicaSet, []*v1.Pod, error) {
	owned, err := c.rss.ByIndex(s, IndexOwner, d.UID)
	if err != nil {
		return nil, nil, err
	}
	rss := make([]*v1.ReplicaSet, 0, len(owned))
	for _, r := range owned {
		rss = append(rss, r.Object().(*v1.ReplicaSet))
	}
	orphans, err := orphansMatching(s, c.rss, d.Namespace, v1.DeploymentSelector(d), len(owned))
	if err != nil {
		return nil, nil, err
	}
	for _, r := range orphans {
		rss = append(rss, r.Object().(*v1.ReplicaSet))
	}
	if !isRecreate(d) {
		return rss, nil, nil
	}
	var pods []*v1.Pod
	for _, rs := range rss {
		if ref := rs.ControllerRef(); ref == nil || ref.UID != d.UID {
			continue
		}
		rp, err := c.pods.ByIndex(s, IndexOwner, rs.UID)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range rp {
			pods = append(pods, r.Object().(*v1.Pod))
		}
	}
	return rss, pods, nil
}
