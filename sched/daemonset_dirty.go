package sched

import (
	"context"
	"fmt"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// pass is one pass of Run. A full pass plans every DaemonSet (Pass); a
// woken one only when Resync has passed since the last full pass.
// Otherwise the pass plans the DaemonSets its changes concern and those
// whose time came.
//
// Cost per event: a pod event costs O(nodes + pods of its DaemonSet): the
// DaemonSet by uid, its pods by the owner index and the orphans it may
// adopt, and every node to place them; an orphan pod's event also reads the DaemonSets of its namespace (O(DaemonSets in the
// namespace)). A DaemonSet or revision event costs the same for that
// DaemonSet; a node event syncs every DaemonSet (O(DaemonSets × (nodes +
// their pods))), as Kubernetes' nodeAdded/nodeUpdated.
func (c *DaemonSetController) pass(ctx context.Context, s *fsm.Store, ch changes) error {
	if err := c.pods.Sync(s); err != nil {
		return err
	}
	now := c.cfg.Now()
	if ch.full && (!ch.woken || c.lastFull.IsZero() || now.Sub(c.lastFull) >= c.cfg.Resync) {
		c.lastFull = now
		return c.Pass(ctx, s)
	}
	dirty := c.due.take(now)
	inNS := map[string][]*v1.DaemonSet{}
	for _, ev := range ch.events {
		if err := c.dirtyFrom(s, ev, dirty, inNS); err != nil {
			return err
		}
	}
	dss, err := getKeys[*v1.DaemonSet](s, "daemonsets", dirty)
	if err != nil {
		return err
	}
	if len(dss) == 0 {
		return nil
	}
	return c.sync(ctx, s, dss, func(ds *v1.DaemonSet) ([]*v1.Pod, error) { return c.podsOf(s, ds) })
}

// daemonSetKind finds the DaemonSets a dependent's change concerns.
var daemonSetKind = controllerKind[*v1.DaemonSet]{kind: "DaemonSet", resource: "daemonsets", selector: v1.DaemonSetSelector}

// dirtyFrom adds to dirty the keys (namespace/name) of the DaemonSets ev
// concerns.
func (c *DaemonSetController) dirtyFrom(s *fsm.Store, ev fsm.Event, dirty map[string]bool, inNS map[string][]*v1.DaemonSet) error {
	switch ev.Resource {
	case "daemonsets":
		m := &ev.Record.Summary().Meta
		dirty[v1.Key(m.Namespace, m.Name)] = true
		delete(inNS, m.Namespace)
		if ev.Type == v1.Deleted {
			key := ExpectationsKey(m.Namespace, m.Name, m.UID)
			c.exp.Forget(key)
			c.backoff.forget(key)
		}
	case "nodes":
		l, err := s.List("daemonsets", fsm.ListOptions{})
		if err != nil {
			return fmt.Errorf("list daemonsets: %w", err)
		}
		for _, r := range l.Items {
			m := &r.Summary().Meta
			dirty[v1.Key(m.Namespace, m.Name)] = true
		}
	case "pods", "controllerrevisions":
		for _, r := range []*fsm.Record{ev.Record, ev.Prev} {
			if r == nil {
				continue
			}
			if err := daemonSetKind.dirtyByDependent(s, &r.Summary().Meta, ev.Resource == "pods", dirty, inNS); err != nil {
				return fmt.Errorf("%s: %w", ev.Resource, err)
			}
		}
	}
	return nil
}

// podsOf returns the pods ds is planned against: those it controls (owner
// index) and the orphans its selector matches (orphansMatching).
func (c *DaemonSetController) podsOf(s *fsm.Store, ds *v1.DaemonSet) ([]*v1.Pod, error) {
	return ownedPods(s, c.pods, ds.UID, ds.Namespace, v1.DaemonSetSelector(ds), true)
}

// scheduleDaemonSet records when ds must be synced again without a change,
// or that it need not be: the earliest of its plan's wake (a pod's
// minReadySeconds), its creates' back-off, a failed pod's back-off and its
// expectations' timeout, after now.
func (c *DaemonSetController) scheduleDaemonSet(ds *v1.DaemonSet, wake, now time.Time) {
	key := daemonSetKey(ds)
	var at time.Time
	consider := func(t time.Time, ok bool) {
		if ok && t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	consider(wake, !wake.IsZero())
	consider(c.backoff.retryAt(key))
	consider(c.failedRetryAt(key))
	consider(c.exp.Expiry(key))
	c.due.set(v1.Key(ds.Namespace, ds.Name), at)
}
