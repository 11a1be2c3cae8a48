package cluster

import "context"

// logRejections logs every committed entry the FSM could not apply, outside
// Apply (which does no I/O). The count is the orch_fsm_rejected_entries_total
// metric; the FSM keeps the most recent entries for this log.
func (c *Cluster) logRejections(ctx context.Context) {
	for {
		for _, r := range c.fsm.TakeRejections() {
			c.log.Error("a committed entry could not be applied; it changed nothing", "index", r.Index, "err", r.Err)
		}
		select {
		case <-ctx.Done():
			return
		case <-c.fsm.Rejections():
		}
	}
}
