package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// ReadBarrier returns once this master's store reflects every write
// committed before the call, so a read made after it is linearizable. The
// leader confirms it still leads (a heartbeat round to a quorum) and names
// its commit index; this master then waits until it has applied that index.
// It returns the index. Once this master has seen no leader for
// noLeaderWait (the quorum is lost) it fails with 503.
func (c *Cluster) ReadBarrier(ctx context.Context) (uint64, error) {
	start := time.Now()
	backoff := 5 * time.Millisecond
	nl := noLeaderBound{c: c}
	defer nl.stop()
	ctx = nl.bound(ctx)
	for {
		var idx uint64
		var err error
		if c.IsLeader() {
			idx, err = c.leaderReadIndex()
		} else {
			idx, err = c.forwardReadIndex(ctx)
		}
		if err == nil {
			return idx, c.waitApplied(ctx, idx)
		}
		if !errors.Is(err, errRetry) {
			return 0, err
		}
		if df := c.disk.watch.lastFailure(); df != nil && c.disk.watch.Full() {
			// Even once a leader answers, this master could not catch up.
			return 0, v1.NewServiceUnavailable(fmt.Sprintf("this master cannot serve a linearizable read: its data dir is full (%v) and no leader confirmed the read (%v); read from another master, or add ?stale=true to read its copy", df.Unwrap(), err))
		}
		ctx = nl.bound(ctx)
		select {
		case <-ctx.Done():
			if id, _ := c.Leader(); id == "" {
				return 0, quorumLost(start, "add ?stale=true to read this master's copy")
			}
			return 0, v1.NewServiceUnavailable(fmt.Sprintf("no leader confirmed the read before the deadline (%v): quorum may be lost; add ?stale=true to read this master's copy", err))
		case <-time.After(backoff):
		}
		if backoff < 25*time.Millisecond {
			backoff *= 2
		}
	}
}

// leaderReadIndex confirms leadership and returns the commit index.
func (c *Cluster) leaderReadIndex() (uint64, error) {
	idx := c.raft.CommitIndex()
	if err := c.raft.VerifyLeader().Error(); err != nil {
		return 0, fmt.Errorf("%w: verify leader: %v", errRetry, err)
	}
	// A new leader's commit index may lag until it commits an entry of its
	// own term; the barrier raft runs at election covers it, and
	// establishLeadership waits for it before serving.
	if !c.isEstablished() {
		return 0, fmt.Errorf("%w: leadership not yet established", errRetry)
	}
	return idx, nil
}

func (c *Cluster) forwardReadIndex(ctx context.Context) (uint64, error) {
	changed := c.leaderChange()
	addr, ok := c.LeaderAPIAddr()
	if !ok {
		return 0, fmt.Errorf("%w: no leader known", errRetry)
	}
	// A read has no side effects: when the leader changes (or vanishes)
	// while it is asked, give up on it at once and ask again.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-changed:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+readIndexPath, nil)
	if err != nil {
		return 0, err
	}
	resp, err := c.fwd.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%w: ask leader %s for a read index: %v", errRetry, addr, err)
	}
	defer resp.Body.Close()
	var out struct {
		Index uint64 `json:"index"`
	}
	if resp.StatusCode == http.StatusForbidden {
		return 0, v1.NewInternalError(fmt.Errorf("the leader %s refused this master's certificate for a read index: check the PKI directory", addr))
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%w: leader %s answered HTTP %d", errRetry, addr, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return 0, fmt.Errorf("%w: decode read index: %v", errRetry, err)
	}
	return out.Index, nil
}

// waitApplied waits until the local store reflects every entry up to index.
// raft's own AppliedIndex moves when entries are queued for the FSM, not
// when they are applied, so the FSM's index is what counts; entries the FSM
// never sees (no-ops, barriers) are skipped by looking at their type. A
// master whose disk is full cannot store the entries it lacks, so it says
// so at once (503: a client asks the next master).
func (c *Cluster) waitApplied(ctx context.Context, index uint64) error {
	wait := 50 * time.Microsecond
	for !c.appliedThrough(index) {
		if df := c.disk.watch.lastFailure(); df != nil && c.disk.watch.Full() {
			return v1.NewServiceUnavailable(fmt.Sprintf("this master cannot catch up to index %d: its data dir is full (%v); read from another master, or add ?stale=true to read its copy", index, df.Unwrap()))
		}
		select {
		case <-ctx.Done():
			return v1.NewServiceUnavailable(fmt.Sprintf("this master did not catch up to index %d in time", index))
		case <-time.After(wait):
		}
		if wait < 2*time.Millisecond {
			wait *= 2
		}
	}
	return nil
}

// appliedThrough reports whether the store reflects every entry up to index.
func (c *Cluster) appliedThrough(index uint64) bool {
	done := c.fsm.AppliedIndex()
	if done >= index {
		return true
	}
	if c.raft.AppliedIndex() < index {
		return false // not even handed to the FSM yet
	}
	var l raft.Log
	for i := done + 1; i <= index; i++ {
		if err := c.logs.GetLog(i, &l); err != nil {
			continue // compacted into a snapshot the FSM has restored
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return false
		}
	}
	return true
}

// WaitApplied waits until the local FSM has applied index (for watch starts
// and tests).
func (c *Cluster) WaitApplied(ctx context.Context, index uint64) error {
	return c.waitApplied(ctx, index)
}

func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
