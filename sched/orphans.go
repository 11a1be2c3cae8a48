package sched

import (
	"k8s.io/apimachinery/pkg/labels"

	"orch.io/orch/fsm"
)

// orphansMatching returns the objects of namespace ns without a controller
// that sel matches, for a controller that owns owned objects and may adopt
// them. It reads the namespace's orphans when they are no more than owned
// (the common case: few orphans), else the candidates of sel's label
// index, so the cost stays within O(owned + what sel matches) and an
// owner's own objects are not read twice.
func orphansMatching(s *fsm.Store, inf *Informer, ns string, sel labels.Selector, owned int) ([]*fsm.Record, error) {
	if isNothing(sel) {
		return nil, nil
	}
	var cands []*fsm.Record
	var err error
	if inf.count(IndexOrphan, ns) <= owned {
		cands, err = inf.ByIndex(s, IndexOrphan, ns)
	} else {
		cands, err = inf.Select(s, ns, sel)
	}
	if err != nil {
		return nil, err
	}
	out := cands[:0]
	for _, r := range cands {
		if r.Summary().Meta.ControllerRef() == nil && sel.Matches(labels.Set(r.Summary().Meta.Labels)) {
			out = append(out, r)
		}
	}
	return out, nil
}

// isNothing reports whether sel is labels.Nothing() (it has no
// requirements to list), so a read of what it selects can be skipped.
func isNothing(sel labels.Selector) bool {
	_, ok := sel.Requirements()
	return !ok
}
