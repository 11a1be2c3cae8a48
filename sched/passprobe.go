package sched

import (
	"context"
	"fmt"
	"sync"
)

// passProbe hears of every pass of the leader loops run with a context it
// was put in (withPassProbe): tests and benchmarks wait on it until every
// loop has seen a given index, instead of sleeping. Loops run without one
// pay a nil check per pass.
type passProbe struct {
	mu sync.Mutex
	// seen is each loop's last index covered by a finished pass.
	seen []uint64
	// changed is closed and replaced whenever seen changes.
	changed chan struct{}
	// around, if set before the loops start, runs each pass of loop id
	// (calling pass once): a test that measures what each loop's passes
	// cost wraps them with it.
	around func(id int, pass func())
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

// register adds a loop and returns its id (-1 on a nil probe).
func (p *passProbe) register() int {
	if p == nil {
		return -1
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen = append(p.seen, 0)
	return len(p.seen) - 1
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

// passed records that loop id finished a pass covering the changes up to
// index seen.
func (p *passProbe) passed(id int, seen uint64) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[id] = seen
	close(p.changed)
	p.changed = make(chan struct{})
}

// wait returns once loops loops have registered and each has finished a
// pass covering index, or with an error when ctx ends first.
func (p *passProbe) wait(ctx context.Context, loops int, index uint64) error {
	for {
		p.mu.Lock()
		done, behind := len(p.seen) >= loops, 0
		for _, s := range p.seen {
			if s < index {
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
