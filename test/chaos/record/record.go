// Package record is the chaos suite's recording client: workers that send a
// random mix of requests to a cluster (creates, compare-and-swap and plain
// updates, deletes, gets, lists, replication-controller scaling) and watches
// from random resourceVersions, writing down every request with its call and
// return times and what it learnt, for the checkers of package check.
//
// The objects under test are Endpoints in a namespace of their own, keyed
// k00, k01, ...: no controller of orch writes Endpoints that it does not
// manage, so every change of them comes from the recorder and the history is
// complete. Each write stores a unique value in the annotation [ValueKey].
package record

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/chaos/check"
)

// ValueKey is the annotation that holds a key's value.
const ValueKey = "chaos.orch.io/value"

// Target is a client a worker sends its requests through.
type Target struct {
	// Client is the API client.
	Client *client.Client
	// Master is the index of the only master the client talks to, or -1
	// when it fails over across all of them.
	Master int
}

// Config configures a Recorder.
type Config struct {
	// Targets are the clients; worker w uses Targets[w % len(Targets)].
	Targets []Target
	// Watch is the client of the reference watch and the final write (it
	// should fail over).
	Watch *client.Client
	// Watchers are the clients of the random watches, one loop of watches
	// each (default: Watch). Giving each its own first master makes some
	// watch stream break and resume whichever master a fault hits.
	Watchers []*client.Client
	// Workers is the number of concurrent workers (default 8).
	Workers int
	// Rate is each worker's request rate per second (default 20).
	Rate float64
	// Namespace holds the keys; it must exist.
	Namespace string
	// Keys is the size of the key space (default 12).
	Keys int
	// RequestTimeout bounds each request (default 3 s).
	RequestTimeout time.Duration
	// Seed seeds the workers' choices.
	Seed uint64
	// ScaleRC is "namespace/name" of a replication controller the workers
	// scale between 1 and MaxReplicas ("" disables scaling).
	ScaleRC     string
	MaxReplicas int32
	// WatchEvery is the mean pause between two random watches (default 1 s).
	WatchEvery time.Duration
}

// Request is one request as sent, whatever its kind, for error and
// availability statistics.
type Request struct {
	Worker int
	// Master is the worker's target master (-1: fails over).
	Master int
	// Kind is "create", "update", "cas", "delete", "get", "list", "scale",
	// "watch" or "final".
	Kind string
	// Write is true for requests that change state.
	Write  bool
	Call   time.Time
	Return time.Time
	// Outcome is OK, Failed or Unknown.
	Outcome check.Outcome
	// Reason is the Status reason of a failure ("" when none).
	Reason string
	// Abandoned is true for a request that failed after StopWorkers began:
	// it was cut short by the recorder, not by the cluster.
	Abandoned bool
	// Err is the error's text ("" when OK).
	Err string
}

// Watch is one watch stream as received.
type Watch struct {
	// StartRV is the resourceVersion it started from.
	StartRV uint64
	// Resumed is true when StartRV is where the loop's previous watch
	// stopped (a reconnecting client), false for a random resourceVersion.
	Resumed bool
	// Events are the events received, in order (bookmarks left out).
	Events []check.Event
	// EndRV is the watcher's resume point when it was stopped: every event
	// up to it was delivered.
	EndRV uint64
	// Reconnects counts the streams the watcher opened after one ended (a
	// master killed or restarted under it): the events must still be
	// exactly the reference's.
	Reconnects int
	// Err is why it ended when it was not stopped by the recorder.
	Err error
	// Start and End are when it started and was stopped.
	Start, End time.Time
}

// History is everything a Recorder saw.
type History struct {
	// Ops are the object requests for the linearizability checker (a list
	// contributes one Get per key of the key space).
	Ops []check.Op
	// Requests are all requests, for statistics.
	Requests []Request
	// Reference is the watch that ran from before the first request to
	// after the final one.
	Reference Watch
	// Watches are the watches from random resourceVersions.
	Watches []Watch
	// WatchStartErrors counts watches that could not be started.
	WatchStartErrors int
}

// Recorder runs the workers and watches and keeps the history.
type Recorder struct {
	cfg  Config
	keys []string

	mu       sync.Mutex
	ops      []check.Op
	requests []Request
	watches  []Watch
	rvs      []uint64 // resourceVersions seen in OK answers
	wsErrs   int

	ref      *client.Watcher
	refStart time.Time
	refRV    uint64
	refMu    sync.Mutex
	refEv    []check.Event
	refDone  chan struct{}

	stop     context.CancelFunc
	stopping atomic.Bool
	wg       sync.WaitGroup
	finalID  int
}

