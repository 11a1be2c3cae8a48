package apiserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// listRV returns the resourceVersion of a pod list: a watch from it sees
// every later change.
func (e *testEnv) listRV(t *testing.T) string {
	t.Helper()
	l, err := e.admin.List(testCtx(t), "pods", v1.DefaultNamespace, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return l.ResourceVersion
}

// A watch lives past the server's RequestTimeout (which is also the HTTP
// server's ReadTimeout): the same stream, over HTTP/1.1 and HTTP/2, still
// delivers events afterwards.
func TestWatchOutlivesRequestTimeout(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withServerConfig(func(c *Config) { c.RequestTimeout = time.Second }))
	rv := e.listRV(t)
	h1 := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {rv}})
	h2 := e.openWatchWith(t, e.newHTTP2Client(t), podPath(""), url.Values{"resourceVersion": {rv}})
	if h1.resp.ProtoMajor != 1 || h2.resp.ProtoMajor != 2 {
		t.Fatalf("watches over %s and %s, want HTTP/1.1 and HTTP/2", h1.resp.Proto, h2.resp.Proto)
	}
	start := time.Now()
	past := time.NewTimer(2500 * time.Millisecond)
	defer past.Stop()
	select {
	case <-past.C:
	case ev := <-h1.events:
		t.Fatalf("HTTP/1.1: unexpected event %s %s", ev.Type, ev.meta.Name)
	case ev := <-h2.events:
		t.Fatalf("HTTP/2: unexpected event %s %s", ev.Type, ev.meta.Name)
	case <-h1.done:
		t.Fatalf("HTTP/1.1: the watch ended after %v (RequestTimeout 1s): %v", time.Since(start).Round(time.Millisecond), h1.err)
	case <-h2.done:
		t.Fatalf("HTTP/2: the watch ended after %v (RequestTimeout 1s): %v", time.Since(start).Round(time.Millisecond), h2.err)
	}
	e.createPod(t, "late", nil)
	h1.expect(t, v1.Added, "late")
	h2.expect(t, v1.Added, "late")
}

func TestWatchLabelSelectorTransitions(t *testing.T) {
	e := newTestEnv(t)
	merge := withContentType("application/merge-patch+json")
	w := e.openWatch(t, podPath(""), url.Values{"labelSelector": {"app=web"}, "resourceVersion": {e.listRV(t)}})

	// Created without the label: not sent. Events come in order, so the
	// first event being the ADDED of the labelling shows nothing came before.
	e.createPod(t, "p", nil)
	e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p"), `{"metadata":{"labels":{"app":"web"}}}`, merge)
	labelled := e.getPod(t, "p")
	ev := w.expect(t, v1.Added, "p")
	if ev.meta.ResourceVersion != labelled.ResourceVersion || ev.meta.Labels["app"] != "web" {
		t.Fatalf("ADDED at rv %s labels %v, want rv %s", ev.meta.ResourceVersion, ev.meta.Labels, labelled.ResourceVersion)
	}

	e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p"), `{"metadata":{"labels":{"tier":"front"}}}`, merge)
	ev = w.expect(t, v1.Modified, "p")
	if ev.meta.Labels["tier"] != "front" {
		t.Fatalf("MODIFIED labels %v", ev.meta.Labels)
	}

	e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p"), `{"metadata":{"labels":{"app":null}}}`, merge)
	unlabelled := e.getPod(t, "p")
	ev = w.expect(t, v1.Deleted, "p")
	if ev.meta.ResourceVersion != unlabelled.ResourceVersion {
		t.Fatalf("DELETED at rv %s, want %s", ev.meta.ResourceVersion, unlabelled.ResourceVersion)
	}

	// Changes while not matching are not sent; a real delete of a matching pod is.
	e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p"), `{"metadata":{"labels":{"tier":"back"}}}`, merge)
	e.expectCode(t, http.StatusOK, http.MethodDelete, podPath("p"), nil)
	e.createPod(t, "q", map[string]string{"app": "web"})
	w.expect(t, v1.Added, "q")
	e.expectCode(t, http.StatusOK, http.MethodDelete, podPath("q"), nil)
	w.expect(t, v1.Deleted, "q")
}

