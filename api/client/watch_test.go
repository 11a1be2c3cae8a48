package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// logEvent is one entry of the fake store's change feed.
type logEvent struct {
	typ  string
	rv   uint64
	name string
}

// stream actions: what a watch connection does after sending its events.
const (
	hold = -1 // keep the stream open until the client goes away
)

// connScript says what one watch connection does.
type connScript struct {
	// sendN events are sent (hold: all), then the stream is cut mid-line.
	sendN int
	// die closes the server's listener before the cut, so the server is gone.
	die bool
	// errorGone sends an ERROR event with a 410 Status first.
	errorGone bool
	// gone answers HTTP 410.
	gone bool
}

// fakeFeed serves watches of pods from a change feed shared by several
// servers, following a script per connection.
type fakeFeed struct {
	mu      sync.Mutex
	log     []logEvent
	oldest  uint64 // a watch from below oldest-1 gets 410
	scripts []connScript
	conns   []string // "server rv" of each watch connection
	listRV  string
	listed  []string
}

func (f *fakeFeed) serverOn(name string) *httptest.Server {
	var s *httptest.Server
	s = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if q.Get("watch") != "true" {
			f.serveList(w)
			return
		}
		if q.Get("allowWatchBookmarks") != "true" {
			http.Error(w, "bookmarks not requested", 400)
			return
		}
		from, _ := strconv.ParseUint(q.Get("resourceVersion"), 10, 64)
		f.mu.Lock()
		f.conns = append(f.conns, name+" "+q.Get("resourceVersion"))
		script := connScript{sendN: hold}
		if len(f.scripts) > 0 {
			script, f.scripts = f.scripts[0], f.scripts[1:]
		}
		var evs []logEvent
		for _, e := range f.log {
			if e.rv > from {
				evs = append(evs, e)
			}
		}
		gone := from+1 < f.oldest || script.gone
		f.mu.Unlock()
		if gone {
			writeStatus(w, v1.NewGone(fmt.Sprintf("too old resource version: %d", from)))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		fl := w.(http.Flusher)
		if script.errorGone {
			st := v1.NewGone("too old resource version").Status
			b, _ := json.Marshal(st)
			fmt.Fprintf(w, "{\"type\":\"ERROR\",\"object\":%s}\n", b)
			fl.Flush()
			return
		}
		for i, e := range evs {
			if script.sendN != hold && i == script.sendN {
				break
			}
			fmt.Fprintf(w, "%s\n", eventLine(e))
			fl.Flush()
		}
		if script.sendN == hold {
			<-r.Context().Done()
			return
		}
		if script.die {
			s.Listener.Close()
		}
		// Cut the stream in the middle of a line.
		fmt.Fprint(w, `{"type":"MODIFIED","object":{"metadata":`)
		fl.Flush()
		panic(http.ErrAbortHandler)
	}))
	return s
}

func (f *fakeFeed) serveList(w http.ResponseWriter) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l := v1.List[*v1.Pod]{TypeMeta: v1.TypeMeta{Kind: "PodList", APIVersion: "v1"}}
	l.ListMeta.ResourceVersion = f.listRV
	for i, n := range f.listed {
		l.Items = append(l.Items, testPod(n, strconv.Itoa(i+1)))
	}
	writeJSON(w, 200, l)
}

func eventLine(e logEvent) string {
	var obj any
	if e.typ == v1.Bookmark {
		obj = map[string]any{"kind": "Pod", "apiVersion": "v1",
			"metadata": map[string]string{"resourceVersion": strconv.FormatUint(e.rv, 10)}}
	} else {
		obj = testPod(e.name, strconv.FormatUint(e.rv, 10))
	}
	b, _ := json.Marshal(v1.WatchEvent{Type: e.typ, Object: mustRaw(obj)})
	return string(b)
}

func mustRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func (f *fakeFeed) connections() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.conns...)
}

// collect reads n events, failing the test if they do not come in time.
func collect(t *testing.T, w *Watcher, n int) []string {
	t.Helper()
	var got []string
	timeout := time.After(10 * time.Second)
	for len(got) < n {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch ended after %v: %v", got, w.Err())
			}
			got = append(got, fmt.Sprintf("%s %s@%s", ev.Type, ev.Name, ev.ResourceVersion))
		case <-timeout:
			t.Fatalf("timed out after %v", got)
		}
	}
	return got
}

func sharedRVLog() []logEvent {
	return []logEvent{
		{v1.Added, 3, "a"},
		{v1.Added, 4, "b"},
		// One raft entry changed three objects.
		{v1.Modified, 5, "c"},
		{v1.Modified, 5, "d"},
		{v1.Added, 5, "e"},
		{v1.Deleted, 6, "a"},
		{v1.Added, 7, "f"},
	}
}

