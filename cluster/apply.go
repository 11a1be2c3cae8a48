package cluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// Paths of the masters' internal endpoints (mutual TLS, master certificate).
const (
	applyPath     = "/orch/v1/internal/apply"
	readIndexPath = "/orch/v1/internal/readindex"
)

// ErrUnknownOutcome wraps failures after which a write may or may not have
// been committed (leadership lost mid-flight, connection to the leader lost).
var ErrUnknownOutcome = errors.New("the write may or may not have been applied")

// Apply commits an encoded command (fsm.Encode) and returns its result: an
// fsm.Result or fsm.BatchResult. A Result carrying an error (NotFound,
// Conflict, ...) is returned as that error for single commands. On a
// follower the command is forwarded to the leader. Errors that say the write
// was not applied are *v1.StatusError with code 503; ones after which it may
// have been are 504 and wrap ErrUnknownOutcome. A write that a leader could
// not store because its disk is full is retried on the next leader for a
// few election timeouts, then refused with 503 naming the full disk.
//
// Before anything is proposed, fsm.Verify proves that the command
// round-trips: one that would not is refused here with 400, never logged.
func (c *Cluster) Apply(ctx context.Context, cmd []byte) (any, error) {
	if err := fsm.Verify(cmd); err != nil {
		return nil, err
	}
	start := time.Now()
	backoff := 5 * time.Millisecond
	nl := noLeaderBound{c: c}
	defer nl.stop()
	ctx = nl.bound(ctx)
	var diskFull *DiskFullError
	for {
		// Taken before the attempt, so a leader change during it ends the
		// pause below at once.
		moved := c.leaderChange()
		var res any
		var err error
		path := "leader"
		if c.IsLeader() {
			res, err = c.applyLocal(ctx, cmd)
		} else {
			path = "forwarded"
			res, err = c.forwardApply(ctx, cmd)
		}
		if err == nil {
			c.metrics.applyLatency.WithLabelValues(path).Observe(time.Since(start).Seconds())
			return unwrapSingle(res)
		}
		if !errors.Is(err, errRetry) {
			return nil, err
		}
		if err := c.cannotForward(); err != nil {
			return nil, err
		}
		ctx = nl.bound(ctx)
		if diskFull == nil && errors.As(err, &diskFull) {
			// The leader stepped down; another one takes the write once
			// elected. Wait for that as for an election, not longer.
			ctx = nl.begin(ctx)
		}
		select {
		case <-ctx.Done():
			if diskFull != nil {
				return nil, v1.NewServiceUnavailable(fmt.Sprintf("the write was not applied: %v; no master with room took it within %v: free space in the data dir",
					diskFull, time.Since(start).Round(100*time.Millisecond)))
			}
			if id, _ := c.Leader(); id == "" {
				return nil, quorumLost(start, "writes are refused until a majority of them is back (reads with ?stale=true still work)"+c.diskNote())
			}
			return nil, v1.NewServiceUnavailable(fmt.Sprintf("no leader could take the write before the deadline (%v): quorum may be lost%s", err, c.diskNote()))
		case <-time.After(backoff):
		case <-moved:
			// A new leader (or none): try again now rather than after the
			// pause; a leadership transfer costs its own duration only.
		}
		if backoff < 25*time.Millisecond {
			backoff *= 2
		}
	}
}

// cannotForward returns a 503 when this master knows the leader but not its
// address and, its disk full, cannot apply the leader's registration: a
// wait could not end before space returns, while another master can take
// the write now.
func (c *Cluster) cannotForward() error {
	id, _ := c.Leader()
	if id == "" || !c.disk.watch.Full() {
		return nil
	}
	if _, ok := c.LeaderAPIAddr(); ok {
		return nil
	}
	df := c.disk.watch.lastFailure()
	if df == nil {
		return nil
	}
	return v1.NewServiceUnavailable(fmt.Sprintf("the write was not applied: this master's data dir is full (%v) and it has not stored the address of the leader %s, so it cannot forward the write; another master can take it",
		df.Unwrap(), id))
}

// diskNote tells, for an error message, that this master's disk is full.
func (c *Cluster) diskNote() string {
	if df := c.disk.watch.lastFailure(); df != nil && c.disk.watch.Full() {
		return "; " + df.Error()
	}
	return ""
}

// noLeaderWait is how long a write or a linearizable read waits for a
// leader to be elected when none is known: a few election timeouts, at
// least 2 s.
func (c *Cluster) noLeaderWait() time.Duration {
	return max(4*c.cfg.ElectionTimeout, 2*time.Second)
}

// noLeaderBound limits an operation's wait to noLeaderWait from the moment
// its master sees no leader (at once, or when the leader it was sent to
// vanishes with the quorum mid-way), rather than the caller's whole
// deadline, after which it is refused with 503 naming the lost quorum.
type noLeaderBound struct {
	c      *Cluster
	cancel context.CancelFunc
}

