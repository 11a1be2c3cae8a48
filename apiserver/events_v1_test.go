package apiserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

const eventsV1Path = "/apis/events.k8s.io/v1/namespaces/default/events"

// newEventV1 is a valid events.k8s.io/v1 event about pod web.
func newEventV1(name string) *v1.EventV1 {
	return &v1.EventV1{TypeMeta: v1.TypeMeta{Kind: "Event", APIVersion: "events.k8s.io/v1"},
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"},
		EventTime:  v1.NewMicroTime(time.Now()), ReportingController: "orch.io/test", ReportingInstance: "test-1",
		Action: "Testing", Reason: "Tested", Type: v1.EventTypeNormal, Note: "tested web",
		Regarding: v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1"}}
}

// An event written through either group is read through both, with
// Kubernetes' field mapping, in objects, lists, watches and Tables.
func TestEventsV1ViewOfCoreEvents(t *testing.T) {
	e := newTestEnv(t)
	w := e.openWatch(t, eventsV1Path, url.Values{"resourceVersion": {"0"}})
	e.expectCode(t, http.StatusCreated, http.MethodPost, eventsV1Path, newEventV1("v1.a"))
	core := decode[v1.Event](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/namespaces/default/events/v1.a", nil))
	if core.APIVersion != "v1" || core.Message != "tested web" || core.InvolvedObject.Name != "web" || core.ReportingController != "orch.io/test" || core.EventTime.IsZero() {
		t.Fatalf("core view of a v1 event: %+v", core)
	}
	ev := w.expect(t, "ADDED", "v1.a")
	var got v1.EventV1
	if err := json.Unmarshal(ev.Object, &got); err != nil || got.APIVersion != "events.k8s.io/v1" || got.Note != "tested web" {
		t.Fatalf("watched v1 event %s (%v)", ev.Object, err)
	}

	old := &v1.Event{ObjectMeta: v1.ObjectMeta{Name: "core.b", Namespace: "default"}, Reason: "Started", Message: "started c",
		Type: v1.EventTypeNormal, Count: 3, Source: v1.EventSource{Component: "kubelet", Host: "n1"},
		InvolvedObject: v1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web"},
		FirstTimestamp: v1.NewTime(time.Now().Add(-time.Minute)), LastTimestamp: v1.NewTime(time.Now())}
	e.expectCode(t, http.StatusCreated, http.MethodPost, "/api/v1/namespaces/default/events", old)
	w.expect(t, "ADDED", "core.b")
	view := decode[map[string]any](t, e.expectCode(t, http.StatusOK, http.MethodGet, eventsV1Path+"/core.b", nil))
	for k, want := range map[string]any{"apiVersion": "events.k8s.io/v1", "kind": "Event", "note": "started c",
		"deprecatedCount": float64(3), "reason": "Started", "type": "Normal", "eventTime": nil} {
		if got, ok := view[k]; !ok || got != want {
			t.Errorf("%s = %v, want %v", k, got, want)
		}
	}
	if src, _ := view["deprecatedSource"].(map[string]any); src["component"] != "kubelet" {
		t.Errorf("deprecatedSource %v", view["deprecatedSource"])
	}
	if reg, _ := view["regarding"].(map[string]any); reg["name"] != "web" {
		t.Errorf("regarding %v", view["regarding"])
	}
	for _, k := range []string{"message", "involvedObject", "source", "count", "reportingComponent"} {
		if _, ok := view[k]; ok {
			t.Errorf("the v1 view has core field %s", k)
		}
	}

	list := decode[v1.List[v1.EventV1]](t, e.expectCode(t, http.StatusOK, http.MethodGet,
		"/apis/events.k8s.io/v1/events?fieldSelector=reason%3DStarted", nil))
	if list.Kind != "EventList" || list.APIVersion != "events.k8s.io/v1" || len(list.Items) != 1 || list.Items[0].DeprecatedCount != 3 {
		t.Fatalf("v1 list by reason: %+v", list)
	}
	tab := decode[metav1.Table](t, e.expectCode(t, http.StatusOK, http.MethodGet, eventsV1Path+"?includeObject=Object", nil,
		func(r *http.Request) { r.Header.Set("Accept", "application/json;as=Table;v=v1;g=meta.k8s.io") }))
	if len(tab.Rows) != 2 || len(tab.ColumnDefinitions) == 0 || !strings.Contains(string(tab.Rows[0].Object.Raw), `"note"`) {
		t.Fatalf("v1 table: %d rows, %d columns, first object %s", len(tab.Rows), len(tab.ColumnDefinitions), tab.Rows[0].Object.Raw)
	}

	// A v1 client bumps its series with a patch; a core client then
	// patches the same event.
	patch := `{"series":{"count":2,"lastObservedTime":"` + time.Now().UTC().Format("2006-01-02T15:04:05.000000Z") + `"}}`
	for _, ct := range []string{"application/strategic-merge-patch+json", "application/merge-patch+json"} {
		b := e.expectCode(t, http.StatusOK, http.MethodPatch, eventsV1Path+"/v1.a", patch, withContentType(ct))
		if p := decode[v1.EventV1](t, b); p.Series == nil || p.Series.Count != 2 || p.Note != "tested web" {
			t.Fatalf("%s: patched %s", ct, b)
		}
	}
	w.expect(t, "MODIFIED", "v1.a")
	// A JSON patch sees the v1 form: its test of note holds.
	jp := `[{"op":"test","path":"/note","value":"tested web"},{"op":"add","path":"/metadata/annotations","value":{"a":"b"}}]`
	b := e.expectCode(t, http.StatusOK, http.MethodPatch, eventsV1Path+"/v1.a", jp, withContentType("application/json-patch+json"))
	if p := decode[v1.EventV1](t, b); p.Annotations["a"] != "b" {
		t.Fatalf("JSON patch: %s", b)
	}
	e.expectCode(t, http.StatusOK, http.MethodPatch, "/api/v1/namespaces/default/events/v1.a",
		`{"metadata":{"labels":{"seen":"yes"}}}`, withContentType("application/merge-patch+json"))
	applied := `{"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"v1.a","labels":{"applied":"yes"}}}`
	b = e.expectCode(t, http.StatusOK, http.MethodPatch, eventsV1Path+"/v1.a?fieldManager=tester", applied,
		withContentType("application/apply-patch+yaml"))
	if p := decode[v1.EventV1](t, b); p.Labels["applied"] != "yes" || p.Labels["seen"] != "yes" || p.Note != "tested web" {
		t.Fatalf("applied: %s", b)
	}
	e.expectCode(t, http.StatusOK, http.MethodDelete, eventsV1Path+"/core.b", nil)
	e.expectCode(t, http.StatusNotFound, http.MethodGet, "/api/v1/namespaces/default/events/core.b", nil)
}

// Writes through events.k8s.io/v1 are validated as Kubernetes validates
// that group version, with its wording.
func TestEventsV1Validation(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		name   string
		mutate func(*v1.EventV1)
		want   string
	}{
		{"no reportingController", func(ev *v1.EventV1) { ev.ReportingController = "" }, "reportingController: Required value"},
		{"no eventTime", func(ev *v1.EventV1) { ev.EventTime = v1.MicroTime{} }, "eventTime: Required value"},
		{"no action", func(ev *v1.EventV1) { ev.Action = "" }, "action: Required value"},
		{"bad type", func(ev *v1.EventV1) { ev.Type = "Odd" }, `type: Invalid value: "": has invalid value: Odd`},
		{"deprecated count", func(ev *v1.EventV1) { ev.DeprecatedCount = 2 }, `count: Invalid value: "": needs to be unset`},
		{"short series", func(ev *v1.EventV1) { ev.Series = &v1.EventV1Series{Count: 1, LastObservedTime: ev.EventTime} }, "series.count"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := newEventV1("bad")
			tt.mutate(ev)
			st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPost, eventsV1Path, ev)
			if !strings.HasPrefix(st.Message, `Event.events.k8s.io "bad" is invalid`) || !strings.Contains(st.Message, tt.want) {
				t.Fatalf("message %q, want one naming %q", st.Message, tt.want)
			}
		})
	}
	// The same event without its deprecated fields is fine through
	// core/v1, which checks less.
	ev := newEventV1("ok")
	ev.DeprecatedCount = 2
	core := v1.FromEventV1(ev)
	e.expectCode(t, http.StatusCreated, http.MethodPost, "/api/v1/namespaces/default/events", core)
	// Through v1 only the series and metadata may change.
	cur := decode[v1.EventV1](t, e.expectCode(t, http.StatusOK, http.MethodGet, eventsV1Path+"/ok", nil))
	cur.Note = "changed"
	st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPut, eventsV1Path+"/ok", cur)
	if !strings.Contains(st.Message, "message: Invalid value") || !strings.Contains(st.Message, "field is immutable") {
		t.Fatalf("update of the note: %s", st.Message)
	}
	// A node records its events through core/v1 only, as Kubernetes'
	// system:node role allows.
	st = e.expectStatus(t, http.StatusForbidden, http.MethodPost, eventsV1Path, newEventV1("from-node"), withToken(nodeCredential))
	if !strings.Contains(st.Message, "may only use the core API") {
		t.Fatalf("a node's events.k8s.io/v1 event: %s", st.Message)
	}
	// A core-shaped body is not a v1 event.
	st = e.expectStatus(t, http.StatusBadRequest, http.MethodPost, eventsV1Path, core)
	if !strings.Contains(st.Message, `unknown field "involvedObject"`) {
		t.Fatalf("core body through v1: %s", st.Message)
	}
}

