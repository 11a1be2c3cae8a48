package sched

import (
	"fmt"
	"slices"
	"strings"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// notePending keeps the cache's pending set from one pod change: the key of
// an unbound pod this scheduler places, not being deleted and not
// finished, read from the pod's summary; any other pod's key goes.
func (c *schedulerCache) notePending(r *fsm.Record, deleted bool) {
	key := r.Key()
	if deleted || r.NodeName() != "" {
		delete(c.pending, key)
		return
	}
	if s := r.Summary(); oursByName(s.SchedulerName) && s.Meta.DeletionTimestamp == nil && !s.Terminal() {
		if c.pending == nil {
			c.pending = map[string]struct{}{}
		}
		c.pending[key] = struct{}{}
		return
	}
	delete(c.pending, key)
}

// pendingPods returns the pods a pass may place, as the unbound pods of
// store (Store.PodsOnNode("")) that are this scheduler's, not being
// deleted and not finished, in their order (by key): it reads the pods of
// the cache's pending set only, each checked again as read, not every
// unbound pod of the store (another scheduler's pods, however many, cost
// nothing; TestSchedulerPendingPodsMatchUnboundList).
func (c *schedulerCache) pendingPods(store *fsm.Store) ([]*v1.Pod, error) {
	keys := make([]string, 0, len(c.pending))
	for k := range c.pending {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]*v1.Pod, 0, len(keys))
	for _, k := range keys {
		ns, name, _ := strings.Cut(k, "/")
		r, err := store.Get("pods", ns, name)
		if v1.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pending pod %s: %w", k, err)
		}
		p := r.Object().(*v1.Pod)
		if p.Spec.NodeName == "" && p.DeletionTimestamp == nil && !p.Terminal() && ours(p) {
			out = append(out, p)
		}
	}
	return out, nil
}
