package apiserver

import (
	"fmt"
	"net/http"
	"strings"
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
	t.Run("apply patches need a field manager", func(t *testing.T) {
		before := e.getPod(t, "p")
		st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPatch, podPath("p"),
			`{"metadata":{"labels":{"x":"1"}}}`, withContentType("application/apply-patch+yaml"))
		if st.Reason != v1.ReasonInvalid || !strings.Contains(st.Message, "fieldManager: Required value") {
			t.Errorf("status %+v", st)
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

func TestStrategicAndJSONPatch(t *testing.T) {
	e := newTestEnv(t)
	p := newPod("p", nil)
	p.Spec.Containers = []v1.Container{
		{Name: "web", Image: "nginx:1", Ports: []v1.ContainerPort{{ContainerPort: 80}, {ContainerPort: 443}},
			Env: []v1.EnvVar{{Name: "A", Value: "1"}}},
		{Name: "side", Image: "busybox:1"},
	}
	if err := e.admin.Create(testCtx(t), p); err != nil {
		t.Fatal(err)
	}
	strategic := withContentType(strategicPatchType)
	jsonPatch := withContentType(jsonPatchType)

	t.Run("strategic: set image keeps the other container", func(t *testing.T) {
		b := e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p"),
			`{"spec":{"containers":[{"name":"web","image":"nginx:2"}]}}`, strategic)
		got := decode[v1.Pod](t, b)
		if len(got.Spec.Containers) != 2 || got.Spec.Containers[0].Image != "nginx:2" || got.Spec.Containers[1].Image != "busybox:1" {
			t.Fatalf("containers %+v", got.Spec.Containers)
		}
	})
	t.Run("strategic: a second apply with changed ports", func(t *testing.T) {
		e.createRC(t, "web", 1)
		e.expectCode(t, http.StatusOK, http.MethodPatch, rcPath("web"),
			`{"spec":{"template":{"spec":{"containers":[{"name":"c","ports":[{"containerPort":80},{"containerPort":443}]},{"name":"d","image":"busybox"}]}}}}`,
			strategic)
		e.expectCode(t, http.StatusOK, http.MethodPatch, rcPath("web"),
			`{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"},{"name":"d"}],"containers":[{"$setElementOrder/ports":[{"containerPort":8080},{"containerPort":80}],"name":"c","ports":[{"containerPort":8080},{"$patch":"delete","containerPort":443}]}]}}}}`,
			strategic)
		var rc v1.ReplicationController
		if err := e.admin.Get(testCtx(t), "replicationcontrollers", v1.DefaultNamespace, "web", &rc); err != nil {
			t.Fatal(err)
		}
		cs := rc.Spec.Template.Spec.Containers
		if len(cs) != 2 || cs[0].Image != "busybox" || len(cs[0].Ports) != 2 || cs[0].Ports[0].ContainerPort != 8080 || cs[0].Ports[1].ContainerPort != 80 {
			t.Fatalf("containers %+v", cs)
		}
	})
	t.Run("strategic: an unknown field is refused", func(t *testing.T) {
		before := e.getPod(t, "p")
		e.expectStatus(t, http.StatusBadRequest, http.MethodPatch, podPath("p"), `{"spec":{"bogus":1}}`, strategic)
		e.expectStatus(t, http.StatusBadRequest, http.MethodPatch, podPath("p"), `{"spec":{"containers":[{"image":"x"}]}}`, strategic)
		if got := e.getPod(t, "p"); got.ResourceVersion != before.ResourceVersion {
			t.Fatalf("a refused patch changed the pod")
		}
	})
	t.Run("json: test and replace", func(t *testing.T) {
		e.expectCode(t, http.StatusOK, http.MethodPatch, podPath("p"),
			`[{"op":"test","path":"/spec/containers/1/name","value":"side"},{"op":"replace","path":"/spec/containers/1/image","value":"busybox:2"}]`, jsonPatch)
		if got := e.getPod(t, "p"); got.Spec.Containers[1].Image != "busybox:2" {
			t.Fatalf("image %q", got.Spec.Containers[1].Image)
		}
	})
	t.Run("json: a failed test is 422 and changes nothing", func(t *testing.T) {
		before := e.getPod(t, "p")
		st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPatch, podPath("p"),
			`[{"op":"replace","path":"/spec/containers/1/image","value":"busybox:3"},{"op":"test","path":"/spec/containers/1/name","value":"other"}]`, jsonPatch)
		if st.Reason != v1.ReasonInvalid {
			t.Errorf("reason %q", st.Reason)
		}
		if got := e.getPod(t, "p"); got.ResourceVersion != before.ResourceVersion {
			t.Fatalf("a refused patch changed the pod")
		}
	})
	t.Run("json: a stale resourceVersion is a conflict", func(t *testing.T) {
		e.expectStatus(t, http.StatusConflict, http.MethodPatch, podPath("p"),
			`[{"op":"replace","path":"/metadata/resourceVersion","value":"1"},{"op":"add","path":"/metadata/labels","value":{"a":"b"}}]`, jsonPatch)
	})
	t.Run("json: bad patches", func(t *testing.T) {
		e.expectStatus(t, http.StatusBadRequest, http.MethodPatch, podPath("p"), `{"op":"add"}`, jsonPatch)
		e.expectStatus(t, http.StatusBadRequest, http.MethodPatch, podPath("p"), `[{"op":"add","path":"/x","value":1,"extra":1}]`, jsonPatch)
		e.expectStatus(t, http.StatusBadRequest, http.MethodPatch, podPath("p"), `null`, jsonPatch)
		many := "[" + strings.Repeat(`{"op":"test","path":"/kind","value":"Pod"},`, maxJSONPatchOperations) + `{"op":"test","path":"/kind","value":"Pod"}]`
		st := e.expectStatus(t, http.StatusRequestEntityTooLarge, http.MethodPatch, podPath("p"), many, jsonPatch)
		if want := fmt.Sprintf("The allowed maximum operations in a JSON patch is %d, got %d", maxJSONPatchOperations, maxJSONPatchOperations+1); st.Message != want {
			t.Errorf("message %q, want %q", st.Message, want)
		}
	})
}
