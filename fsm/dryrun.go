package fsm

import (
	v1 "orch.io/orch/api/v1"
)

// DryRun applies an encoded command to the store in a write transaction
// that it then throws away, and returns the command's result: the same
// answer (object or typed error) FSM.Apply would give if the command were
// committed next, with every state-dependent check the FSM makes (names
// taken, preconditions, namespaces, allocation, quotas). Nothing changes:
// the index, the tables and the feed stay as they were, and no watcher
// wakes. It serves dryRun=All.
//
// As in Kubernetes, an object in the answer carries the resourceVersion it
// has in the store now ("" for an object that would be created), not one
// that a commit would give it. DryRun holds the store's write lock while it
// runs, as one FSM apply does.
func (s *Store) DryRun(cmd []byte) any {
	s.applyMu.Lock()
	defer s.applyMu.Unlock()
	w := newWriteTxn(s)
	defer w.txn.Abort()
	w.index = s.Index() + 1
	res := dryApply(w, cmd)
	switch r := res.(type) {
	case Result:
		return dryResult(w, r)
	case BatchResult:
		out := make(BatchResult, len(r))
		for i, one := range r {
			out[i] = dryResult(w, one)
		}
		return out
	}
	return res
}

// dryApply applies cmd as applyGuarded does: a panic is an error, never a
// crash of the master that answers the dry run.
func dryApply(w *writeTxn, cmd []byte) (res any) {
	defer func() {
		if p := recover(); p != nil {
			res = Result{Err: entryError(w.index, "applying it failed: %v", p)}
		}
	}()
	return applyEntry(w, cmd)
}

// dryResult gives the record of a dry-run result the resourceVersion the
// object has in the store before the dry run.
func dryResult(w *writeTxn, r Result) Result {
	if r.Record == nil {
		return r
	}
	var ev *Event
	for i := range w.events {
		if w.events[i].Record == r.Record {
			ev = &w.events[i]
			break
		}
	}
	if ev == nil {
		return r // not written: the record is the stored one (a no-op scale)
	}
	rv := ""
	if ev.Prev != nil {
		rv = ev.Prev.Meta().ResourceVersion
	}
	obj := v1.DeepCopy(r.Record.Object())
	obj.GetObjectMeta().ResourceVersion = rv
	return Result{Record: NewRecord(obj, nil), Err: r.Err}
}
