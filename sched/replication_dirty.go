package sched

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// rcRef names an RC or ReplicaSet a pass syncs.
type rcRef struct{ resource, namespace, name string }

func compareRCRefs(a, b rcRef) int {
	return cmp.Or(cmp.Compare(a.resource, b.resource), cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
}

// pass is one pass of Run. A full pass syncs every RC (Pass); a woken one
// only when Resync has passed since the last full pass. Otherwise the pass
// syncs the RCs its changes concern and those whose time came.
//
// Cost per event: a pod event costs O(pods of its RC): the RC by uid, the
// RC's pods by the owner index and the orphans it may adopt; an orphan pod's event also reads the RCs of its namespace to match
// their selectors (O(RCs in the namespace), as Kubernetes'
// getPodControllers). An RC event costs O(pods of the RC).
func (m *ReplicationManager) pass(ctx context.Context, s *fsm.Store, ch changes) error {
	if err := m.pods.Sync(s); err != nil {
		return err
	}
	now := m.cfg.Now()
	if ch.full && (!ch.woken || m.lastFull.IsZero() || now.Sub(m.lastFull) >= m.cfg.Resync) {
		m.lastFull = now
		return m.Pass(ctx, s)
	}
	dirty := m.due.take(now)
	inNS := map[string][]Replicated{}
	for _, ev := range ch.events {
		if err := m.dirtyFrom(s, ev, dirty, inNS); err != nil {
			return err
		}
	}
	refs := make([]rcRef, 0, len(dirty))
	for ref := range dirty {
		refs = append(refs, ref)
	}
	slices.SortFunc(refs, compareRCRefs)
	var rcs []Replicated
	for _, ref := range refs {
		r, err := s.Get(ref.resource, ref.namespace, ref.name)
		if v1.IsNotFound(err) {
			continue
		}
		if err != nil {
			return fmt.Errorf("get %s %s/%s: %w", ref.resource, ref.namespace, ref.name, err)
		}
		rcs = append(rcs, r.Object().(Replicated))
	}
	if len(rcs) == 0 {
		return nil
	}
	return m.sync(ctx, rcs, func(rc Replicated) ([]*v1.Pod, error) { return m.podsOf(s, rc) })
}

// dirtyFrom adds to dirty the RCs ev concerns: an RC's own change; for a
// pod, before and after the change, its controller, or when it has none
// the RCs of its namespace whose selector matches it (read once per
// namespace and pass into inNS).
func (m *ReplicationManager) dirtyFrom(s *fsm.Store, ev fsm.Event, dirty map[rcRef]bool, inNS map[string][]Replicated) error {
	if slices.Contains(replicatedResources, ev.Resource) {
		meta := &ev.Record.Summary().Meta
		dirty[rcRef{ev.Resource, meta.Namespace, meta.Name}] = true
		delete(inNS, meta.Namespace)
		if ev.Type == v1.Deleted {
			key := ExpectationsKey(meta.Namespace, meta.Name, meta.UID)
			m.exp.Forget(key)
			m.backoff.forget(key)
		}
		return nil
	}
	if ev.Resource != "pods" {
		return nil
	}
	for _, r := range []*fsm.Record{ev.Record, ev.Prev} {
		if r == nil {
			continue
		}
		meta := &r.Summary().Meta
		if ref := meta.ControllerRef(); ref != nil {
			res := rcResourceOfKind(ref.Kind)
			if res == "" {
				continue
			}
			owner, err := s.GetByUID(res, ref.UID)
			if v1.IsNotFound(err) {
				continue
			}
			if err != nil {
				return fmt.Errorf("controller of pod %s/%s: %w", meta.Namespace, meta.Name, err)
			}
			om := &owner.Summary().Meta
			dirty[rcRef{res, om.Namespace, om.Name}] = true
			continue
		}
		rcs, ok := inNS[meta.Namespace]
		if !ok {
			for _, res := range replicatedResources {
				l, err := s.List(res, fsm.ListOptions{Namespace: meta.Namespace})
				if err != nil {
					return fmt.Errorf("list %s of %s: %w", res, meta.Namespace, err)
				}
				for _, it := range l.Items {
					rcs = append(rcs, it.Object().(Replicated))
				}
			}
			inNS[meta.Namespace] = rcs
		}
		for _, rc := range rcs {
			if replicaSelector(rc).Matches(labels.Set(meta.Labels)) {
				rm := rc.GetObjectMeta()
				dirty[rcRef{rcResource(rc), rm.Namespace, rm.Name}] = true
			}
		}
	}
	return nil
}

// podsOf returns the pods rc is planned against: those it controls (owner
// index) and the orphans its selector matches (orphansMatching).
func (m *ReplicationManager) podsOf(s *fsm.Store, rc Replicated) ([]*v1.Pod, error) {
	rm := rc.GetObjectMeta()
	owned, err := m.pods.ByIndex(s, IndexOwner, rm.UID)
	if err != nil {
		return nil, err
	}
	out := make([]*v1.Pod, 0, len(owned))
	for _, r := range owned {
		out = append(out, r.Object().(*v1.Pod))
	}
	orphans, err := orphansMatching(s, m.pods, rm.Namespace, replicaSelector(rc), len(owned))
	if err != nil {
		return nil, err
	}
	for _, r := range orphans {
		out = append(out, r.Object().(*v1.Pod))
	}
	return out, nil
}

// rcResourceOfKind returns the resource of a controllerRef's kind the
// manager keeps replicas of, or "".
func rcResourceOfKind(kind string) string {
	switch kind {
	case "ReplicationController":
		return "replicationcontrollers"
	case "ReplicaSet":
		return "replicasets"
	}
	return ""
}

// rcResource returns rc's resource.
func rcResource(rc Replicated) string { return rcResourceOfKind(v1.KindOf(rc)) }

// scheduleRC records when the RC of s must be synced again without a
// change, or that it need not be: the earliest of its back-off's end, its
// expectations' timeout and the moment a ready pod of it becomes
// available (minReadySeconds), all after now.
func (m *ReplicationManager) scheduleRC(s *rcSync, now time.Time) {
	var at time.Time
	consider := func(t time.Time, ok bool) {
		if ok && t.After(now) && (at.IsZero() || t.Before(at)) {
			at = t
		}
	}
	consider(m.backoff.retryAt(s.key))
	consider(m.exp.Expiry(s.key))
	consider(nextAvailable(s.rc, s.pods, now))
	rm := s.rc.GetObjectMeta()
	m.due.set(rcRef{rcResource(s.rc), rm.Namespace, rm.Name}, at)
}

// nextAvailable returns the first moment after now at which a ready pod rc
// controls has been ready for minReadySeconds, and false when none waits.
func nextAvailable(rc Replicated, pods []*v1.Pod, now time.Time) (time.Time, bool) {
	minReady := time.Duration(replicaMinReadySeconds(rc)) * time.Second
	if minReady == 0 {
		return time.Time{}, false
	}
	uid := rc.GetObjectMeta().UID
	var first time.Time
	for _, p := range pods {
		ref := p.ControllerRef()
		if ref == nil || ref.UID != uid || !rcPodActive(p) || !p.IsReady() {
			continue
		}
		c := p.Status.Condition(v1.PodReady)
		if c == nil || c.LastTransitionTime.IsZero() {
			continue
		}
		if t := c.LastTransitionTime.Add(minReady); t.After(now) && (first.IsZero() || t.Before(first)) {
			first = t
		}
	}
	return first, !first.IsZero()
}
