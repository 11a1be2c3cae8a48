package sched

import (
	"context"
	"fmt"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// pass is one pass of Run. A full pass plans every set (Pass); a
// woken one only when Resync has passed since the last full pass.
// Otherwise the pass plans the sets its changes concern and those
// whose time came.
//
// Cost per event: a pod event costs O(pods of its set + revisions of its
// namespace): the set by uid, its pods by the owner index and the orphans
// it may adopt; an orphan pod's event also reads the sets of its namespace
// (O(sets in the namespace), as Kubernetes' getPodStatefulSets). A set or
// revision event costs the same for that set.
func (c *StatefulSetController) pass(ctx context.Context, s *fsm.Store, ch changes) error {
	if err := c.pods.Sync(s); err != nil {
		return err
	}
	now := c.cfg.Now()
	if ch.full && (!ch.woken || c.lastFull.IsZero() || now.Sub(c.lastFull) >= c.cfg.Resync) {
		c.lastFull = now
		return c.Pass(ctx, s)
	}
	dirty := c.due.take(now)
	inNS := map[string][]*v1.StatefulSet{}
	for _, ev := range ch.events {
		if err := c.dirtyFrom(s, ev, dirty, inNS); err != nil {
			return err
		}
	}
	sets, err := getKeys[*v1.StatefulSet](s, "statefulsets", dirty)
	if err != nil {
		return err
	}
	if len(sets) == 0 {
		return nil
	}
	return c.sync(ctx, s, sets, func(ss *v1.StatefulSet) ([]*v1.Pod, error) { return c.podsOf(s, ss) })
}

// statefulSetKind finds the StatefulSets a dependent's change concerns.
var statefulSetKind = controllerKind[*v1.StatefulSet]{kind: "StatefulSet", resource: "statefulsets", selector: v1.StatefulSetSelector}

// dirtyFrom adds to dirty the keys (namespace/name) of the sets ev
// concerns.
func (c *StatefulSetController) dirtyFrom(s *fsm.Store, ev fsm.Event, dirty map[string]bool, inNS map[string][]*v1.StatefulSet) error {
	switch ev.Resource {
	case "statefulsets":
		m := &ev.Record.Summary().Meta
		dirty[v1.Key(m.Namespace, m.Name)] = true
		delete(inNS, m.Namespace)
		if ev.Type == v1.Deleted {
			key := ExpectationsKey(m.Namespace, m.Name, m.UID)
			c.backoff.forget(key)
		}
	case "pods", "controllerrevisions":
		for _, r := range []*fsm.Record{ev.Record, ev.Prev} {
			if r == nil {
				continue
			}
			if err := statefulSetKind.dirtyByDependent(s, &r.Summary().Meta, ev.Resource == "pods", dirty, inNS); err != nil {
				return fmt.Errorf("%s: %w", ev.Resource, err)
			}
		}
	}
	return nil
}

// podsOf returns the pods ss is planned against: those it controls (owner
// index) and the orphans its selector matches (orphansMatching).
func (c *StatefulSetController) podsOf(s *fsm.Store, ss *v1.StatefulSet) ([]*v1.Pod, error) {
	return ownedPods(s, c.pods, ss.UID, ss.Namespace, v1.StatefulSetSelector(ss), true)
}

// scheduleSet records when ss must be synced again without a change, or
// that it need not be: the earliest of its plan's wake (a pod's
// minReadySeconds) and its creates' back-off, after now.
func (c *StatefulSetController) scheduleSet(ss *v1.StatefulSet, wake, now time.Time) {
	var at time.Time
	consider := func(t time.Time, ok bool) {
		if ok && t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	consider(wake, !wake.IsZero())
	consider(c.backoff.retryAt(ExpectationsKey(ss.Namespace, ss.Name, ss.UID)))
	c.due.set(v1.Key(ss.Namespace, ss.Name), at)
}
