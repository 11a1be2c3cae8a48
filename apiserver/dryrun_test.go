package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// A dry run (kubectl --dry-run=server, kubectl diff) gets the answer the
// write would get, with every check, and changes nothing: the store's
// index does not move.
func TestDryRun(t *testing.T) {
	e := newTestEnv(t)
	e.createNode(t, "n1")
	e.createPod(t, "p", map[string]string{"v": "1"})
	e.createRC(t, "web", 1)
	stored := e.getPod(t, "p")
	status := v1.DeepCopy(stored)
	status.Status.Phase = v1.PodRunning
	relabelled := v1.DeepCopy(stored)
	relabelled.Labels["v"] = "2"
	stale := v1.DeepCopy(relabelled)
	stale.ResourceVersion = "1"
	bad := newPod("bad", nil)
	bad.Spec.Containers = nil
	inMissingNS := newPod("q", nil)
	inMissingNS.Namespace = "nope"
	const dry = "?dryRun=All"
	scalePath := rcPath("web") + "/scale"

	tests := []struct {
		name   string
		method string
		path   string
		body   any
		opts   []reqOpt
		code   int
		check  func(t *testing.T, b []byte)
	}{
		{name: "create", method: http.MethodPost, path: podPath("") + dry, body: newPod("q", nil), code: http.StatusCreated,
			check: func(t *testing.T, b []byte) {
				got := decode[v1.Pod](t, b)
				if got.Name != "q" || got.UID == "" || got.ResourceVersion != "" || got.Spec.RestartPolicy == "" {
					t.Errorf("answer is not the defaulted pod that would be stored: %s", b)
				}
			}},
		{name: "create with a generated name", method: http.MethodPost, path: podPath("") + dry,
			body: &v1.Pod{ObjectMeta: v1.ObjectMeta{GenerateName: "gen-"}, Spec: newPod("x", nil).Spec}, code: http.StatusCreated,
			check: func(t *testing.T, b []byte) {
				if got := decode[v1.Pod](t, b); !strings.HasPrefix(got.Name, "gen-") || len(got.Name) == len("gen-") {
					t.Errorf("name %q", got.Name)
				}
			}},
		{name: "create of a taken name", method: http.MethodPost, path: podPath("") + dry, body: newPod("p", nil), code: http.StatusConflict},
		{name: "create in a missing namespace", method: http.MethodPost, path: "/api/v1/namespaces/nope/pods" + dry, body: inMissingNS, code: http.StatusNotFound},
		{name: "create of an invalid pod", method: http.MethodPost, path: podPath("") + dry, body: bad, code: http.StatusUnprocessableEntity},
		{name: "update", method: http.MethodPut, path: podPath("p") + dry, body: relabelled, code: http.StatusOK,
			check: func(t *testing.T, b []byte) {
				if got := decode[v1.Pod](t, b); got.Labels["v"] != "2" || got.ResourceVersion != stored.ResourceVersion {
					t.Errorf("answer %s", b)
				}
			}},
		{name: "update with a stale resourceVersion", method: http.MethodPut, path: podPath("p") + dry, body: stale, code: http.StatusConflict},
		{name: "status update", method: http.MethodPut, path: podPath("p") + "/status" + dry, body: status, code: http.StatusOK,
			check: func(t *testing.T, b []byte) {
				if got := decode[v1.Pod](t, b); got.Status.Phase != v1.PodRunning {
					t.Errorf("answer %s", b)
				}
			}},
		{name: "strategic patch", method: http.MethodPatch, path: podPath("p") + dry, body: `{"metadata":{"labels":{"v":"3"}}}`,
			opts: []reqOpt{withContentType(strategicPatchType)}, code: http.StatusOK,
			check: func(t *testing.T, b []byte) {
				if got := decode[v1.Pod](t, b); got.Labels["v"] != "3" {
					t.Errorf("answer %s", b)
				}
			}},
		{name: "json patch", method: http.MethodPatch, path: podPath("p") + dry, body: `[{"op":"replace","path":"/metadata/labels/v","value":"4"}]`,
			opts: []reqOpt{withContentType(jsonPatchType)}, code: http.StatusOK},
		{name: "scale patch", method: http.MethodPatch, path: scalePath + dry, body: `{"spec":{"replicas":9}}`,
			opts: []reqOpt{withContentType(mergePatchType)}, code: http.StatusOK,
			check: func(t *testing.T, b []byte) {
				if got := decode[v1.Scale](t, b); got.Spec.Replicas != 9 {
					t.Errorf("answer %s", b)
				}
			}},
		{name: "scale update", method: http.MethodPut, path: scalePath + dry, body: v1.Scale{Spec: v1.ScaleSpec{Replicas: 4}}, code: http.StatusOK},
		{name: "binding", method: http.MethodPost, path: podPath("p") + "/binding" + dry,
			body: v1.Binding{ObjectMeta: v1.ObjectMeta{Name: "p"}, Target: v1.ObjectReference{Kind: "Node", Name: "n1"}}, code: http.StatusCreated},
		{name: "delete", method: http.MethodDelete, path: podPath("p") + dry, code: http.StatusOK,
			check: func(t *testing.T, b []byte) {
				// An unbound pod is removed at once: the answer is the pod as it was.
				if got := decode[v1.Pod](t, b); got.Name != "p" || got.ResourceVersion != stored.ResourceVersion {
					t.Errorf("answer is not the pod being deleted: %s", b)
				}
			}},
		{name: "delete with dryRun in the options", method: http.MethodDelete, path: podPath("p"), body: `{"dryRun":["All"]}`, code: http.StatusOK},
		{name: "delete of a missing pod", method: http.MethodDelete, path: podPath("gone") + dry, code: http.StatusNotFound},
		{name: "an unknown dryRun value", method: http.MethodPost, path: podPath("") + "?dryRun=Yes", body: newPod("q", nil), code: http.StatusUnprocessableEntity,
			check: func(t *testing.T, b []byte) {
				if st := decode[v1.Status](t, b); !strings.Contains(st.Message, `dryRun: Unsupported value: ["Yes"]: supported values: "All"`) ||
					!strings.HasPrefix(st.Message, "CreateOptions.meta.k8s.io") {
					t.Errorf("message %q", st.Message)
				}
			}},
		{name: "an unknown dryRun value in the delete options", method: http.MethodDelete, path: podPath("p"), body: `{"dryRun":["Some"]}`, code: http.StatusUnprocessableEntity},
		{name: "a read ignores dryRun", method: http.MethodGet, path: podPath("p") + dry, code: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.cluster.Store().Index()
			b := e.expectCode(t, tt.code, tt.method, tt.path, tt.body, tt.opts...)
			if tt.check != nil {
				tt.check(t, b)
			}
			if after := e.cluster.Store().Index(); after != before {
				t.Errorf("the store's index moved from %d to %d", before, after)
			}
			got := e.getPod(t, "p")
			if got.ResourceVersion != stored.ResourceVersion || got.Labels["v"] != "1" || got.DeletionTimestamp != nil || got.Spec.NodeName != "" {
				t.Errorf("the pod changed: %+v", got.ObjectMeta)
			}
			e.expectCode(t, http.StatusNotFound, http.MethodGet, podPath("q"), nil)
			sc := decode[v1.Scale](t, e.expectCode(t, http.StatusOK, http.MethodGet, scalePath, nil))
			if sc.Spec.Replicas != 1 {
				t.Errorf("replicas %d", sc.Spec.Replicas)
			}
		})
	}
	// A real write after the dry runs works as before.
	e.expectCode(t, http.StatusCreated, http.MethodPost, podPath(""), newPod("q", nil))
}
