package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

const crPath = "/apis/apps/v1/namespaces/default/controllerrevisions"

// A ControllerRevision keeps its data as written, through create, apply and
// a merge patch of its number; a write that changes the data, or a create
// without data, is a 422 that stores nothing.
func TestControllerRevisionData(t *testing.T) {
	e := newTestEnv(t)
	body := `{"apiVersion":"apps/v1","kind":"ControllerRevision","metadata":{"name":"ds-1"},
	  "data":{"spec":{"template":{"$patch":"replace","spec":{"containers":[{"name":"c","image":"busybox:1"}]}}}},"revision":1}`
	created := decode[v1.ControllerRevision](t, e.expectCode(t, http.StatusCreated, http.MethodPost, crPath, body, withContentType("application/json")))
	if created.Revision != 1 || !strings.Contains(string(created.Data.Raw), `"image":"busybox:1"`) {
		t.Fatalf("created %+v data %s", created, created.Data.Raw)
	}
	got := decode[v1.ControllerRevision](t, e.expectCode(t, http.StatusOK, http.MethodPatch, crPath+"/ds-1",
		`{"revision":4}`, withContentType(mergePatchType)))
	if got.Revision != 4 || string(got.Data.Raw) != string(created.Data.Raw) {
		t.Fatalf("renumbered %d data %s", got.Revision, got.Data.Raw)
	}
	b := e.expectCode(t, http.StatusUnprocessableEntity, http.MethodPatch, crPath+"/ds-1",
		`{"data":{"spec":{"template":{"spec":{"containers":[{"name":"c","image":"busybox:2"}]}}}}}`, withContentType(mergePatchType))
	if !strings.Contains(string(b), "data: Invalid value") || !strings.Contains(string(b), "field is immutable") {
		t.Errorf("changed data answered %s", b)
	}
	b = e.expectCode(t, http.StatusUnprocessableEntity, http.MethodPost, crPath,
		`{"apiVersion":"apps/v1","kind":"ControllerRevision","metadata":{"name":"ds-2"},"revision":-1}`, withContentType("application/json"))
	if !strings.Contains(string(b), "data: Required value: data is mandatory") || !strings.Contains(string(b), "revision: Invalid value: -1") {
		t.Errorf("create without data answered %s", b)
	}
	e.expectCode(t, http.StatusNotFound, http.MethodGet, crPath+"/ds-2", nil)
	// Server-side apply owns the data as one value (an object of any content).
	applied := decode[v1.ControllerRevision](t, e.expectCode(t, http.StatusCreated, http.MethodPatch, crPath+"/ds-3?fieldManager=ctl",
		`{apiVersion: apps/v1, kind: ControllerRevision, metadata: {name: ds-3}, data: {spec: {x: [1, 2]}}, revision: 2}`,
		withContentType("application/apply-patch+yaml")))
	if string(applied.Data.Raw) != `{"spec":{"x":[1,2]}}` || len(applied.ManagedFields) != 1 {
		t.Fatalf("applied %s %+v", applied.Data.Raw, applied.ManagedFields)
	}
	final := decode[v1.ControllerRevision](t, e.expectCode(t, http.StatusOK, http.MethodGet, crPath+"/ds-1", nil))
	if final.Revision != 4 || string(final.Data.Raw) != string(created.Data.Raw) {
		t.Errorf("after the refused writes: %d %s", final.Revision, final.Data.Raw)
	}
}
