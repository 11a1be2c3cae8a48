package gossip

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Source is what Liveness reads: a Pool, or a fake in tests.
type Source interface {
	Events() <-chan Event
	Members() []Member
}

// Liveness turns gossip membership into node liveness for the node
// lifecycle controller on the leader. It applies events as they come and
// every reconcileEvery rebuilds its whole view from Members, which repairs
// events the source dropped (Consul's reconcileMember loop).
type Liveness struct {
	src            Source
	logger         *slog.Logger
	reconcileEvery time.Duration

	mu     sync.RWMutex
	view   map[string]MemberState
	synced bool // a reconcile has run
}

// NewLiveness returns a Liveness over g; Run feeds it. reconcileEvery
// defaults to 10 s when zero.
func NewLiveness(g Source, logger *slog.Logger, reconcileEvery time.Duration) *Liveness {
	if reconcileEvery <= 0 {
		reconcileEvery = 10 * time.Second
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Liveness{src: g, logger: logger.With("subsystem", "liveness"), reconcileEvery: reconcileEvery,
		view: map[string]MemberState{}}
}

// Run reconciles at once, then applies events and reconciles every
// reconcileEvery until ctx ends.
func (l *Liveness) Run(ctx context.Context) {
	l.reconcile()
	ticker := time.NewTicker(l.reconcileEvery)
	defer ticker.Stop()
	events := l.src.Events()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-events:
			l.apply(ev)
		case <-ticker.C:
			l.reconcile()
		}
	}
}

// apply records one event. The source delivers events in order, so a stale
// event is followed by the ones that correct it, or, if those were dropped,
// repaired by the next reconcile.
func (l *Liveness) apply(ev Event) {
	state := ev.Member.State
	switch ev.Type {
	case EventLeave:
		state = MemberLeft
	case EventFail:
		state = MemberDead
	case EventJoin, EventUpdate:
		if state == "" {
			state = MemberAlive
		}
	}
	l.mu.Lock()
	old, had := l.view[ev.Member.Name]
	l.view[ev.Member.Name] = state
	l.mu.Unlock()
	if !had || old != state {
		l.logger.Debug("gossip member state", "member", ev.Member.Name, "role", ev.Member.Role, "state", state, "event", ev.Type)
	}
}

// reconcile replaces the view with the source's full membership.
func (l *Liveness) reconcile() {
	members := l.src.Members()
	view := make(map[string]MemberState, len(members))
	for _, m := range members {
		view[m.Name] = m.State
	}
	l.mu.Lock()
	changed := 0
	for name, s := range view {
		if l.view[name] != s {
			changed++
		}
	}
	for name := range l.view {
		if _, ok := view[name]; !ok {
			changed++
		}
	}
	l.view = view
	first := !l.synced
	l.synced = true
	l.mu.Unlock()
	if changed > 0 && !first {
		l.logger.Info("gossip reconcile repaired the liveness view", "changed", changed, "members", len(view))
	}
}

// Alive reports whether the named member is alive or suspect (suspect is not
// yet dead: memberlist's indirect probes decide), and whether the pool knows
// it at all. It answers for any name; the node lifecycle controller asks
// about nodes. Before Run's first reconcile nothing is known.
func (l *Liveness) Alive(name string) (alive, known bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	s, ok := l.view[name]
	if !ok {
		return false, false
	}
	return s == MemberAlive || s == MemberSuspect, true
}
