package fsm

import "fmt"

// ListWatch returns every object of a resource and a channel that is
// closed at the next change of that resource's table (or when a snapshot
// restore abandons the store). Caches built from the store (the RBAC
// authorizer's) rebuild only when it fires. The records are the stored
// ones: never modify them.
func (s *Store) ListWatch(resource string) ([]*Record, <-chan struct{}, error) {
	it, err := s.db.Txn(false).Get(resource, indexID)
	if err != nil {
		return nil, nil, fmt.Errorf("list %s: %w", resource, err)
	}
	var out []*Record
	for raw := it.Next(); raw != nil; raw = it.Next() {
		out = append(out, raw.(*Record))
	}
	return out, it.WatchCh(), nil
}
