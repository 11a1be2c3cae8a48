package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// The density section (-only density) is Kubernetes' density test on
// hollow nodes: 3 masters and -density-nodes hollow nodes in this process
// (test/hollow: the real node agent with a hollow runtime, network and
// proxy, each node with its own certificate and connections), then one RC
// per node of -density-pods-per-node replicas, all created at once. A
// watcher of the namespace's pods records when it first sees each pod and
// when it first sees it Running; the section prints the spread of that
// startup time (no image pull: the hollow runtime has every image) and the
// masters' API latency per verb over the same window, read from their
// orch_api_request_duration_seconds histograms before and after. It then
// deletes the RCs and waits for every pod to go. An error of a master, of
// a hollow node or of the watcher, or a missed deadline (every wait has
// one) fails it at once; errors the node agents logged (and retried, as
// the kubelet does) fail it after its report.

// densityNamespace holds the section's RCs and pods.
const densityNamespace = "density"

// hollowNodesReady counts the named nodes Ready with a pod CIDR; it
// reports an error until every one is.
func hollowNodesReady(ctx context.Context, cl *client.Client, names []string) (int, error) {
	lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	nodes, _, err := client.ListTyped[v1.Node](lctx, cl, "nodes", "", client.ListOptions{})
	if err != nil {
		return 0, err
	}
	want := make(map[string]bool, len(names))
	for _, n := range names {
		want[n] = true
	}
	ready := 0
	for _, n := range nodes {
		if !want[n.Name] || n.Spec.PodCIDR == "" {
			continue
		}
		if r := n.Status.Condition(v1.NodeReady); r != nil && r.Status == v1.ConditionTrue {
			ready++
		}
	}
	if ready < len(names) {
		return ready, fmt.Errorf("%d of %d hollow nodes Ready with a pod CIDR", ready, len(names))
	}
	return ready, nil
}

// retryBusy runs op, each try bounded by 30 s, until it succeeds or fails
// with anything but 429 (a master's in-flight limit: nothing was done),
// which is retried after its Retry-After (1 s when it names none) for up
// to 2 minutes, as client-go retries 429s, or with an unknown outcome
// because the try ran out of its 30 s, which is retried at once for as
// long (op must be safe to send again: onceByName). busy counts the 429s.
func retryBusy(ctx context.Context, busy *int, op func(context.Context) error) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		octx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := op(octx)
		timedOut := octx.Err() != nil && ctx.Err() == nil
		cancel()
		// A try that ran out of its own time on a busy cluster is sent
		// again (op is safe to send again: see onceByName).
		if client.IsUnknownOutcome(err) && timedOut && time.Now().Before(deadline) {
			continue
		}
		if v1.CodeOf(err) != http.StatusTooManyRequests || time.Now().After(deadline) {
			return err
		}
		*busy++
		wait := time.Second
		var se *v1.StatusError
		if errors.As(err, &se) && se.Status.Details != nil && se.Status.Details.RetryAfterSeconds > 0 {
			wait = time.Duration(se.Status.Details.RetryAfterSeconds) * time.Second
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// onceByName makes the create or delete of a named object safe to send
// again, within a call and across calls, after an unknown outcome (a leader change while the write was in
// flight: at thousands of nodes on a busy machine, elections happen): it
// is sent again, and done (AlreadyExists for a create, NotFound for a
// delete) on a later try means an earlier one was applied. It gives up
// with the last error when ctx ends.
func onceByName(op func(context.Context) error, done func(error) bool) func(context.Context) error {
	sent := false // an earlier try may have been applied
	return func(ctx context.Context) error {
		for {
			err := op(ctx)
			if sent && done(err) {
				return nil
			}
			if !client.IsUnknownOutcome(err) {
				return err
			}
			sent = true
			if ctx.Err() != nil {
				return err
			}
		}
	}
}

// permanentError ends a waitFor at once.
type permanentError struct{ error }

func permanent(err error) error { return permanentError{err} }

// waitFor polls cond every 200 ms until it returns nil, returns a
// permanent error, or the timeout passes.
func waitFor(ctx context.Context, timeout time.Duration, what string, cond func() error) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond()
		if err == nil {
			return nil
		}
		var p permanentError
		if errors.As(err, &p) {
			return fmt.Errorf("%s: %w", what, p.error)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: not within %v: %w", what, timeout, err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-tick.C:
		}
	}
}

// pct is the p-th percentile (nearest rank) of sorted durations.
func pct(sorted []time.Duration, p int) string {
	if len(sorted) == 0 {
		return "-"
	}
	i := (p*len(sorted) + 99) / 100
	i = min(max(i, 1), len(sorted))
	return sorted[i-1].Round(time.Millisecond).String()
}

