package fsm

// maxCachedReads bounds the point reads applyCache keeps from one batch to
// the next: past it the cache starts again empty.
const maxCachedReads = 1024

// applyCache carries, from one batch of the FSM to the next, the reads a
// batch makes of the state it starts from that stay true once it commits:
// most batches create objects in a namespace that they look up, with the
// namespace's quotas (none, mostly), as the batch before them did. Each
// lookup cost a go-memdb read (an iterator for the quotas), about a dozen
// allocations per batch.
//
// It stays exact because a batch starts from the state the last commit
// left and the cache holds only what was read from that state: at commit
// the point reads of the keys the batch wrote are dropped, and the quotas
// a batch read are kept only as it leaves them (writeTxn.wrote forgets
// them when it writes a quota, so what it read after that write is of its
// own state, which the commit makes the store's). A batch that is aborted
// (an entry panicked and the batch is applied again without it) commits
// nothing and leaves the cache as it found it, but for reads of the
// unchanged state. A dry run reads no cache: it commits nothing.
//
// It also keeps the maps of batchRows, emptied, for the next batch: a
// batch's rows are done with once its uids reached the store's uidIndex.
type applyCache struct {
	recs   map[rowKey]*Record
	quotas map[string][]*Record
	rows   batchRows
}

// start gives a batch of the FSM the cached reads and the spare maps.
func (c *applyCache) start(w *writeTxn) {
	w.baseRecs = c.recs
	w.quotas = c.quotas
	w.rows, c.rows = c.rows, batchRows{}
}

// recycle keeps the maps of rows, emptied, unless a large batch grew them
// (clearing a map costs as much as its largest size).
func (c *applyCache) recycle(rows batchRows) {
	if rows.byKey == nil || len(rows.byKey) > maxCachedReads || len(rows.byUID) > maxCachedReads {
		return
	}
	clear(rows.byKey)
	clear(rows.byUID)
	c.rows = rows
}

// committed keeps the reads of w, which the store's tables now hold.
func (c *applyCache) committed(w *writeTxn) {
	recs := w.baseRecs
	for k := range w.rows.byKey {
		delete(recs, k)
	}
	if len(recs) > maxCachedReads {
		recs = nil
	}
	c.recs = recs
	c.quotas = w.quotas
	if len(c.quotas) > maxCachedReads {
		c.quotas = nil
	}
}