func TestWatchFieldSelectorSeesBinding(t *testing.T) {
	e := newTestEnv(t)
	e.createNode(t, "n1")
	e.createNode(t, "n2")
	e.createPod(t, "mine", nil)
	e.createPod(t, "theirs", nil)
	w := e.openWatch(t, "/api/v1/pods", url.Values{"fieldSelector": {"spec.nodeName=n1"}, "resourceVersion": {e.listRV(t)}})

	e.bind(t, "theirs", "n2")
	e.bind(t, "mine", "n1")
	ev := w.expect(t, v1.Added, "mine")
	var p v1.Pod
	if err := json.Unmarshal(ev.Object, &p); err != nil {
		t.Fatal(err)
	}
	if p.Spec.NodeName != "n1" || p.Kind != "Pod" {
		t.Fatalf("ADDED object: nodeName %q kind %q", p.Spec.NodeName, p.Kind)
	}
	// A graceful delete is a change of a pod still on n1.
	e.expectCode(t, http.StatusOK, http.MethodDelete, podPath("mine"), nil)
	ev = w.expect(t, v1.Modified, "mine")
	if ev.meta.DeletionTimestamp == nil {
		t.Fatalf("MODIFIED without deletionTimestamp")
	}
	e.expectCode(t, http.StatusOK, http.MethodDelete, podPath("mine")+"?gracePeriodSeconds=0", nil)
	w.expect(t, v1.Deleted, "mine")
}

func TestWatchInitialEvents(t *testing.T) {
	e := newTestEnv(t)
	e.createPod(t, "a", map[string]string{"app": "web"})
	e.createPod(t, "b", map[string]string{"app": "web"})
	e.createPod(t, "c", map[string]string{"app": "db"})
	existing := []string{"a", "b"}
	for _, rv := range []string{"0", ""} {
		t.Run("resourceVersion="+rv, func(t *testing.T) {
			q := url.Values{"labelSelector": {"app=web"}}
			if rv != "" {
				q.Set("resourceVersion", rv)
			}
			w := e.openWatch(t, podPath(""), q)
			for _, name := range existing {
				w.expect(t, v1.Added, name)
			}
			name := "new" + rv
			e.createPod(t, name, map[string]string{"app": "web"})
			w.expect(t, v1.Added, name)
			existing = append(existing, name)
		})
	}
	// From the current resourceVersion: only later changes.
	w := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {e.listRV(t)}})
	e.createPod(t, "e", nil)
	w.expect(t, v1.Added, "e")
}

func TestWatchTooOldResourceVersion(t *testing.T) {
	e := newTestEnv(t, withFeedSize(5))
	first := e.createPod(t, "p00", nil)
	for i := 1; i <= 12; i++ {
		e.createPod(t, "p"+strconv.Itoa(100+i), nil)
	}
	for _, rv := range []string{first.ResourceVersion, "1"} {
		st := e.expectStatus(t, http.StatusGone, http.MethodGet, podPath("")+"?watch=true&resourceVersion="+rv, nil)
		if st.Reason != v1.ReasonGone {
			t.Errorf("rv %s: reason %q, want %q", rv, st.Reason, v1.ReasonGone)
		}
	}
	// The current resourceVersion is inside the window.
	w := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {e.listRV(t)}})
	e.createPod(t, "fresh", nil)
	w.expect(t, v1.Added, "fresh")
	e.expectStatus(t, http.StatusBadRequest, http.MethodGet, podPath("")+"?watch=true&resourceVersion=abc", nil)
}

func TestWatchBookmarks(t *testing.T) {
	e := newTestEnv(t, withServerConfig(func(c *Config) { c.WatchBookmarkInterval = 100 * time.Millisecond }))
	rv := e.listRV(t)
	withBookmarks := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {rv}, "allowWatchBookmarks": {"true"}})
	plain := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {rv}})
	p := e.createPod(t, "p", nil)
	// A bookmark may come first when the create takes longer than the
	// interval (a busy host); the pod's event must follow it.
	for {
		ev := withBookmarks.next(t)
		if ev.Type == v1.Bookmark {
			continue
		}
		if ev.Type != v1.Added || ev.meta.Name != "p" {
			t.Fatalf("got %s %s, want ADDED p", ev.Type, ev.meta.Name)
		}
		break
	}
	plain.expect(t, v1.Added, "p")

	// Two bookmarks at or after the pod's resourceVersion.
	for range 2 {
		ev := withBookmarks.next(t)
		if ev.Type != v1.Bookmark {
			t.Fatalf("got %s %s, want BOOKMARK", ev.Type, ev.meta.Name)
		}
		var obj map[string]any
		if err := json.Unmarshal(ev.Object, &obj); err != nil {
			t.Fatal(err)
		}
		if obj["kind"] != "Pod" || obj["apiVersion"] != "v1" || len(obj) != 3 {
			t.Fatalf("bookmark object %s", ev.Object)
		}
		if ev.meta.ResourceVersionIndex() < p.ResourceVersionIndex() {
			t.Fatalf("bookmark rv %s is older than the last event's %s", ev.meta.ResourceVersion, p.ResourceVersion)
		}
	}
	// Meanwhile (over two bookmark intervals) the plain watch got nothing.
	select {
	case ev := <-plain.events:
		t.Fatalf("a watch without allowWatchBookmarks got %s", ev.Type)
	default:
	}
}