// podWatch follows the density namespace's pods and records, per pod,
// when it was first seen and when it was first seen Running.
type podWatch struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu       sync.Mutex
	firstErr error
	seen     map[string]time.Time // by UID
	run      map[string]time.Time
	alive    map[string]bool
}

// startPodWatch lists the namespace's pods and watches them from there,
// resuming a broken watch from its last resourceVersion.
func startPodWatch(ctx context.Context, cl *client.Client) (*podWatch, error) {
	lctx, lcancel := context.WithTimeout(ctx, 30*time.Second)
	_, rv, err := client.ListTyped[v1.Pod](lctx, cl, "pods", densityNamespace, client.ListOptions{})
	lcancel()
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &podWatch{cancel: cancel, done: make(chan struct{}), seen: map[string]time.Time{},
		run: map[string]time.Time{}, alive: map[string]bool{}}
	go func() {
		defer close(w.done)
		for wctx.Err() == nil {
			ww, err := cl.Watch(wctx, "pods", densityNamespace, client.WatchOptions{ResourceVersion: rv})
			if err != nil {
				if wctx.Err() == nil {
					w.fail(fmt.Errorf("watch pods: %w", err))
				}
				return
			}
			for ev := range ww.Events() {
				w.observe(ev)
			}
			rv = ww.ResourceVersion()
			werr := ww.Err()
			ww.Stop()
			if v1.IsGone(werr) {
				w.fail(fmt.Errorf("watch pods: %w", werr))
				return
			}
		}
	}()
	return w, nil
}

func (w *podWatch) observe(ev client.Event) {
	now := time.Now()
	var p v1.Pod
	if err := json.Unmarshal(ev.Object, &p); err != nil {
		w.fail(fmt.Errorf("watch pods: undecodable event: %w", err))
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if ev.Type == v1.Deleted {
		delete(w.alive, p.UID)
		return
	}
	if ev.Type != v1.Added && ev.Type != v1.Modified {
		return
	}
	w.alive[p.UID] = true
	if _, ok := w.seen[p.UID]; !ok {
		w.seen[p.UID] = now
	}
	if _, ok := w.run[p.UID]; !ok && p.Status.Phase == v1.PodRunning {
		w.run[p.UID] = now
	}
}

func (w *podWatch) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.firstErr == nil {
		w.firstErr = err
	}
}

func (w *podWatch) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.firstErr
}

func (w *podWatch) running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.run)
}

func (w *podWatch) live() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.alive)
}

// startups returns each Running pod's first seen → seen Running, sorted.
func (w *podWatch) startups() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make([]time.Duration, 0, len(w.run))
	for uid, r := range w.run {
		out = append(out, r.Sub(w.seen[uid]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func (w *podWatch) stop() {
	w.cancel()
	<-w.done
}

// errorLog is a slog.Handler for the hollow agents: it counts the records
// at error and at warning level and keeps the first of each.
type errorLog struct {
	mu        sync.Mutex
	first     error
	errs      int
	warns     int
	firstWarn string
}

func (h *errorLog) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *errorLog) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	b.WriteString(r.Message)
	r.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	if r.Level < slog.LevelError {
		if h.warns == 0 {
			h.firstWarn = b.String()
		}
		h.warns++
		return nil
	}
	h.errs++
	if h.first == nil {
		h.first = errors.New(b.String())
	}
	return nil
}

func (h *errorLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &errorLogAttrs{root: h, attrs: attrs}
}

func (h *errorLog) WithGroup(string) slog.Handler { return h }

// err says how many errors the agents logged and names the first; nil
// when they logged none.
func (h *errorLog) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.first == nil {
		return nil
	}
	return fmt.Errorf("the hollow node agents logged %d errors, the first: %w", h.errs, h.first)
}

// warnings returns how many warnings were logged, the first of them, and
// its text.
func (h *errorLog) warnings() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.warns == 0 {
		return "no warnings"
	}
	return fmt.Sprintf("%d warnings, the first: %s", h.warns, h.firstWarn)
}

// errorLogAttrs is an errorLog with attributes (the agent's subsystem and
// node), which the error it keeps names.
type errorLogAttrs struct {
	root  *errorLog
	attrs []slog.Attr
}

func (h *errorLogAttrs) Enabled(ctx context.Context, l slog.Level) bool {
	return h.root.Enabled(ctx, l)
}

func (h *errorLogAttrs) Handle(ctx context.Context, r slog.Record) error {
	r = r.Clone()
	r.AddAttrs(h.attrs...)
	return h.root.Handle(ctx, r)
}

func (h *errorLogAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &errorLogAttrs{root: h.root, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *errorLogAttrs) WithGroup(string) slog.Handler { return h }
