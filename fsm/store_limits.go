package fsm

import (
	"fmt"

	v1 "orch.io/orch/api/v1"
)

// LimitRanges returns the LimitRanges of a namespace, by name. The objects
// are the stored ones: never modify them. A view of the store that holds
// no LimitRange at all (most clusters) answers at once, without a list.
func (s *Store) LimitRanges(namespace string) ([]*v1.LimitRange, error) {
	if !s.view.Load().hasLimitRanges() {
		return []*v1.LimitRange{}, nil
	}
	res, err := s.List("limitranges", ListOptions{Namespace: namespace})
	if err != nil {
		return nil, fmt.Errorf("limit ranges of %s: %w", namespace, err)
	}
	out := make([]*v1.LimitRange, 0, len(res.Items))
	for _, r := range res.Items {
		out = append(out, r.Object().(*v1.LimitRange))
	}
	return out, nil
}

// The states of storeView.limitRanges.
const (
	limitRangesUnknown int32 = iota
	limitRangesNone
	limitRangesSome
)

// hasLimitRanges reports whether the view holds a LimitRange in any
// namespace; the answer is the view's, found once (a view never changes).
// A failed lookup answers true: the list then answers, with its error.
func (v *storeView) hasLimitRanges() bool {
	switch v.limitRanges.Load() {
	case limitRangesNone:
		return false
	case limitRangesSome:
		return true
	}
	raw, err := v.db.Txn(false).First("limitranges", indexID)
	if err != nil {
		return true
	}
	state := limitRangesSome
	if raw == nil {
		state = limitRangesNone
	}
	v.limitRanges.Store(state)
	return raw != nil
}
