package apiserver

import (
	"net/http"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestMergePatch(t *testing.T) {
	e := newTestEnv(t)
	e.createPod(t, "p", map[string]string{"keep": "yes", "drop": "soon"})
	merge := withContentType("application/merge-patch+json")

	t.Run("add and remove labels", func(t *testing.T) {
		before := e.getPod(t, "p")
		b := e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p"),
			`{"metadata":{"labels":{"added":"1","drop":null}}}`, merge)
		got := decode[v1.Pod](t, b)
		want := map[string]string{"keep": "yes", "added": "1"}
		if len(got.Labels) != len(want) || got.Labels["keep"] != "yes" || got.Labels["added"] != "1" {
			t.Fatalf("labels after patch = %v, want %v", got.Labels, want)
		}
		if got.ResourceVersion == before.ResourceVersion {
			t.Fatalf("resourceVersion did not change")
		}
		if stored := e.getPod(t, "p"); stored.ResourceVersion != got.ResourceVersion || stored.Labels["drop"] != "" {
			t.Fatalf("stored pod %v differs from the answer", stored.Labels)
		}
	})
	t.Run("plain JSON and strategic merge are merge patches", func(t *testing.T) {
		e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p"), `{"metadata":{"annotations":{"a":"1"}}}`)
		e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p"), `{"metadata":{"annotations":{"b":"2"}}}`,
			withContentType("application/strategic-merge-patch+json"))
		if got := e.getPod(t, "p"); got.Annotations["a"] != "1" || got.Annotations["b"] != "2" {
			t.Fatalf("annotations = %v", got.Annotations)
		}
	})
	t.Run("json patch is not supported", func(t *testing.T) {
		before := e.getPod(t, "p")
		st := e.expectStatus(t, http.StatusUnsupportedMediaType, http.MethodPatch, podPath("p"),
			`[{"op":"add","path":"/metadata/labels/x","value":"1"}]`, withContentType("application/json-patch+json"))
		if st.Reason != v1.ReasonUnsupportedMedia {
			t.Errorf("reason %q", st.Reason)
		}
		if got := e.getPod(t, "p"); got.ResourceVersion != before.ResourceVersion {
			t.Fatalf("a refused patch changed the pod")
		}
	})
	t.Run("stale resourceVersion in the patch", func(t *testing.T) {
		before := e.getPod(t, "p")
		e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p"), `{"metadata":{"labels":{"step":"1"}}}`, merge)
		st := e.expectStatus(t, http.StatusConflict, http.MethodPatch, podPath("p"),
			`{"metadata":{"resourceVersion":"`+before.ResourceVersion+`","labels":{"step":"2"}}}`, merge)
		if st.Reason != v1.ReasonConflict {
			t.Errorf("reason %q", st.Reason)
		}
		if got := e.getPod(t, "p"); got.Labels["step"] != "1" {
			t.Fatalf("a conflicting patch changed the pod: %v", got.Labels)
		}
		// The current resourceVersion in the patch passes.
		cur := e.getPod(t, "p")
		e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p"),
			`{"metadata":{"resourceVersion":"`+cur.ResourceVersion+`","labels":{"step":"3"}}}`, merge)
	})
	t.Run("bad patches", func(t *testing.T) {
		e.expectStatus(t, http.StatusBadRequest, http.MethodPatch, podPath("p"), `[1,2]`, merge)
		e.expectStatus(t, http.StatusBadRequest, http.MethodPatch, podPath("p"), `{"metadata":`, merge)
		e.expectStatus(t, http.StatusBadRequest, http.MethodPatch, podPath("p"), ``, merge)
		e.expectStatus(t, http.StatusBadRequest, http.MethodPatch, podPath("p"), `{"metadata":{"name":"other"}}`, merge)
		e.expectStatus(t, http.StatusBadRequest, http.MethodPatch, podPath("p"), `{"spec":{"bogus":1}}`, merge)
		e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPatch, podPath("p"), `{"spec":{"containers":null}}`, merge)
		e.expectStatus(t, http.StatusNotFound, http.MethodPatch, podPath("nope"), `{"metadata":{"labels":{"a":"b"}}}`, merge)
	})
	t.Run("status subresource", func(t *testing.T) {
		b := e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p")+"/status",
			`{"metadata":{"labels":{"ignored":"yes"}},"status":{"phase":"Running"}}`, merge)
		got := decode[v1.Pod](t, b)
		if got.Status.Phase != v1.PodRunning || got.Labels["ignored"] != "" {
			t.Fatalf("status patch answered %s", b)
		}
	})
}