// bound returns ctx limited to noLeaderWait from now if no leader is known
// and no limit was set yet, else ctx.
func (b *noLeaderBound) bound(ctx context.Context) context.Context {
	if id, _ := b.c.Leader(); id != "" {
		return ctx
	}
	return b.begin(ctx)
}

// begin returns ctx limited to noLeaderWait from now, whether a leader is
// known or not (one that stepped down may still be named), unless a limit
// was set already.
func (b *noLeaderBound) begin(ctx context.Context) context.Context {
	if b.cancel != nil {
		return ctx
	}
	ctx, b.cancel = context.WithTimeout(ctx, b.c.noLeaderWait())
	return ctx
}

// quorumLost is the 503 of an operation that waited noLeaderWait, since
// start, for a leader to be elected; advice says what still works.
func quorumLost(start time.Time, advice string) *v1.StatusError {
	return v1.NewServiceUnavailable(fmt.Sprintf("no leader was elected within %v: the masters have lost their quorum; %s",
		time.Since(start).Round(100*time.Millisecond), advice))
}

// stop releases the limit's timer.
func (b *noLeaderBound) stop() {
	if b.cancel != nil {
		b.cancel()
	}
}

// errRetry marks an attempt that did not reach a leader and may be retried.
var errRetry = errors.New("retry")

func unwrapSingle(res any) (any, error) {
	if r, ok := res.(fsm.Result); ok && r.Err != nil {
		return nil, r.Err
	}
	return res, nil
}

// applyLocal proposes cmd and waits for its outcome or the end of ctx: a
// leader whose followers take heartbeats but cannot store entries (their
// disks full) keeps leading, and its writes commit only once they can.
func (c *Cluster) applyLocal(ctx context.Context, cmd []byte) (any, error) {
	f := c.raft.Apply(cmd, c.cfg.ApplyTimeout)
	done := make(chan struct{})
	go func() { f.Error(); close(done) }()
	select {
	case <-done:
		return futureResult(f)
	case <-ctx.Done():
		e := v1.NewTimeout("a majority of the masters did not store the write before the deadline (a full or failing disk?): " + ErrUnknownOutcome.Error())
		return nil, errors.Join(e, ErrUnknownOutcome)
	}
}

// futureResult waits for an apply future and maps raft's errors: errRetry
// when the write surely was not applied and another leader may take it
// (wrapping the *DiskFullError of a leader that could not store it), 503
// when it was not applied, 504 + ErrUnknownOutcome when it may have been.
func futureResult(f raft.ApplyFuture) (any, error) {
	if err := f.Error(); err != nil {
		switch {
		case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipTransferInProgress):
			return nil, fmt.Errorf("%w: %v", errRetry, err)
		case errors.As(err, new(*DiskFullError)):
			// The leader could not store the entry, so it sent it to no
			// one, and stepped down: the next leader may take the write.
			return nil, fmt.Errorf("%w: %w", errRetry, err)
		case errors.Is(err, raft.ErrEnqueueTimeout):
			return nil, v1.NewServiceUnavailable("the leader is overloaded: the write was not applied, retry")
		case errors.Is(err, raft.ErrRaftShutdown):
			return nil, v1.NewServiceUnavailable("this master is shutting down: the write was not applied")
		case errors.Is(err, raft.ErrLeadershipLost):
			e := v1.NewTimeout("leadership was lost while the write was in flight: " + ErrUnknownOutcome.Error())
			return nil, errors.Join(e, ErrUnknownOutcome)
		}
		return nil, fmt.Errorf("raft apply: %w", err)
	}
	return f.Response(), nil
}

// forwardApply queues the command for the leader; a sender loop (see
// forward.go) carries it in a batch.
func (c *Cluster) forwardApply(ctx context.Context, cmd []byte) (any, error) {
	p := &pendingForward{cmd: cmd, done: make(chan forwardResult, 1)}
	select {
	case c.forwardQ <- p:
	case <-ctx.Done():
		return nil, fmt.Errorf("%w: the forwarding queue is full", errRetry)
	}
	c.metrics.forwarded.Inc()
	select {
	case r := <-p.done:
		return r.res, r.err
	case <-ctx.Done():
		if p.state.CompareAndSwap(forwardQueued, forwardWithdrawn) {
			// No sender took it to a leader: it surely was not applied.
			return nil, fmt.Errorf("%w: no leader took the write before the deadline", errRetry)
		}
		e := v1.NewTimeout("no answer from the leader before the deadline: " + ErrUnknownOutcome.Error())
		return nil, errors.Join(e, ErrUnknownOutcome)
	}
}

// reasonNotLeader marks the leader's answer "I am not the leader any more".
const reasonNotLeader = "NotLeader"

// notLeader is the 503 a master answers when it was asked as the leader
// and is not (or no longer) one: nothing was done, the next leader may do it.
func notLeader(msg string) *v1.StatusError {
	se := v1.NewServiceUnavailable(msg)
	se.Status.Reason = reasonNotLeader
	return se
}

// reasonDiskFull marks the leader's answer "my disk is full: I could not
// store the write and stepped down"; like NotLeader it was not applied.
const reasonDiskFull = "DiskFull"