// New returns a Recorder; Start starts it.
func New(cfg Config) *Recorder {
	if cfg.Workers <= 0 {
		cfg.Workers = 8
	}
	if cfg.Rate <= 0 {
		cfg.Rate = 20
	}
	if cfg.Keys <= 0 {
		cfg.Keys = 12
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = 3 * time.Second
	}
	if cfg.WatchEvery <= 0 {
		cfg.WatchEvery = time.Second
	}
	if cfg.MaxReplicas <= 0 {
		cfg.MaxReplicas = 3
	}
	r := &Recorder{cfg: cfg, refDone: make(chan struct{})}
	for i := 0; i < cfg.Keys; i++ {
		r.keys = append(r.keys, fmt.Sprintf("k%02d", i))
	}
	return r
}

// Start lists the namespace to learn where the reference watch starts,
// starts that watch, then the workers and the random watches. ctx bounds the
// start only: the workers run until StopWorkers.
func (r *Recorder) Start(ctx context.Context) error {
	l, err := r.cfg.Watch.List(ctx, "endpoints", r.cfg.Namespace, client.ListOptions{})
	if err != nil {
		return fmt.Errorf("list for the reference watch: %w", err)
	}
	r.refRV, _ = strconv.ParseUint(l.ResourceVersion, 10, 64)
	r.refStart = time.Now()
	// The reference watch outlives the workers: its own context.
	w, err := r.cfg.Watch.Watch(context.Background(), "endpoints", r.cfg.Namespace,
		client.WatchOptions{ResourceVersion: l.ResourceVersion})
	if err != nil {
		return fmt.Errorf("start the reference watch: %w", err)
	}
	r.ref = w
	go func() {
		defer close(r.refDone)
		for ev := range w.Events() {
			e, ok := toEvent(ev)
			if !ok {
				continue
			}
			r.refMu.Lock()
			r.refEv = append(r.refEv, e)
			r.refMu.Unlock()
		}
	}()
	wctx, cancel := context.WithCancel(context.Background())
	r.stop = cancel
	for i := 0; i < r.cfg.Workers; i++ {
		r.wg.Add(1)
		go func(i int) {
			defer r.wg.Done()
			r.work(wctx, i)
		}(i)
	}
	watchers := r.cfg.Watchers
	if len(watchers) == 0 {
		watchers = []*client.Client{r.cfg.Watch}
	}
	for i, cl := range watchers {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.watchLoop(wctx, cl, uint64(i))
		}()
	}
	return nil
}

// StopWorkers stops the workers and random watches and waits for them.
func (r *Recorder) StopWorkers() {
	r.stopping.Store(true)
	if r.stop != nil {
		r.stop()
	}
	r.wg.Wait()
}

