package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	v1 "orch.io/orch/api/v1"
)

// WatchOptions select what a watch sees and where it starts.
type WatchOptions struct {
	ListOptions
	// ResourceVersion is where the watch starts: it delivers every change
	// strictly after it. "" or "0" first delivers a synthetic ADDED event for
	// every current object (the client lists them), then the changes after
	// that list.
	ResourceVersion string
	// AllowBookmarks delivers BOOKMARK events to the consumer. Bookmarks are
	// always requested from the server, to keep the resume point fresh.
	AllowBookmarks bool
}

// Event is one change seen by a watch.
type Event struct {
	// Type is v1.Added, v1.Modified, v1.Deleted or v1.Bookmark.
	Type string
	// Object is the object as JSON (for a bookmark, only kind, apiVersion and
	// metadata.resourceVersion).
	Object json.RawMessage
	// ResourceVersion, Name and Namespace are copied from the object's metadata.
	ResourceVersion string
	Name            string
	Namespace       string
}

// Watcher delivers the events of a watch on Events, exactly once each and in
// order, across broken streams and dead servers: when the stream ends it
// reconnects (failing over to another server) from the last resourceVersion
// it saw completely and drops the events it already delivered. It ends when
// Stop is called, when the context of Watch ends, or on an error it cannot
// recover from (see Err).
type Watcher struct {
	c      *Client
	path   string
	opts   WatchOptions
	ctx    context.Context
	parent context.Context
	cancel context.CancelFunc
	events chan Event
	done   chan struct{}

	// initial holds the synthetic ADDED events of a watch from "" or "0".
	initial []Event

	mu       sync.Mutex
	err      error
	stopped  bool
	resumeRV string

	reconnects atomic.Int64 // streams opened after the first ended

	// The fields below are owned by the run goroutine.
	cur       uint64         // resourceVersion of the newest delivered event
	delivered map[string]int // events delivered at cur, by key
	skip      map[string]int // events at cur to drop after a resume, by key
}

// Watch starts a watch of a collection (namespace "" watches a namespaced
// resource in every namespace). The first connection is made before Watch
// returns, so errors such as 401, 404 or 410 Gone (v1.IsGone) come back
// here; later failures end the watcher and are reported by Err.
func (c *Client) Watch(ctx context.Context, resource, namespace string, opts WatchOptions) (*Watcher, error) {
	p, err := ResourcePath(resource, namespace, "")
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &Watcher{
		c: c, path: p, opts: opts, ctx: wctx, parent: ctx, cancel: cancel,
		events: make(chan Event), done: make(chan struct{}),
		delivered: map[string]int{}, skip: map[string]int{},
	}
	start := opts.ResourceVersion
	if start == "" || start == "0" {
		if start, err = w.listInitial(wctx, resource, namespace); err != nil {
			cancel()
			return nil, err
		}
	}
	w.resumeRV = start
	w.cur, _ = strconv.ParseUint(start, 10, 64)
	stream, err := w.connect()
	if err != nil {
		cancel()
		return nil, err
	}
	go w.run(stream)
	return w, nil
}

// Events returns the channel of events. It is closed when the watcher ends.
func (w *Watcher) Events() <-chan Event { return w.events }

// Stop ends the watcher and waits until its goroutine has finished. It may be
// called more than once and from any goroutine.
func (w *Watcher) Stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.cancel()
	<-w.done
}

// Done is closed when the watcher has ended.
func (w *Watcher) Done() <-chan struct{} { return w.done }

// Err returns why the watcher ended: nil after Stop, the context's error if
// the context of Watch ended, or the unrecoverable error (a *v1.StatusError
// such as 410 Gone, for which v1.IsGone is true). It returns nil while the
// watcher runs.
func (w *Watcher) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// Reconnects returns how many times the watcher opened a new stream after
// one ended (a broken connection, a dead master, a server timeout), on the
// same server or another. The events stay exactly once and in order across
// them.
func (w *Watcher) Reconnects() int { return int(w.reconnects.Load()) }

// ResourceVersion returns the resume point: the newest resourceVersion whose
// events have all been delivered.
func (w *Watcher) ResourceVersion() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.resumeRV
}

// listInitial lists the current objects as synthetic ADDED events and
// returns the list's resourceVersion.
func (w *Watcher) listInitial(ctx context.Context, resource, namespace string) (string, error) {
	opts := w.opts.ListOptions
	opts.Continue = ""
	rv := ""
	for page := 0; ; page++ {
		l, err := w.c.List(ctx, resource, namespace, opts)
		if err != nil {
			return "", err
		}
		if page == 0 {
			rv = l.ResourceVersion
		}
		for _, item := range l.Items {
			ev, err := newEvent(v1.Added, item)
			if err != nil {
				return "", fmt.Errorf("watch %s: %w", w.path, err)
			}
			w.initial = append(w.initial, ev)
		}
		if opts.Limit <= 0 || l.Continue == "" {
			return rv, nil
		}
		opts.Continue = l.Continue
	}
}

// connect opens a stream from the resume point, with failover.
func (w *Watcher) connect() (io.ReadCloser, error) {
	q := w.opts.ListOptions.query()
	q.Del("limit")
	q.Del("continue")
	q.Set("watch", "true")
	q.Set("allowWatchBookmarks", "true")
	w.mu.Lock()
	rv := w.resumeRV
	w.mu.Unlock()
	q.Set("resourceVersion", rv)
	res, err := w.c.send(w.ctx, &request{method: http.MethodGet, path: w.path, query: q, stream: true})
	if err != nil {
		return nil, err
	}
	return res.stream, nil
}

