package sched

import (
	"fmt"
	"slices"
	"strings"

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

// getKeys reads the objects of resource at keys (namespace/name) from
// store, in key order, leaving out the keys with no object: how an
// incremental pass turns the keys its changes dirtied into the objects it
// syncs.
func getKeys[T v1.Object](store *fsm.Store, resource string, keys map[string]bool) ([]T, error) {
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	var out []T
	for _, k := range sorted {
		ns, name, ok := strings.Cut(k, "/")
		if !ok {
			ns, name = "", k
		}
		r, err := store.Get(resource, ns, name)
		if v1.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("get %s %s: %w", resource, k, err)
		}
		o, ok := r.Object().(T)
		if !ok {
			return nil, fmt.Errorf("get %s %s: a stored %T", resource, k, r.Object())
		}
		out = append(out, o)
	}
	return out, nil
}