// managedFields entries of the two groups name the same fields: an apply
// through core/v1 of the message conflicts with the events.k8s.io/v1
// writer of the note, as in Kubernetes, and a writer of another field
// through either group is no conflict.
func TestEventsV1ManagedFieldsAcrossGroups(t *testing.T) {
	e := newTestEnv(t)
	e.expectCode(t, http.StatusCreated, http.MethodPost, eventsV1Path+"?fieldManager=v1writer", newEventV1("mix"))
	e.expectCode(t, http.StatusOK, http.MethodPatch, "/api/v1/namespaces/default/events/mix?fieldManager=corewriter",
		`{"metadata":{"labels":{"seen":"yes"}}}`, withContentType("application/merge-patch+json"))
	e.expectCode(t, http.StatusOK, http.MethodPatch, eventsV1Path+"/mix?fieldManager=v1labeller",
		`{"metadata":{"labels":{"again":"yes"}}}`, withContentType("application/merge-patch+json"))
	applied := `{"apiVersion":"v1","kind":"Event","metadata":{"name":"mix"},"message":"other"}`
	st := e.expectStatus(t, http.StatusConflict, http.MethodPatch, "/api/v1/namespaces/default/events/mix?fieldManager=applier", applied,
		withContentType("application/apply-patch+yaml"))
	if st.Message != `Apply failed with 1 conflict: conflict with "v1writer" using events.k8s.io/v1: .note` {
		t.Fatalf("conflict message %q", st.Message)
	}
	applied = `{"apiVersion":"v1","kind":"Event","metadata":{"name":"mix","labels":{"applied":"yes"}}}`
	b := e.expectCode(t, http.StatusOK, http.MethodPatch, "/api/v1/namespaces/default/events/mix?fieldManager=applier", applied,
		withContentType("application/apply-patch+yaml"))
	got := decode[v1.Event](t, b)
	managers := map[string]string{}
	for _, m := range got.ManagedFields {
		managers[m.Manager] = m.APIVersion
	}
	want := map[string]string{"v1writer": "events.k8s.io/v1", "corewriter": "v1", "v1labeller": "events.k8s.io/v1", "applier": "v1"}
	if !reflect.DeepEqual(managers, want) || got.Message != "tested web" {
		t.Fatalf("managers %v (want %v), message %q", managers, want, got.Message)
	}
}