func TestWatchTimeoutSeconds(t *testing.T) {
	e := newTestEnv(t)
	start := time.Now()
	w := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {e.listRV(t)}, "timeoutSeconds": {"1"}})
	w.waitEnd(t, 10*time.Second)
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("the watch ended after %v, before its timeout", d)
	}
	e.expectStatus(t, http.StatusBadRequest, http.MethodGet, podPath("")+"?watch=true&timeoutSeconds=-1", nil)
	e.expectStatus(t, http.StatusBadRequest, http.MethodGet, podPath("")+"?watch=true&timeoutSeconds=x", nil)
}

func TestWatchNamespaceScope(t *testing.T) {
	e := newTestEnv(t)
	if err := e.admin.Create(testCtx(t), &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "other"}}); err != nil {
		t.Fatal(err)
	}
	rv := e.listRV(t)
	inDefault := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {rv}})
	all := e.openWatch(t, "/api/v1/pods", url.Values{"resourceVersion": {rv}})
	o := newPod("o", nil)
	o.Namespace = "other"
	if err := e.admin.Create(testCtx(t), o); err != nil {
		t.Fatal(err)
	}
	e.createNode(t, "n1") // another resource: not a pod event
	e.createPod(t, "d", nil)
	all.expect(t, v1.Added, "o")
	all.expect(t, v1.Added, "d")
	inDefault.expect(t, v1.Added, "d")
}

// Without a leader a watch from resourceVersion "" (a linearizable start)
// fails like any read, with 503 within the RequestTimeout, instead of
// hanging until the client gives up. Other starts serve this master's copy.
func TestWatchWithoutLeader(t *testing.T) {
	t.Parallel()
	e := newTestEnv(t, withServerConfig(func(c *Config) { c.RequestTimeout = time.Second }))
	rv := e.listRV(t)
	if err := e.cluster.Raft().Shutdown().Error(); err != nil {
		t.Fatalf("raft shutdown: %v", err)
	}
	st := e.expectStatus(t, http.StatusServiceUnavailable, http.MethodGet, podPath(""), nil)
	if st.Reason != v1.ReasonServiceUnavailable {
		t.Errorf("list: reason %q", st.Reason)
	}
	start := time.Now()
	st = e.expectStatus(t, http.StatusServiceUnavailable, http.MethodGet, podPath("")+"?watch=true", nil)
	if st.Reason != v1.ReasonServiceUnavailable {
		t.Errorf("watch: reason %q", st.Reason)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the watch took %v to fail", d)
	}
	e.openWatch(t, podPath(""), url.Values{"resourceVersion": {rv}})
	e.openWatch(t, podPath(""), url.Values{"resourceVersion": {"0"}})
	e.expectCode(t, http.StatusOK, http.MethodGet, podPath("")+"?stale=true", nil)
}