// FinalWrite creates a new key until one create is acknowledged or ctx ends,
// recording every attempt, and returns the acknowledged resourceVersion.
func (r *Recorder) FinalWrite(ctx context.Context) (uint64, error) {
	cl := r.cfg.Watch
	for {
		r.finalID++
		name := fmt.Sprintf("final-%d", r.finalID)
		rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
		op := check.Op{ClientID: r.cfg.Workers, Kind: check.Create, Key: r.cfg.Namespace + "/" + name, Value: name, Call: time.Now()}
		ep := r.endpoints(name, name, "")
		err := cl.Create(rctx, ep)
		cancel()
		r.finish(&op, err, "final", -1, true)
		if op.Outcome == check.OK {
			r.record(op)
			return ep.ResourceVersionIndex(), nil
		}
		r.record(op)
		if ctx.Err() != nil {
			return 0, fmt.Errorf("no final write was acknowledged: last error: %v", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Finish waits (until ctx ends) for the reference watch to deliver rv,
// stops it and returns the history.
func (r *Recorder) Finish(ctx context.Context, rv uint64) (History, error) {
	var waitErr error
	for {
		if cur, _ := strconv.ParseUint(r.ref.ResourceVersion(), 10, 64); cur >= rv {
			break
		}
		if ctx.Err() != nil {
			waitErr = fmt.Errorf("the reference watch did not reach resourceVersion %d (at %s, ended: %v)",
				rv, r.ref.ResourceVersion(), r.ref.Err())
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	end := r.ref.ResourceVersion()
	r.ref.Stop()
	<-r.refDone
	endRV, _ := strconv.ParseUint(end, 10, 64)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.refMu.Lock()
	defer r.refMu.Unlock()
	h := History{
		Ops:              append([]check.Op(nil), r.ops...),
		Requests:         append([]Request(nil), r.requests...),
		Watches:          append([]Watch(nil), r.watches...),
		WatchStartErrors: r.wsErrs,
		Reference: Watch{StartRV: r.refRV, Events: append([]check.Event(nil), r.refEv...), EndRV: endRV,
			Reconnects: r.ref.Reconnects(), Err: r.ref.Err(), Start: r.refStart, End: time.Now()},
	}
	return h, waitErr
}

// endpoints builds the object of a key with a value.
func (r *Recorder) endpoints(name, value, rv string) *v1.Endpoints {
	return &v1.Endpoints{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: r.cfg.Namespace, ResourceVersion: rv,
		Annotations: map[string]string{ValueKey: value}}}
}

// work is one worker's loop.
func (r *Recorder) work(ctx context.Context, id int) {
	t := r.cfg.Targets[id%len(r.cfg.Targets)]
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(id)))
	known := map[string]string{} // key -> last resourceVersion this worker saw
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	next := time.Now()
	for seq := 0; ; seq++ {
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(d):
			}
		} else {
			next = time.Now()
		}
		if ctx.Err() != nil {
			return
		}
		name := r.keys[rng.IntN(len(r.keys))]
		value := fmt.Sprintf("w%d-%d", id, seq)
		switch p := rng.IntN(100); {
		case p < 15:
			r.create(ctx, id, t, name, value, known)
		case p < 45:
			if rv, ok := known[name]; ok {
				r.update(ctx, id, t, name, value, rv, known)
			} else {
				r.get(ctx, id, t, name, known)
			}
		case p < 50:
			r.update(ctx, id, t, name, value, "", known)
		case p < 60:
			r.delete(ctx, id, t, name, known)
		case p < 87:
			r.get(ctx, id, t, name, known)
		case p < 95:
			r.list(ctx, id, t, known)
		default:
			if r.cfg.ScaleRC != "" {
				r.scale(ctx, id, t, 1+rng.Int32N(r.cfg.MaxReplicas))
			} else {
				r.get(ctx, id, t, name, known)
			}
		}
	}
}

func (r *Recorder) create(ctx context.Context, id int, t Target, name, value string, known map[string]string) {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	op := check.Op{ClientID: id, Kind: check.Create, Key: r.cfg.Namespace + "/" + name, Value: value, Call: time.Now()}
	ep := r.endpoints(name, value, "")
	err := t.Client.Create(rctx, ep)
	r.finish(&op, err, "create", t.Master, true)
	if op.Outcome == check.OK {
		op.RV = ep.ResourceVersion
		known[name] = ep.ResourceVersion
		r.sawRV(ep.ResourceVersion)
	}
	r.record(op)
}

func (r *Recorder) update(ctx context.Context, id int, t Target, name, value, rv string, known map[string]string) {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	kind := "cas"
	if rv == "" {
		kind = "update"
	}
	op := check.Op{ClientID: id, Kind: check.Update, Key: r.cfg.Namespace + "/" + name, Value: value, ExpectRV: rv, Call: time.Now()}
	ep := r.endpoints(name, value, rv)
	err := t.Client.Update(rctx, ep)
	r.finish(&op, err, kind, t.Master, true)
	switch {
	case op.Outcome == check.OK:
		op.RV = ep.ResourceVersion
		known[name] = ep.ResourceVersion
		r.sawRV(ep.ResourceVersion)
	case op.Outcome == check.Failed && op.Reason == check.ReasonNotFound:
		delete(known, name)
	case op.Outcome == check.Failed && op.Reason == check.ReasonConflict:
		delete(known, name) // read it again before the next CAS
	}
	r.record(op)
}

func (r *Recorder) delete(ctx context.Context, id int, t Target, name string, known map[string]string) {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	op := check.Op{ClientID: id, Kind: check.Delete, Key: r.cfg.Namespace + "/" + name, Call: time.Now()}
	_, err := t.Client.Delete(rctx, "endpoints", r.cfg.Namespace, name, nil)
	r.finish(&op, err, "delete", t.Master, true)
	if op.Outcome != check.Unknown {
		delete(known, name)
	}
	r.record(op)
}

func (r *Recorder) get(ctx context.Context, id int, t Target, name string, known map[string]string) {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	op := check.Op{ClientID: id, Kind: check.Get, Key: r.cfg.Namespace + "/" + name, Call: time.Now()}
	var ep v1.Endpoints
	err := t.Client.Get(rctx, "endpoints", r.cfg.Namespace, name, &ep)
	if v1.IsNotFound(err) {
		// A read that found nothing is an answer: the object is absent.
		op.Return, op.Outcome = time.Now(), check.OK
		r.request(op, "get", id, t.Master, false, nil)
		delete(known, name)
		r.record(op)
		return
	}
	r.finish(&op, err, "get", t.Master, false)
	if op.Outcome == check.OK {
		op.Found, op.GotValue, op.RV = true, ep.Annotations[ValueKey], ep.ResourceVersion
		known[name] = ep.ResourceVersion
		r.sawRV(ep.ResourceVersion)
	}
	r.record(op)
}

// list reads the whole namespace: one Get per key of the key space, all
// with the list's call and return times (a list is one atomic read).
func (r *Recorder) list(ctx context.Context, id int, t Target, known map[string]string) {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	call := time.Now()
	l, err := t.Client.List(rctx, "endpoints", r.cfg.Namespace, client.ListOptions{})
	probe := check.Op{ClientID: id, Kind: check.Get, Key: "list", Call: call}
	r.finish(&probe, err, "list", t.Master, false)
	if probe.Outcome != check.OK {
		return
	}
	got := map[string]*v1.Endpoints{}
	for _, raw := range l.Items {
		var ep v1.Endpoints
		if err := json.Unmarshal(raw, &ep); err != nil {
			continue
		}
		got[ep.Name] = &ep
	}
	r.sawRV(l.ResourceVersion)
	for _, name := range r.keys {
		op := check.Op{ClientID: id, Kind: check.Get, Key: r.cfg.Namespace + "/" + name, Call: call,
			Return: probe.Return, Outcome: check.OK}
		if ep, ok := got[name]; ok {
			op.Found, op.GotValue, op.RV = true, ep.Annotations[ValueKey], ep.ResourceVersion
			known[name] = ep.ResourceVersion
		} else {
			delete(known, name)
		}
		r.record(op)
	}
}

func (r *Recorder) scale(ctx context.Context, id int, t Target, replicas int32) {
	rctx, cancel := context.WithTimeout(ctx, r.cfg.RequestTimeout)
	defer cancel()
	ns, name, _ := strings.Cut(r.cfg.ScaleRC, "/")
	op := check.Op{ClientID: id, Kind: check.Update, Key: "scale", Call: time.Now()}
	err := t.Client.Scale(rctx, ns, name, replicas)
	r.finish(&op, err, "scale", t.Master, true)
}

// finish sets the op's return time and outcome from err and records the
// request.
func (r *Recorder) finish(op *check.Op, err error, kind string, master int, write bool) {
	op.Outcome, op.Reason = classify(err, write)
	if op.Outcome != check.Unknown {
		op.Return = time.Now()
	}
	r.request(*op, kind, op.ClientID, master, write, err)
}

func (r *Recorder) request(op check.Op, kind string, worker, master int, write bool, err error) {
	rq := Request{Worker: worker, Master: master, Kind: kind, Write: write, Call: op.Call, Return: op.Return, Outcome: op.Outcome, Reason: op.Reason}
	if rq.Return.IsZero() {
		rq.Return = time.Now()
	}
	if err != nil {
		rq.Err = err.Error()
		// In flight when the workers were stopped: cut short by the
		// recorder (the server may answer 504 when the client goes away).
		rq.Abandoned = r.stopping.Load()
	}
	r.mu.Lock()
	r.requests = append(r.requests, rq)
	r.mu.Unlock()
}

// classify turns a request's error into its outcome and, for a failure, the
// Status reason. A write is Unknown unless the answer says it was not
// applied: an API error other than 5xx, a 503, or no master reached.
func classify(err error, write bool) (check.Outcome, string) {
	if err == nil {
		return check.OK, ""
	}
	if client.IsUnknownOutcome(err) {
		return check.Unknown, ""
	}
	var se *v1.StatusError
	if errors.As(err, &se) {
		code := int(se.Status.Code)
		if code < 500 || code == http.StatusServiceUnavailable {
			return check.Failed, se.Status.Reason
		}
		if !write {
			return check.Failed, se.Status.Reason
		}
		return check.Unknown, ""
	}
	if client.IsUnreachable(err) {
		return check.Failed, "Unreachable"
	}
	if !write {
		return check.Failed, ""
	}
	return check.Unknown, ""
}

func (r *Recorder) record(op check.Op) {
	r.mu.Lock()
	r.ops = append(r.ops, op)
	r.mu.Unlock()
}

func (r *Recorder) sawRV(s string) {
	rv, err := strconv.ParseUint(s, 10, 64)
	if err != nil || rv == 0 {
		return
	}
	r.mu.Lock()
	r.rvs = append(r.rvs, rv)
	r.mu.Unlock()
}

// watchLoop starts watches one after another, each running a random 1-4 s,
// from a random resourceVersion seen so far or, half the time, from where
// the previous one stopped.
func (r *Recorder) watchLoop(ctx context.Context, cl *client.Client, id uint64) {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 1<<32+id))
	var prev uint64 // where the previous watch stopped
	for {
		pause := time.Duration(float64(r.cfg.WatchEvery) * (0.5 + rng.Float64()))
		select {
		case <-ctx.Done():
			return
		case <-time.After(pause):
		}
		r.mu.Lock()
		start := r.refRV
		if n := len(r.rvs); n > 0 {
			start = r.rvs[rng.IntN(n)]
		}
		r.mu.Unlock()
		resumed := false
		if prev > 0 && rng.IntN(2) == 0 {
			// Resume where the previous watch of this loop stopped, as a
			// client that reconnects does.
			start, resumed = prev, true
		}
		prev = r.watchOnce(ctx, cl, start, resumed, time.Second+time.Duration(rng.Int64N(int64(3*time.Second))))
	}
}

