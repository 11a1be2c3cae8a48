package sched

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"orch.io/orch/fsm"
)

// passProbe hears of every pass of the leader loops run with a context it
// was put in (withPassProbe): tests and benchmarks wait on it until every
// loop has seen a given index, instead of sleeping. Loops run without one
// pay a nil check per pass.
type passProbe struct {
	mu sync.Mutex
	// seen is each loop's last index covered by a finished pass.
	seen []uint64
	// follow is what each loop follows; passes and events count each
	// loop's passes and the events they were handed.
	follow         []follows
	passes, events []uint64
	// idle is each waiting loop's subscription (nil while the loop runs or
	// takes its events): with nothing pending on it, the loop has covered
	// every index the feed reached, its resources' changes by its passes
	// and the others by not following them.
	idle []*fsm.Subscription
	// changed is closed and replaced whenever seen changes.
	changed chan struct{}
	// around, if set before the loops start, runs each pass of loop id
	// (calling pass once): a test that measures what each loop's passes
	// cost wraps them with it.
	around func(id int, pass func())
	// resync holds, per loop, a request for the full pass its resync
	// timer would start (see resync): buffered, one pending at most.
	resync []chan struct{}
}

type passProbeKey struct{}

// newPassProbe returns a probe that has heard of no loop yet.
func newPassProbe() *passProbe { return &passProbe{changed: make(chan struct{})} }

// withPassProbe returns ctx carrying p for the loops run with it.
func withPassProbe(ctx context.Context, p *passProbe) context.Context {
	return context.WithValue(ctx, passProbeKey{}, p)
}

// passProbeOf returns the probe ctx carries, or nil.
func passProbeOf(ctx context.Context) *passProbe {
	p, _ := ctx.Value(passProbeKey{}).(*passProbe)
	return p
}

// register adds a loop that follows follow and returns its id (-1 on a nil
// probe).
func (p *passProbe) register(follow follows) int {
	if p == nil {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, 0)
	p.follow = append(p.follow, slices.Clone(follow))
	p.passes, p.events = append(p.passes, 0), append(p.events, 0)
	p.idle = append(p.idle, nil)
	p.resync = append(p.resync, make(chan struct{}, 1))
	close(p.changed)
	p.changed = make(chan struct{})
	return len(p.seen) - 1
}

// resyncNow asks loop id for the full pass its resync timer starts (not a
// woken one), at its next wait: a benchmark measures a timed resync
// without waiting minutes for one.
func (p *passProbe) resyncNow(id int) {
	p.mu.Lock()
	c := p.resync[id]
	p.mu.Unlock()
	select {
	case c <- struct{}{}:
	default: // one is pending already
	}
}

// resyncs returns the channel of loop id's resync requests (nil, never
// ready, on a nil probe).
func (p *passProbe) resyncs(id int) <-chan struct{} {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.resync[id]
}

// wraps reports whether the probe runs the passes (has around), so a
// loop without one calls its pass directly, making no closure for it.
func (p *passProbe) wraps() bool { return p != nil && p.around != nil }

// run runs pass through around.
func (p *passProbe) run(id int, pass func() error) error {
	var err error
	p.around(id, func() { err = pass() })
	return err
}

// passed records that loop id finished a pass of events events covering
// the changes up to index seen.
func (p *passProbe) passed(id int, seen uint64, events int) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[id] = seen
	p.passes[id]++
	p.events[id] += uint64(events)
	close(p.changed)
	p.changed = make(chan struct{})
}

// waiting records that loop id waits on sub for changes (nil: it stopped
// waiting).
func (p *passProbe) waiting(id int, sub *fsm.Subscription) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.idle[id] = sub
	close(p.changed)
	p.changed = make(chan struct{})
}

// loopCount is what a probe counted of one loop: what it follows, its
// passes and the events they were handed.
type loopCount struct {
	follow         follows
	passes, events uint64
}

// counts returns what the probe counted of each loop, by id.
func (p *passProbe) counts() []loopCount {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]loopCount, len(p.seen))
	for id := range out {
		out[id] = loopCount{follow: p.follow[id], passes: p.passes[id], events: p.events[id]}
	}
	return out
}

// waitPasses returns once loop id has finished n passes, or with an error
// when ctx ends first.
func (p *passProbe) waitPasses(ctx context.Context, id int, n uint64) error {
	for {
		p.mu.Lock()
		done, changed := id < len(p.passes) && p.passes[id] >= n, p.changed
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("loop %d: waiting for %d passes: %w", id, n, ctx.Err())
		}
	}
}

// covered reports whether loop id has covered index: a finished pass
// covered it, or the loop waits with nothing pending on a subscription to
// a feed that reached it. The caller holds p.mu.
func (p *passProbe) covered(id int, index uint64) bool {
	if p.seen[id] >= index {
		return true
	}
	if sub := p.idle[id]; sub != nil {
		last, pending := sub.Pending()
		return !pending && last >= index
	}
	return false
}

// wait returns once loops loops have registered and each has covered
// index (see covered), or with an error when ctx ends first. index must be
// in the feed already: a loop waiting on a feed short of it is told of no
// change it does not follow.
func (p *passProbe) wait(ctx context.Context, loops int, index uint64) error {
	for {
		p.mu.Lock()
		done, behind := len(p.seen) >= loops, 0
		for id := range p.seen {
			if !p.covered(id, index) {
				done = false
				behind++
			}
		}
		registered, changed := len(p.seen), p.changed
		p.mu.Unlock()
		if done {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d loops registered, %d behind index %d: %w", registered, loops, behind, index, ctx.Err())
		}
	}
}
