package fsm

import (
	"fmt"

	v1 "orch.io/orch/api/v1"
)

// LimitRanges returns the LimitRanges of a namespace, by name. The objects
// are the stored ones: never modify them.
func (s *Store) LimitRanges(namespace string) ([]*v1.LimitRange, error) {
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
