package fsm

import v1 "orch.io/orch/api/v1"

// A batch's point reads (one object by key or by uid) do not go to its
// write transaction. go-memdb answers a read of an index that the
// transaction changed from a clone of that index, and cloning drops the
// transaction's cache of the tree nodes it has already copied, so every
// insert after such a read copied its whole path in the tree again (and
// made a new cache): in a batch of creates, where each create looks its
// key and uid up before it inserts, that was every insert of the batch.
// Instead a point read looks at what the batch wrote (batchRows) and then
// at the store as the batch found it (base, and the store's uidIndex, which
// the batch changes only when it commits), which together are what the
// write transaction holds: every write of a resource table goes through
// writeTxn.insert or writeTxn.removeAs, which keep batchRows. Reads that
// iterate (a namespace's objects, a node's pods) still read the write
// transaction.

// rowKey names a row of a resource table by its key or by its uid.
type rowKey struct {
	table, key string
}

// batchRows is what a batch wrote so far, by key and by uid: the record
// now stored, or nil for one the batch removed.
type batchRows struct {
	byKey map[rowKey]*Record
	byUID map[rowKey]*Record
}

// newWriteTxn starts a write transaction of s and the read transaction of
// the state it starts from.
func newWriteTxn(s *Store) *writeTxn {
	txn := s.db.Txn(true)
	// Taken under the writer's lock: no commit comes between the two.
	return &writeTxn{txn: txn, base: s.db.Txn(false), uids: s.uids}
}

// wrote keeps what an insert (rec; prev the record it replaces, or nil) or
// a removal (rec nil, prev the removed record) did to a resource table.
func (w *writeTxn) wrote(table string, rec, prev *Record) {
	if w.rows.byKey == nil {
		w.rows = batchRows{byKey: make(map[rowKey]*Record, w.entries), byUID: make(map[rowKey]*Record, w.entries)}
	}
	if table == "resourcequotas" {
		w.quotas = nil
	}
	if prev != nil {
		if uid := prev.UID(); uid != "" && (rec == nil || rec.UID() != uid) {
			w.rows.byUID[rowKey{table, uid}] = nil
		}
		if rec == nil {
			w.rows.byKey[rowKey{table, prev.Key()}] = nil
		}
	}
	if rec != nil {
		w.rows.byKey[rowKey{table, rec.Key()}] = rec
		if uid := rec.UID(); uid != "" {
			w.rows.byUID[rowKey{table, uid}] = rec
		}
	}
}

// get returns the named object as the transaction holds it, or a NotFound
// error.
func (w *writeTxn) get(resource, namespace, name string) (*Record, error) {
	key := v1.Key(namespace, name)
	if rec, ok := w.rows.byKey[rowKey{resource, key}]; ok {
		if rec == nil {
			return nil, v1.NewNotFound(resource, name)
		}
		return rec, nil
	}
	k := rowKey{resource, key}
	rec, ok := w.baseRecs[k]
	if !ok {
		var err error
		if rec, err = getKey(w.base, resource, key, name); err != nil && !v1.IsNotFound(err) {
			return nil, err
		}
		if w.baseRecs == nil {
			w.baseRecs = map[rowKey]*Record{}
		}
		w.baseRecs[k] = rec
	}
	if rec == nil {
		return nil, v1.NewNotFound(resource, name)
	}
	return rec, nil
}

// exists reports whether the transaction holds an object of resource with
// key.
func (w *writeTxn) exists(resource, key string) bool {
	if rec, ok := w.rows.byKey[rowKey{resource, key}]; ok {
		return rec != nil
	}
	raw, _ := w.base.First(resource, indexID, key)
	return raw != nil
}

// uidTaken reports whether the transaction holds an object of resource
// with uid.
func (w *writeTxn) uidTaken(resource, uid string) bool {
	if rec, ok := w.rows.byUID[rowKey{resource, uid}]; ok {
		return rec != nil
	}
	return w.uids.get(resource, uid) != nil
}
