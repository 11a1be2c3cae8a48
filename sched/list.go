package sched

import (
	"fmt"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// listByNamespace lists every object of resource in store, grouped by
// namespace, as the controllers' passes read their dependents.
func listByNamespace[T v1.Object](store *fsm.Store, resource string) (map[string][]T, error) {
	res, err := store.List(resource, fsm.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", resource, err)
	}
	out := map[string][]T{}
	for _, r := range res.Items {
		o, ok := r.Object().(T)
		if !ok {
			return nil, fmt.Errorf("list %s: a stored %T", resource, r.Object())
		}
		ns := o.GetObjectMeta().Namespace
		out[ns] = append(out[ns], o)
	}
	return out, nil
}