// DELETE on an events collection deletes the events its selectors select,
// through either group, and answers with them; other kinds do not serve it.
func TestEventsDeleteCollection(t *testing.T) {
	e := newTestEnv(t)
	for _, name := range []string{"dc.a", "dc.b", "dc.c"} {
		ev := newEventV1(name)
		if name == "dc.c" {
			ev.Reason = "Kept"
		}
		e.expectCode(t, http.StatusCreated, http.MethodPost, eventsV1Path, ev)
	}
	b := e.expectCode(t, http.StatusOK, http.MethodDelete, eventsV1Path+"?fieldSelector=reason%3DTested", nil)
	deleted := decode[v1.List[v1.EventV1]](t, b)
	if deleted.Kind != "EventList" || deleted.APIVersion != "events.k8s.io/v1" || len(deleted.Items) != 2 || deleted.Items[0].Note != "tested web" {
		t.Fatalf("deletecollection answer: %s", b)
	}
	left := decode[v1.List[v1.Event]](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/namespaces/default/events", nil))
	if len(left.Items) != 1 || left.Items[0].Name != "dc.c" {
		t.Fatalf("events left: %+v", left.Items)
	}
	// Bad input is a 400 and deletes nothing.
	e.expectStatus(t, http.StatusBadRequest, http.MethodDelete, "/api/v1/namespaces/default/events?fieldSelector=bogus%3Dx", nil)
	e.expectStatus(t, http.StatusBadRequest, http.MethodDelete, "/api/v1/namespaces/default/events?propagationPolicy=Sometimes", nil)
	e.expectStatus(t, http.StatusBadRequest, http.MethodDelete, "/api/v1/namespaces/default/events?gracePeriodSeconds=-5", nil)
	left = decode[v1.List[v1.Event]](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/namespaces/default/events", nil))
	if len(left.Items) != 1 {
		t.Fatalf("events left after refused deletes: %+v", left.Items)
	}
	e.expectCode(t, http.StatusOK, http.MethodDelete, "/api/v1/namespaces/default/events", nil)
	left = decode[v1.List[v1.Event]](t, e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/namespaces/default/events", nil))
	if len(left.Items) != 0 {
		t.Fatalf("events left after deleting all: %+v", left.Items)
	}
	e.expectStatus(t, http.StatusMethodNotAllowed, http.MethodDelete, "/api/v1/namespaces/default/pods", nil)
	// A node may not delete events.
	e.expectStatus(t, http.StatusForbidden, http.MethodDelete, "/api/v1/namespaces/default/events", nil, withToken(nodeCredential))
}
