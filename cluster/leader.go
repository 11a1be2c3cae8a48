package cluster

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"orch.io/orch/fsm"
)

// OnLeader registers a routine that runs while this master leads: started
// (with a fresh context) after leadership is established, cancelled when it
// is lost. Register routines before Run.
func (c *Cluster) OnLeader(name string, run func(ctx context.Context)) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.routines = append(c.routines, leaderRoutine{name: name, run: run})
}

// Run follows leadership changes until ctx ends: it establishes leadership
// when this master wins an election and revokes it when it loses one, and
// keeps this master's address registered in the FSM.
func (c *Cluster) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Add(4)
	go func() {
		defer wg.Done()
		c.registerSelf(ctx)
	}()
	go func() {
		defer wg.Done()
		c.logRejections(ctx)
	}()
	go func() {
		defer wg.Done()
		c.watchLeader(ctx, c.leaderMoved)
	}()
	go func() {
		defer wg.Done()
		c.runForwarders(ctx)
	}()
	defer wg.Wait()
	defer c.revokeLeadership()
	if c.IsLeader() {
		c.establishLeadership(ctx)
	}
	// A barrier that failed leaves a leader without established leadership;
	// the check retries it, and revokes leadership held from an older term.
	check := time.NewTicker(c.cfg.HeartbeatTimeout)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-check.C:
			switch leader, established := c.IsLeader(), c.establishedTerm(); {
			case leader && established == 0:
				c.establishLeadership(ctx)
			case established != 0 && (!leader || established != c.raft.CurrentTerm()):
				c.revokeLeadership()
				if c.IsLeader() {
					c.establishLeadership(ctx)
				}
			}
		case leader := <-c.notify:
			c.metrics.leaderChanges.Inc()
			if leader {
				c.metrics.isLeader.Set(1)
				c.establishLeadership(ctx)
			} else {
				c.metrics.isLeader.Set(0)
				c.revokeLeadership()
			}
		}
	}
}

// establishLeadership waits until every earlier entry is applied (a
// barrier), registers this master's address, then starts the leader routines.
func (c *Cluster) establishLeadership(ctx context.Context) {
	c.mu.Lock()
	if c.term != 0 {
		c.mu.Unlock()
		return
	}
	c.mu.Unlock()
	start := time.Now()
	term := c.raft.CurrentTerm()
	if err := c.raft.Barrier(c.cfg.ApplyTimeout).Error(); err != nil {
		c.log.Warn("barrier after election failed; leadership not established", "err", err)
		return
	}
	if err := c.upsertSelf(ctx); err != nil {
		c.log.Warn("register leader address", "err", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.term != 0 || !c.IsLeader() || c.raft.CurrentTerm() != term {
		return
	}
	lctx, cancel := context.WithCancel(ctx)
	c.cancel, c.term = cancel, term
	for _, r := range c.routines {
		c.leaderWG.Add(1)
		go func(r leaderRoutine) {
			defer c.leaderWG.Done()
			c.log.Info("leader routine started", "routine", r.name)
			r.run(lctx)
			c.log.Info("leader routine stopped", "routine", r.name)
		}(r)
	}
	close(c.established)
	c.log.Info("leadership established", "took", time.Since(start))
}

// revokeLeadership stops every leader routine and waits for them.
func (c *Cluster) revokeLeadership() {
	c.mu.Lock()
	if c.term == 0 {
		c.mu.Unlock()
		return
	}
	c.term = 0
	c.cancel()
	c.established = make(chan struct{})
	c.mu.Unlock()
	c.leaderWG.Wait()
	c.log.Info("leadership revoked")
}

// isEstablished reports whether this master has established leadership in
// its current term: a leader that lost and regained leadership before Run
// noticed must not vouch for a commit index with the old term's barrier.
func (c *Cluster) isEstablished() bool {
	t := c.establishedTerm()
	return t != 0 && t == c.raft.CurrentTerm()
}

// establishedTerm is the term leadership was established in (0 if none).
func (c *Cluster) establishedTerm() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.term
}

// WaitEstablished blocks until this master has established leadership.
func (c *Cluster) WaitEstablished(ctx context.Context) error {
	for {
		c.mu.Lock()
		ch, leading := c.established, c.term != 0
		c.mu.Unlock()
		if leading {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (c *Cluster) self() fsm.MasterInfo {
	return fsm.MasterInfo{ID: c.cfg.ID, RaftAddr: c.cfg.RaftAddr, APIAddr: c.cfg.APIAddr}
}

// upsertSelf registers this master's addresses; it gives up when ctx (Run's)
// ends, so that Run returns promptly even without a quorum.
func (c *Cluster) upsertSelf(ctx context.Context) error {
	cmd, err := fsm.Encode(fsm.UpsertMasterCommand, c.self())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ApplyTimeout)
	defer cancel()
	if _, err := c.Apply(ctx, cmd); err != nil {
		return fmt.Errorf("register master %s: %w", c.cfg.ID, err)
	}
	return nil
}

// registerSelf keeps this master's addresses in the FSM, so the others can
// forward to it when it leads and `cluster members` can show them.
func (c *Cluster) registerSelf(ctx context.Context) {
	interval := 200 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
		if m, ok := c.Store().Master(c.cfg.ID); ok && m == c.self() {
			interval = 5 * time.Second
			continue
		}
		if _, ok := c.LeaderAPIAddr(); !ok {
			interval = 200 * time.Millisecond
			continue
		}
		if err := c.upsertSelf(ctx); err != nil {
			c.log.Debug("register self", "err", err)
			interval = time.Second
		}
	}
}

// leaderWatch tells waiting writes and in-flight forwards that the leader
// changed: changed returns a channel that is closed at the next change.
type leaderWatch struct {
	mu sync.Mutex
	ch chan struct{}
}

func newLeaderWatch() *leaderWatch { return &leaderWatch{ch: make(chan struct{})} }

func (w *leaderWatch) changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

func (w *leaderWatch) fire() {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.ch)
	w.ch = make(chan struct{})
}

// watchLeader fires w at every leader change Raft observes until ctx ends.
func (c *Cluster) watchLeader(ctx context.Context, w *leaderWatch) {
	obs := make(chan raft.Observation, 16)
	o := raft.NewObserver(obs, false, func(o *raft.Observation) bool {
		_, ok := o.Data.(raft.LeaderObservation)
		return ok
	})
	c.raft.RegisterObserver(o)
	defer c.raft.DeregisterObserver(o)
	for {
		select {
		case <-ctx.Done():
			return
		case <-obs:
			w.fire()
		}
	}
}

// leaderChange returns a channel closed at the next leader change (nil, which
// never fires, on a Cluster built without one).
func (c *Cluster) leaderChange() <-chan struct{} {
	if c.leaderMoved == nil {
		return nil
	}
	return c.leaderMoved.changed()
}