// TestWatchBookmarkAPIVersion: a bookmark names the watched kind with its
// own group/version, not always the core group's v1.
func TestWatchBookmarkAPIVersion(t *testing.T) {
	e := newTestEnv(t, withServerConfig(func(c *Config) { c.WatchBookmarkInterval = 50 * time.Millisecond }))
	for _, tc := range []struct {
		path, kind, apiVersion string
	}{
		{podPath(""), "Pod", "v1"},
		{"/apis/coordination.k8s.io/v1/namespaces/default/leases", "Lease", "coordination.k8s.io/v1"},
		{"/apis/rbac.authorization.k8s.io/v1/clusterroles", "ClusterRole", "rbac.authorization.k8s.io/v1"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			w := e.openWatch(t, tc.path, url.Values{"resourceVersion": {e.listRV(t)}, "allowWatchBookmarks": {"true"}})
			ev := w.next(t)
			if ev.Type != v1.Bookmark {
				t.Fatalf("got %s %s, want BOOKMARK", ev.Type, ev.meta.Name)
			}
			var obj map[string]any
			if err := json.Unmarshal(ev.Object, &obj); err != nil {
				t.Fatal(err)
			}
			if obj["kind"] != tc.kind || obj["apiVersion"] != tc.apiVersion {
				t.Fatalf("bookmark object %s, want kind %s apiVersion %s", ev.Object, tc.kind, tc.apiVersion)
			}
		})
	}
}

// A change is handed only to the watches it may concern: a pod to its
// node's watch (and to its namespace's), a Node to the watch of its name,
// never to every watch; what each watch sends is unchanged (an unbound
// pod's binding is ADDED for its node's watch).
func TestWatchFeedHandsChangesToTheirWatches(t *testing.T) {
	e := newTestEnv(t)
	feed := e.cluster.Store().Feed()
	nodes := []string{"n1", "n2", "n3", "n4"}
	for _, n := range nodes {
		e.createNode(t, n)
	}
	rv := e.listRV(t)
	byNode := map[string]*rawWatch{}
	for _, n := range nodes {
		byNode[n] = e.openWatch(t, "/api/v1/pods", url.Values{"resourceVersion": {rv}, "fieldSelector": {"spec.nodeName=" + n}})
	}
	inNS := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {rv}})
	nodeN1 := e.openWatch(t, "/api/v1/nodes", url.Values{"resourceVersion": {rv}, "fieldSelector": {"metadata.name=n1"}})

	labelNode := func(name string) {
		e.expectCode(t, http.StatusOK, http.MethodPatch, "/api/v1/nodes/"+name, `{"metadata":{"labels":{"seen":"yes"}}}`,
			withContentType("application/merge-patch+json"))
	}
	steps := []struct {
		name   string
		change func()
		handed uint64
	}{
		{"an unbound pod: its namespace's watch", func() { e.createPod(t, "p", nil) }, 1},
		{"its binding to n2: n2's and the namespace's watches", func() { e.bind(t, "p", "n2") }, 2},
		{"node n3: no watch", func() { labelNode("n3") }, 0},
		{"node n1: the watch of its name", func() { labelNode("n1") }, 1},
	}
	for _, st := range steps {
		before := feed.Handed()
		st.change()
		if got := feed.Handed() - before; got != st.handed {
			t.Errorf("%s: handed %d times, want %d", st.name, got, st.handed)
		}
	}
	inNS.expect(t, v1.Added, "p")
	inNS.expect(t, v1.Modified, "p")
	byNode["n2"].expect(t, v1.Added, "p")
	nodeN1.expect(t, v1.Modified, "n1")
	// The other nodes' watches got nothing: the next event each sees is
	// its own pod's.
	for _, n := range []string{"n1", "n3", "n4"} {
		name := "q-" + n
		e.createPod(t, name, nil)
		e.bind(t, name, n)
		byNode[n].expect(t, v1.Added, name)
	}
}

// A watch that no change concerns still gets bookmarks at the cluster's
// current resourceVersion, so it resumes from there, not from where it
// began (which other changes would push out of the feed's window).
func TestWatchBookmarkWithoutEventsIsCurrent(t *testing.T) {
	e := newTestEnv(t, withServerConfig(func(c *Config) { c.WatchBookmarkInterval = 50 * time.Millisecond }))
	w := e.openWatch(t, "/api/v1/pods", url.Values{"resourceVersion": {e.listRV(t)}, "allowWatchBookmarks": {"true"},
		"fieldSelector": {"spec.nodeName=elsewhere"}})
	p := e.createPod(t, "p", nil)
	want, err := strconv.ParseUint(p.ResourceVersion, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ev := w.next(t)
		if ev.Type != "BOOKMARK" {
			t.Fatalf("got %s %s, want only bookmarks", ev.Type, ev.meta.Name)
		}
		got, err := strconv.ParseUint(ev.meta.ResourceVersion, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if got >= want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bookmarks stay at %d, before the pod's %d", got, want)
		}
	}
}