var sharedRVWant = []string{"ADDED a@3", "ADDED b@4", "MODIFIED c@5", "MODIFIED d@5", "ADDED e@5", "DELETED a@6", "ADDED f@7"}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestWatchResumeSharedResourceVersion(t *testing.T) {
	// The first stream is cut after c@5 and d@5, before e@5 of the same
	// entry: the client must resume from 4 and drop the repeated c and d.
	f := &fakeFeed{log: sharedRVLog(), scripts: []connScript{{sendN: 4}, {sendN: hold}}}
	s := f.serverOn("s1")
	defer s.Close()
	c := newTestClient(t, s, s.URL)
	w, err := c.Watch(testCtx(t), "pods", "default", WatchOptions{ResourceVersion: "2"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := collect(t, w, len(sharedRVWant)); !equal(got, sharedRVWant) {
		t.Fatalf("events = %v\nwant %v", got, sharedRVWant)
	}
	if conns := f.connections(); !equal(conns, []string{"s1 2", "s1 4"}) {
		t.Fatalf("connections = %v", conns)
	}
	if n := w.Reconnects(); n != 1 {
		t.Fatalf("Reconnects() = %d, want 1", n)
	}
	if rv := w.ResourceVersion(); rv != "6" {
		t.Fatalf("resume point = %s, want 6", rv)
	}
}

func TestWatchResumeTwice(t *testing.T) {
	// Cut after c@5, then again after c@5 d@5 of the resumed stream.
	f := &fakeFeed{log: sharedRVLog(), scripts: []connScript{{sendN: 3}, {sendN: 2}, {sendN: 1}, {sendN: hold}}}
	s := f.serverOn("s1")
	defer s.Close()
	c := newTestClient(t, s, s.URL)
	w, err := c.Watch(testCtx(t), "pods", "default", WatchOptions{ResourceVersion: "2"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := collect(t, w, len(sharedRVWant)); !equal(got, sharedRVWant) {
		t.Fatalf("events = %v\nwant %v", got, sharedRVWant)
	}
	if conns := f.connections(); !equal(conns, []string{"s1 2", "s1 4", "s1 4", "s1 4"}) {
		t.Fatalf("connections = %v", conns)
	}
	if n := w.Reconnects(); n != 3 {
		t.Fatalf("Reconnects() = %d, want 3", n)
	}
}

func TestWatchFailsOverWhenServerDies(t *testing.T) {
	f := &fakeFeed{log: sharedRVLog(), scripts: []connScript{{sendN: 5, die: true}, {sendN: hold}}}
	s1 := f.serverOn("s1")
	defer s1.Close()
	s2 := f.serverOn("s2")
	defer s2.Close()
	c := newTestClient(t, s1, s1.URL, s2.URL)
	w, err := c.Watch(testCtx(t), "pods", "", WatchOptions{ResourceVersion: "2"})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	if got := collect(t, w, len(sharedRVWant)); !equal(got, sharedRVWant) {
		t.Fatalf("events = %v\nwant %v", got, sharedRVWant)
	}
	// s1 sent up to e@5 (all of entry 5) then died: resume from 4 on s2,
	// since the client cannot know that entry 5 was complete.
	if conns := f.connections(); !equal(conns, []string{"s1 2", "s2 4"}) {
		t.Fatalf("connections = %v", conns)
	}
	if n := w.Reconnects(); n != 1 {
		t.Fatalf("Reconnects() = %d, want 1", n)
	}
}

func TestWatchBookmarks(t *testing.T) {
	log := []logEvent{{v1.Added, 3, "a"}, {v1.Bookmark, 10, ""}, {v1.Added, 11, "b"}}
	for _, allow := range []bool{false, true} {
		t.Run(fmt.Sprintf("allow=%v", allow), func(t *testing.T) {
			f := &fakeFeed{log: log, scripts: []connScript{{sendN: 2}, {sendN: hold}}}
			s := f.serverOn("s1")
			defer s.Close()
			c := newTestClient(t, s, s.URL)
			w, err := c.Watch(testCtx(t), "pods", "default", WatchOptions{ResourceVersion: "2", AllowBookmarks: allow})
			if err != nil {
				t.Fatal(err)
			}
			defer w.Stop()
			want := []string{"ADDED a@3", "ADDED b@11"}
			if allow {
				want = []string{"ADDED a@3", "BOOKMARK @10", "ADDED b@11"}
			}
			if got := collect(t, w, len(want)); !equal(got, want) {
				t.Fatalf("events = %v, want %v", got, want)
			}
			if conns := f.connections(); !equal(conns, []string{"s1 2", "s1 10"}) {
				t.Fatalf("connections = %v (the bookmark must move the resume point)", conns)
			}
		})
	}
}

func TestWatchGone(t *testing.T) {
	t.Run("at start", func(t *testing.T) {
		f := &fakeFeed{log: sharedRVLog(), oldest: 5}
		s := f.serverOn("s1")
		defer s.Close()
		c := newTestClient(t, s, s.URL)
		_, err := c.Watch(testCtx(t), "pods", "default", WatchOptions{ResourceVersion: "2"})
		if !v1.IsGone(err) {
			t.Fatalf("err = %v, want Gone", err)
		}
	})
	t.Run("on resume, as HTTP 410", func(t *testing.T) {
		f := &fakeFeed{log: sharedRVLog(), scripts: []connScript{{sendN: 2}, {gone: true}}}
		s := f.serverOn("s1")
		defer s.Close()
		c := newTestClient(t, s, s.URL)
		w, err := c.Watch(testCtx(t), "pods", "default", WatchOptions{ResourceVersion: "2"})
		if err != nil {
			t.Fatal(err)
		}
		collect(t, w, 2)
		expectEnd(t, w)
	})
	t.Run("on resume, as an ERROR event", func(t *testing.T) {
		f := &fakeFeed{log: sharedRVLog(), scripts: []connScript{{sendN: 1}, {errorGone: true}}}
		s := f.serverOn("s1")
		defer s.Close()
		c := newTestClient(t, s, s.URL)
		w, err := c.Watch(testCtx(t), "pods", "default", WatchOptions{ResourceVersion: "2"})
		if err != nil {
			t.Fatal(err)
		}
		collect(t, w, 1)
		expectEnd(t, w)
	})
}

// expectEnd waits for the watcher to end with a Gone error.
func expectEnd(t *testing.T, w *Watcher) {
	t.Helper()
	for {
		select {
		case ev, ok := <-w.Events():
			if ok {
				t.Fatalf("unexpected event %+v", ev)
			}
			if !v1.IsGone(w.Err()) {
				t.Fatalf("Err = %v, want Gone", w.Err())
			}
			return
		case <-time.After(10 * time.Second):
			t.Fatal("watch did not end")
		}
	}
}

func TestWatchFromEmptyListsFirst(t *testing.T) {
	f := &fakeFeed{log: []logEvent{{v1.Added, 21, "z"}}, listRV: "20", listed: []string{"x", "y"}}
	s := f.serverOn("s1")
	defer s.Close()
	c := newTestClient(t, s, s.URL)
	w, err := c.Watch(testCtx(t), "pods", "default", WatchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"ADDED x@1", "ADDED y@2", "ADDED z@21"}
	if got := collect(t, w, 3); !equal(got, want) {
		t.Fatalf("events = %v, want %v", got, want)
	}
	if conns := f.connections(); !equal(conns, []string{"s1 20"}) {
		t.Fatalf("connections = %v", conns)
	}
	w.Stop()
	w.Stop()
	if _, ok := <-w.Events(); ok {
		t.Fatal("channel open after Stop")
	}
	if w.Err() != nil {
		t.Fatalf("Err after Stop = %v", w.Err())
	}
}

func TestWatchAcceptDedup(t *testing.T) {
	// The same object changed twice in one entry: both events are kept,
	// and both are dropped once after a resume.
	w := &Watcher{cur: 4, delivered: map[string]int{}, skip: map[string]int{}}
	ev := func(typ, name, rv string) Event {
		return Event{Type: typ, Name: name, Namespace: "ns", ResourceVersion: rv}
	}
	steps := []struct {
		ev   Event
		want bool
	}{
		{ev(v1.Modified, "a", "5"), true},
		{ev(v1.Modified, "a", "5"), true},
		{ev(v1.Modified, "b", "3"), false},
	}
	for i, s := range steps {
		if got := w.accept(s.ev); got != s.want {
			t.Fatalf("step %d: accept = %v, want %v", i, got, s.want)
		}
	}
	clear(w.skip)
	for k, n := range w.delivered {
		w.skip[k] = n
	}
	for i, s := range []struct {
		ev   Event
		want bool
	}{
		{ev(v1.Modified, "a", "5"), false},
		{ev(v1.Modified, "a", "5"), false},
		{ev(v1.Modified, "b", "5"), true},
		{ev(v1.Deleted, "a", "6"), true},
	} {
		if got := w.accept(s.ev); got != s.want {
			t.Fatalf("after resume, step %d: accept = %v, want %v", i, got, s.want)
		}
	}
	if w.resumeRV != "5" {
		t.Fatalf("resume point = %q, want 5", w.resumeRV)
	}
}