func (w *Watcher) run(stream io.ReadCloser) {
	defer close(w.done)
	defer close(w.events)
	err := w.loop(stream)
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.stopped:
		w.err = nil
	case w.parent.Err() != nil:
		w.err = w.parent.Err()
	default:
		w.err = err
	}
}

// Reconnect pacing after streams that delivered nothing.
const (
	minReconnectDelay = 100 * time.Millisecond
	maxReconnectDelay = 5 * time.Second
)

func (w *Watcher) loop(stream io.ReadCloser) error {
	for _, ev := range w.initial {
		if !w.deliver(ev) {
			_ = stream.Close()
			return w.ctx.Err()
		}
	}
	w.initial = nil
	fails := 0
	for {
		progressed, err := w.consume(stream)
		_ = stream.Close()
		if err != nil {
			return err
		}
		if w.ctx.Err() != nil {
			return w.ctx.Err()
		}
		if progressed {
			fails = 0
		}
		for {
			if fails > 0 {
				d := min(minReconnectDelay<<min(fails-1, 6), maxReconnectDelay)
				if err := sleep(w.ctx, d); err != nil {
					return err
				}
			}
			fails++
			// The stream ended (server timeout, broken connection, dead
			// master): resume from the last complete resourceVersion, and
			// drop what was already delivered at the newest one.
			clear(w.skip)
			for k, n := range w.delivered {
				w.skip[k] = n
			}
			stream, err = w.connect()
			if err == nil {
				w.reconnects.Add(1)
				break
			}
			if w.ctx.Err() != nil {
				return w.ctx.Err()
			}
			if terminal(err) {
				return err
			}
		}
	}
}

// terminal reports whether a failed (re)connect cannot succeed by retrying:
// an API error other than 429 and 5xx.
func terminal(err error) bool {
	var se *v1.StatusError
	if !errors.As(err, &se) {
		return false
	}
	code := int(se.Status.Code)
	return code >= 400 && code < 500 && code != http.StatusTooManyRequests
}

// consume reads events from one stream until it ends. It returns whether any
// event arrived, and an error only when the watch must end (410 Gone).
func (w *Watcher) consume(stream io.Reader) (bool, error) {
	dec := json.NewDecoder(stream)
	progressed := false
	for {
		var we v1.WatchEvent
		if err := dec.Decode(&we); err != nil {
			// EOF, a cut connection or a truncated line: resume.
			return progressed, nil
		}
		switch we.Type {
		case v1.Error:
			var st v1.Status
			if err := json.Unmarshal(we.Object, &st); err != nil {
				return progressed, nil
			}
			if st.Code == http.StatusGone || st.Reason == v1.ReasonGone {
				if st.Code == 0 {
					st.Code = http.StatusGone
				}
				st.Reason = v1.ReasonGone
				return progressed, &v1.StatusError{Status: st}
			}
			// Any other error ends this stream; the next one resumes.
			return progressed, nil
		case v1.Bookmark:
			ev, err := newEvent(we.Type, we.Object)
			if err != nil {
				continue
			}
			progressed = true
			w.bookmark(ev.ResourceVersion)
			if w.opts.AllowBookmarks && !w.deliver(ev) {
				return progressed, w.ctx.Err()
			}
		case v1.Added, v1.Modified, v1.Deleted:
			ev, err := newEvent(we.Type, we.Object)
			if err != nil {
				return progressed, nil
			}
			progressed = true
			if w.accept(ev) && !w.deliver(ev) {
				return progressed, w.ctx.Err()
			}
		}
	}
}

// accept decides whether ev is new, and records it as delivered if so.
// Events arrive in resourceVersion order, but several can share one version
// and a resumed stream repeats the events of the newest version seen.
func (w *Watcher) accept(ev Event) bool {
	rv, err := strconv.ParseUint(ev.ResourceVersion, 10, 64)
	if err != nil {
		// Not a Raft index: cannot be ordered; deliver it.
		return true
	}
	key := ev.Type + "/" + ev.Namespace + "/" + ev.Name
	switch {
	case rv < w.cur:
		return false
	case rv == w.cur:
		if w.skip[key] > 0 {
			w.skip[key]--
			return false
		}
	default:
		// A newer version: every event at w.cur has been delivered.
		w.setResume(w.cur)
		w.cur = rv
		clear(w.delivered)
		clear(w.skip)
	}
	w.delivered[key]++
	return true
}

// bookmark moves the resume point to rv: every event up to it was sent.
func (w *Watcher) bookmark(rvs string) {
	rv, err := strconv.ParseUint(rvs, 10, 64)
	if err != nil || rv < w.cur {
		return
	}
	w.cur = rv
	w.setResume(rv)
	clear(w.delivered)
	clear(w.skip)
}

func (w *Watcher) setResume(rv uint64) {
	w.mu.Lock()
	w.resumeRV = strconv.FormatUint(rv, 10)
	w.mu.Unlock()
}

func (w *Watcher) deliver(ev Event) bool {
	select {
	case w.events <- ev:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// newEvent builds an Event, copying the identity from the object's metadata.
func newEvent(typ string, obj json.RawMessage) (Event, error) {
	var m struct {
		Metadata struct {
			Name            string `json:"name"`
			Namespace       string `json:"namespace"`
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(obj, &m); err != nil {
		return Event{}, fmt.Errorf("decode %s event object: %w", typ, err)
	}
	return Event{Type: typ, Object: obj, ResourceVersion: m.Metadata.ResourceVersion,
		Name: m.Metadata.Name, Namespace: m.Metadata.Namespace}, nil
}