// watchOnce runs one watch from start for d and returns its resume point
// (0 when it could not start).
func (r *Recorder) watchOnce(ctx context.Context, cl *client.Client, start uint64, resumed bool, d time.Duration) uint64 {
	call := time.Now()
	w, err := cl.Watch(ctx, "endpoints", r.cfg.Namespace,
		client.WatchOptions{ResourceVersion: strconv.FormatUint(start, 10)})
	op := check.Op{ClientID: -1, Call: call}
	r.finish(&op, err, "watch", -1, false)
	if err != nil {
		r.mu.Lock()
		r.wsErrs++
		r.mu.Unlock()
		return 0
	}
	rec := Watch{StartRV: start, Resumed: resumed, Start: call}
	timer := time.NewTimer(d)
	defer timer.Stop()
loop:
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				break loop
			}
			if e, ok := toEvent(ev); ok {
				rec.Events = append(rec.Events, e)
			}
		case <-timer.C:
			break loop
		case <-ctx.Done():
			break loop
		}
	}
	rec.EndRV, _ = strconv.ParseUint(w.ResourceVersion(), 10, 64)
	w.Stop()
	rec.Reconnects = w.Reconnects()
	rec.End = time.Now()
	if ctx.Err() == nil {
		rec.Err = w.Err()
	}
	r.mu.Lock()
	r.watches = append(r.watches, rec)
	r.mu.Unlock()
	return rec.EndRV
}

// toEvent turns a watch event into a check.Event; bookmarks are skipped.
func toEvent(ev client.Event) (check.Event, bool) {
	switch ev.Type {
	case v1.Added, v1.Modified, v1.Deleted:
	default:
		return check.Event{}, false
	}
	rv, _ := strconv.ParseUint(ev.ResourceVersion, 10, 64)
	return check.Event{Type: ev.Type, Key: ev.Namespace + "/" + ev.Name, RV: rv}, true
}

// Progress returns how many requests were sent so far and how many writes
// called at or after since were acknowledged.
func (r *Recorder) Progress(since time.Time) (requests, ackedWrites int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rq := range r.requests {
		if rq.Write && rq.Outcome == check.OK && !rq.Call.Before(since) {
			ackedWrites++
		}
	}
	return len(r.requests), ackedWrites
}
