package apiserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// expectEndBookmark reads the next event and fails unless it is the
// BOOKMARK that ends a watch list's initial events, of kind and
// apiVersion, at a resourceVersion not older than atLeast.
func (w *rawWatch) expectEndBookmark(t *testing.T, kind, apiVersion string, atLeast uint64) {
	t.Helper()
	ev := w.next(t)
	if ev.Type != v1.Bookmark {
		t.Fatalf("got %s %s, want the initial-events-end BOOKMARK", ev.Type, ev.meta.Name)
	}
	var obj struct{ Kind, APIVersion string }
	if err := json.Unmarshal(ev.Object, &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Kind != kind || obj.APIVersion != apiVersion {
		t.Fatalf("bookmark %s, want kind %s apiVersion %s", ev.Object, kind, apiVersion)
	}
	if ev.meta.Annotations[initialEventsEnd] != "true" {
		t.Fatalf("bookmark %s lacks the %s annotation", ev.Object, initialEventsEnd)
	}
	if ev.meta.ResourceVersionIndex() < atLeast {
		t.Fatalf("bookmark rv %s older than %d", ev.meta.ResourceVersion, atLeast)
	}
}

// A watch list (what client-go's reflectors ask first) streams the current
// objects, the initial-events-end bookmark at their resourceVersion, then
// later changes.
func TestWatchListSendInitialEvents(t *testing.T) {
	e := newTestEnv(t)
	e.createPod(t, "a", nil)
	b := e.createPod(t, "b", nil)
	for i, rv := range []string{"", "0", b.ResourceVersion} {
		t.Run("resourceVersion="+rv, func(t *testing.T) {
			q := url.Values{"sendInitialEvents": {"true"}, "resourceVersionMatch": {"NotOlderThan"}, "allowWatchBookmarks": {"true"}}
			if rv != "" {
				q.Set("resourceVersion", rv)
			}
			w := e.openWatch(t, podPath(""), q)
			w.expect(t, v1.Added, "a")
			w.expect(t, v1.Added, "b")
			for j := 0; j < i; j++ { // pods the earlier subtests made
				w.expect(t, v1.Added, "later"+strings.Repeat("x", j))
			}
			w.expectEndBookmark(t, "Pod", "v1", b.ResourceVersionIndex())
			name := "later" + strings.Repeat("x", i)
			e.createPod(t, name, nil)
			w.expect(t, v1.Added, name)
		})
	}
}

// sendInitialEvents=false starts at the current state (resourceVersion "")
// and sends nothing of it; without allowWatchBookmarks a watch list has no
// end bookmark.
func TestWatchListVariants(t *testing.T) {
	e := newTestEnv(t)
	e.createPod(t, "old", nil)
	noInitial := e.openWatch(t, podPath(""), url.Values{"sendInitialEvents": {"false"}, "resourceVersionMatch": {"NotOlderThan"}})
	noBookmark := e.openWatch(t, podPath(""), url.Values{"sendInitialEvents": {"true"}, "resourceVersionMatch": {"NotOlderThan"}})
	e.createPod(t, "new", nil)
	noInitial.expect(t, v1.Added, "new")
	noBookmark.expect(t, v1.Added, "old")
	noBookmark.expect(t, v1.Added, "new")
}

// Bookmarks carry the watched kind's group version, never a hard-coded v1.
func TestWatchBookmarkGroupVersion(t *testing.T) {
	e := newTestEnv(t)
	for _, c := range []struct{ path, kind, apiVersion string }{
		{"/apis/coordination.k8s.io/v1/namespaces/default/leases", "Lease", "coordination.k8s.io/v1"},
		{"/apis/discovery.k8s.io/v1/endpointslices", "EndpointSlice", "discovery.k8s.io/v1"},
		{"/apis/rbac.authorization.k8s.io/v1/clusterroles", "ClusterRole", "rbac.authorization.k8s.io/v1"},
		{"/api/v1/nodes", "Node", "v1"},
	} {
		t.Run(c.kind, func(t *testing.T) {
			w := e.openWatch(t, c.path, url.Values{"sendInitialEvents": {"true"}, "resourceVersionMatch": {"NotOlderThan"},
				"allowWatchBookmarks": {"true"}, "resourceVersion": {"0"}})
			for {
				ev := w.next(t)
				if ev.Type == v1.Added {
					continue // e.g. the bootstrap cluster roles
				}
				w.events <- ev // let expectEndBookmark read it
				break
			}
			w.expectEndBookmark(t, c.kind, c.apiVersion, 0)
		})
	}
}

// Watch and list options are validated as Kubernetes validates them, with
// its wording, before anything is read.
func TestWatchListOptionsRefused(t *testing.T) {
	e := newTestEnv(t)
	for _, c := range []struct {
		name, query string
		code        int
		msg         string
	}{
		{"match without sendInitialEvents", "watch=true&resourceVersionMatch=NotOlderThan", 422,
			"resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"},
		{"sendInitialEvents without match", "watch=true&sendInitialEvents=true", 422,
			"resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"},
		{"Exact on a watch", "watch=true&sendInitialEvents=true&resourceVersionMatch=Exact&resourceVersion=1", 422,
			`resourceVersionMatch: Unsupported value: "Exact"`},
		{"sendInitialEvents on a list", "sendInitialEvents=true", 422,
			"sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list"},
		{"sendInitialEvents not a bool", "watch=true&sendInitialEvents=maybe&resourceVersionMatch=NotOlderThan", 400,
			`sendInitialEvents "maybe" must be true or false`},
	} {
		t.Run(c.name, func(t *testing.T) {
			st := e.expectStatus(t, c.code, http.MethodGet, podPath("")+"?"+c.query, nil)
			if !strings.Contains(st.Message, c.msg) {
				t.Fatalf("message %q, want it to contain %q", st.Message, c.msg)
			}
			if c.code == 422 && !strings.HasPrefix(st.Message, `ListOptions.meta.k8s.io "" is invalid`) {
				t.Fatalf("message %q, want Kubernetes' ListOptions wording", st.Message)
			}
		})
	}
}
