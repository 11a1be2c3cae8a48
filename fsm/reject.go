package fsm

import (
	"fmt"
	"sync"
	"sync/atomic"

	v1 "orch.io/orch/api/v1"
)

// A committed entry that cannot be applied (its body does not decode, it
// names no object, it holds an object that does not decode, or applying it
// panicked) changes nothing and gets a *v1.StatusError made by entryError.
// Every master decodes the same bytes with the same code, so every master
// reaches the same error: the state cannot diverge, and the cluster stays up.
// Only what can differ between masters (a command type or a resource this
// binary does not know, during a rolling upgrade) still stops the FSM.

// entryError is the typed error of an entry that cannot be applied: a
// BadRequest Status whose message names the entry's index.
func entryError(index uint64, format string, args ...any) *v1.StatusError {
	return v1.NewBadRequest(fmt.Sprintf("the command committed at index %d cannot be applied: %s", index, fmt.Sprintf(format, args...)))
}

// Rejection is one committed entry that could not be applied.
type Rejection struct {
	Index uint64
	Err   error
}

// rejections counts the entries an FSM could not apply and keeps the most
// recent ones for the master to log. Apply only appends in memory; the
// master drains them outside Apply.
type rejections struct {
	total atomic.Uint64
	mu    sync.Mutex
	kept  []Rejection
	ch    chan struct{}
}

// maxKeptRejections bounds what waits to be logged; the count stays exact.
const maxKeptRejections = 64

func newRejections() *rejections { return &rejections{ch: make(chan struct{}, 1)} }

func (r *rejections) add(rs []Rejection) {
	if len(rs) == 0 {
		return
	}
	r.total.Add(uint64(len(rs)))
	r.mu.Lock()
	r.kept = append(r.kept, rs...)
	if over := len(r.kept) - maxKeptRejections; over > 0 {
		r.kept = append(r.kept[:0:0], r.kept[over:]...)
	}
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
}

func (r *rejections) take() []Rejection {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.kept
	r.kept = nil
	return out
}

// Rejected returns how many committed entries this FSM could not apply.
func (f *FSM) Rejected() uint64 { return f.rejects.total.Load() }

// Rejections returns a channel that receives a value after entries were
// rejected, and TakeRejections the ones kept since the last call (at most
// 64; Rejected has the exact count). The master logs them.
func (f *FSM) Rejections() <-chan struct{} { return f.rejects.ch }

// TakeRejections returns and forgets the rejections kept so far.
func (f *FSM) TakeRejections() []Rejection { return f.rejects.take() }

// skew is the panic value for what can differ between masters: an entry of
// a command type or resource this binary does not know. It is not turned
// into an error, because another master may apply the entry.
type skew string

func (s skew) String() string { return string(s) }
