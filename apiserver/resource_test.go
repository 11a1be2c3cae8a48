package apiserver

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestCreate(t *testing.T) {
	e := newTestEnv(t)
	b := e.expectCode(t, http.StatusCreated, http.MethodPost, podPath(""), newPod("p", nil))
	p := decode[v1.Pod](t, b)
	if p.UID == "" || p.ResourceVersion == "" || p.CreationTimestamp.IsZero() || p.Kind != "Pod" || p.APIVersion != "v1" {
		t.Fatalf("created pod lacks server fields: %s", b)
	}
	st := e.expectStatus(t, http.StatusConflict, http.MethodPost, podPath(""), newPod("p", nil))
	if st.Reason != v1.ReasonAlreadyExists {
		t.Errorf("reason %q", st.Reason)
	}
	st = e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodPost, podPath(""), newPod("Bad_Name", nil))
	if st.Reason != v1.ReasonInvalid {
		t.Errorf("reason %q", st.Reason)
	}
	elsewhere := newPod("p", nil)
	elsewhere.Namespace = "nope"
	e.expectStatus(t, http.StatusNotFound, http.MethodPost, "/api/v1/namespaces/nope/pods", elsewhere)
	// A resourceVersion on a create is refused, as Kubernetes does.
	withRV := newPod("rv", nil)
	withRV.ResourceVersion = "12345"
	st = e.expectStatus(t, http.StatusBadRequest, http.MethodPost, podPath(""), withRV)
	if st.Message != "resourceVersion should not be set on objects to be created" {
		t.Errorf("message %q", st.Message)
	}
	// A client cannot choose the server's other fields.
	q := newPod("q", nil)
	q.UID = "chosen-uid"
	q.Status.Phase = v1.PodRunning
	b = e.expectCode(t, http.StatusCreated, http.MethodPost, podPath(""), q)
	if got := decode[v1.Pod](t, b); got.UID == "chosen-uid" || got.Status.Phase == v1.PodRunning {
		t.Fatalf("create kept client-set server fields: %s", b)
	}
}

func TestCreateGenerateName(t *testing.T) {
	e := newTestEnv(t)
	names := map[string]bool{}
	for range 2 {
		p := newPod("", nil)
		p.GenerateName = "web-"
		b := e.expectCode(t, http.StatusCreated, http.MethodPost, podPath(""), p)
		got := decode[v1.Pod](t, b)
		if !strings.HasPrefix(got.Name, "web-") || len(got.Name) <= len("web-") {
			t.Fatalf("generated name %q", got.Name)
		}
		if got.GenerateName != "web-" {
			t.Errorf("generateName %q not kept", got.GenerateName)
		}
		names[got.Name] = true
		e.getPod(t, got.Name)
	}
	if len(names) != 2 {
		t.Fatalf("two creates with generateName gave names %v", names)
	}
}

func TestUpdate(t *testing.T) {
	e := newTestEnv(t)
	p := e.createPod(t, "p", map[string]string{"v": "1"})

	t.Run("stale resourceVersion", func(t *testing.T) {
		cur := e.getPod(t, "p")
		stale := cur.ResourceVersion
		cur.Labels["v"] = "2"
		b := e.expectCode(t, http.StatusOK, http.MethodPut, podPath("p"), cur)
		fresh := decode[v1.Pod](t, b)
		if fresh.ResourceVersion == stale || fresh.Labels["v"] != "2" {
			t.Fatalf("update answered %s", b)
		}
		cur.ResourceVersion = stale
		cur.Labels["v"] = "3"
		st := e.expectStatus(t, http.StatusConflict, http.MethodPut, podPath("p"), cur)
		if st.Reason != v1.ReasonConflict {
			t.Errorf("reason %q", st.Reason)
		}
		if got := e.getPod(t, "p"); got.ResourceVersion != fresh.ResourceVersion || got.Labels["v"] != "2" {
			t.Fatalf("a conflicting update changed the pod: rv %s labels %v", got.ResourceVersion, got.Labels)
		}
	})
	t.Run("no resourceVersion is unconditional", func(t *testing.T) {
		cur := e.getPod(t, "p")
		cur.ResourceVersion = ""
		cur.Labels["v"] = "4"
		b := e.expectCode(t, http.StatusOK, http.MethodPut, podPath("p"), cur)
		if got := decode[v1.Pod](t, b); got.Labels["v"] != "4" || got.UID != p.UID {
			t.Fatalf("update answered %s", b)
		}
	})
	t.Run("mismatches", func(t *testing.T) {
		cur := e.getPod(t, "p")
		raw, err := json.Marshal(cur)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct{ name, from, to string }{
			{"name", `"name":"p"`, `"name":"q"`},
			{"kind", `"kind":"Pod"`, `"kind":"Node"`},
			{"namespace", `"namespace":"default"`, `"namespace":"other"`},
			{"apiVersion", `"apiVersion":"v1"`, `"apiVersion":"v2"`},
		} {
			body := strings.Replace(string(raw), tc.from, tc.to, 1)
			if body == string(raw) {
				t.Fatalf("%s: %s not in %s", tc.name, tc.from, raw)
			}
			st := e.expectStatus(t, http.StatusBadRequest, http.MethodPut, podPath("p"), body)
			if st.Reason != v1.ReasonBadRequest {
				t.Errorf("%s: reason %q", tc.name, st.Reason)
			}
		}
		if got := e.getPod(t, "p"); got.ResourceVersion != cur.ResourceVersion {
			t.Fatalf("a refused update changed the pod")
		}
	})
	t.Run("missing object", func(t *testing.T) {
		e.expectStatus(t, http.StatusNotFound, http.MethodPut, podPath("nope"), newPod("nope", nil))
	})
	t.Run("status subresource changes only status", func(t *testing.T) {
		cur := e.getPod(t, "p")
		before := cur.ResourceVersion
		cur.Labels["v"] = "status-put"
		cur.Spec.Containers[0].Image = "nginx"
		cur.Status.Phase = v1.PodRunning
		cur.Status.PodIP = "10.244.1.5"
		b := e.expectCode(t, http.StatusOK, http.MethodPut, podPath("p")+"/status", cur)
		got := decode[v1.Pod](t, b)
		if got.Status.Phase != v1.PodRunning || got.Status.PodIP != "10.244.1.5" {
			t.Fatalf("status not updated: %s", b)
		}
		if got.Labels["v"] == "status-put" || got.Spec.Containers[0].Image != "busybox" {
			t.Fatalf("a status update changed more than status: %s", b)
		}
		if got.ResourceVersion == before {
			t.Fatalf("resourceVersion did not change")
		}
		// The status subresource compares resourceVersions too.
		cur.ResourceVersion = before
		e.expectStatus(t, http.StatusConflict, http.MethodPut, podPath("p")+"/status", cur)
	})
	t.Run("main update keeps status", func(t *testing.T) {
		cur := e.getPod(t, "p")
		if cur.Status.Phase != v1.PodRunning {
			t.Fatalf("phase %q, want Running from the status update", cur.Status.Phase)
		}
		cur.Labels["v"] = "main-put"
		cur.Status.Phase = v1.PodFailed
		cur.Status.PodIP = ""
		b := e.expectCode(t, http.StatusOK, http.MethodPut, podPath("p"), cur)
		got := decode[v1.Pod](t, b)
		if got.Labels["v"] != "main-put" {
			t.Fatalf("labels not updated: %s", b)
		}
		if got.Status.Phase != v1.PodRunning || got.Status.PodIP != "10.244.1.5" {
			t.Fatalf("a main update changed status: %s", b)
		}
	})
}

func TestDelete(t *testing.T) {
	e := newTestEnv(t)
	e.createNode(t, "n1")

	t.Run("graceful delete of a bound pod", func(t *testing.T) {
		e.createPod(t, "bound", nil)
		e.bind(t, "bound", "n1")
		b := e.expectCode(t, http.StatusOK, http.MethodDelete, podPath("bound"), nil)
		got := decode[v1.Pod](t, b)
		if got.Name != "bound" || got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil {
			t.Fatalf("graceful delete answered %s", b)
		}
		if cur := e.getPod(t, "bound"); cur.DeletionTimestamp == nil {
			t.Fatalf("the pod lost its deletionTimestamp")
		}
		// Grace 0 removes it at once.
		b = e.expectCode(t, http.StatusOK, http.MethodDelete, podPath("bound")+"?gracePeriodSeconds=0", nil)
		if got := decode[v1.Pod](t, b); got.Name != "bound" {
			t.Fatalf("delete answered %s", b)
		}
		e.expectStatus(t, http.StatusNotFound, http.MethodGet, podPath("bound"), nil)
		e.expectStatus(t, http.StatusNotFound, http.MethodDelete, podPath("bound"), nil)
	})
	t.Run("grace period in the body", func(t *testing.T) {
		e.createPod(t, "body", nil)
		e.bind(t, "body", "n1")
		e.expectCode(t, http.StatusOK, http.MethodDelete, podPath("body"), `{"kind":"DeleteOptions","apiVersion":"v1","gracePeriodSeconds":0}`)
		e.expectStatus(t, http.StatusNotFound, http.MethodGet, podPath("body"), nil)
	})
	t.Run("bad options", func(t *testing.T) {
		e.createPod(t, "opts", nil)
		e.expectStatus(t, http.StatusBadRequest, http.MethodDelete, podPath("opts")+"?propagationPolicy=Sometimes", nil)
		e.expectStatus(t, http.StatusBadRequest, http.MethodDelete, podPath("opts"), `{"propagationPolicy":"Sometimes"}`)
		e.expectStatus(t, http.StatusBadRequest, http.MethodDelete, podPath("opts")+"?gracePeriodSeconds=-1", nil)
		e.expectStatus(t, http.StatusBadRequest, http.MethodDelete, podPath("opts")+"?gracePeriodSeconds=soon", nil)
		e.expectStatus(t, http.StatusBadRequest, http.MethodDelete, podPath("opts"), `{"bogus":true}`)
		e.getPod(t, "opts")
	})
	t.Run("preconditions", func(t *testing.T) {
		p := e.createPod(t, "pre", nil)
		st := e.expectStatus(t, http.StatusConflict, http.MethodDelete, podPath("pre"), `{"preconditions":{"uid":"not-the-uid"}}`)
		if st.Reason != v1.ReasonConflict {
			t.Errorf("reason %q", st.Reason)
		}
		e.expectStatus(t, http.StatusConflict, http.MethodDelete, podPath("pre"), `{"preconditions":{"resourceVersion":"1"}}`)
		e.getPod(t, "pre")
		e.expectCode(t, http.StatusOK, http.MethodDelete, podPath("pre"),
			`{"preconditions":{"uid":"`+p.UID+`","resourceVersion":"`+p.ResourceVersion+`"}}`)
		e.expectStatus(t, http.StatusNotFound, http.MethodGet, podPath("pre"), nil)
	})
	// The API marks the owner; what happens to its dependents is the
	// garbage collector's (sched), which does not run here.
	finalizersOf := func(t *testing.T, name string) []string {
		t.Helper()
		b := e.expectCode(t, http.StatusOK, http.MethodGet, rcPath(name), nil)
		rc := decode[v1.ReplicationController](t, b)
		if rc.DeletionTimestamp == nil {
			t.Errorf("rc %s has no deletionTimestamp", name)
		}
		return rc.Finalizers
	}
	for _, tc := range []struct {
		name, query, body string
		want              []string // nil: removed at once
	}{
		{name: "orphan", query: "?propagationPolicy=Orphan", want: []string{v1.FinalizerOrphanDependents}},
		{name: "orphanDependents in the body", body: `{"orphanDependents":true}`, want: []string{v1.FinalizerOrphanDependents}},
		{name: "orphanDependents in the query", query: "?orphanDependents=true", want: []string{v1.FinalizerOrphanDependents}},
		{name: "foreground", body: `{"propagationPolicy":"Foreground"}`, want: []string{v1.FinalizerDeleteDependents}},
		{name: "no options: the kind's default (orphan)", want: []string{v1.FinalizerOrphanDependents}},
		{name: "background", body: `{"propagationPolicy":"Background"}`},
		{name: "orphanDependents false", body: `{"orphanDependents":false}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := strings.ToLower(strings.NewReplacer(" ", "", "(", "", ")", "", ":", "", "'", "").Replace(tc.name))
			if len(name) > 40 {
				name = name[:40]
			}
			rc := e.createRC(t, name, 1)
			owned := e.createOwnedPods(t, rc, name+"-a")
			var body any
			if tc.body != "" {
				body = tc.body
			}
			b := e.expectCode(t, http.StatusOK, http.MethodDelete, rcPath(name)+tc.query, body)
			if got := decode[v1.ReplicationController](t, b); got.Name != name {
				t.Fatalf("delete answered %s", b)
			}
			if tc.want == nil {
				e.expectStatus(t, http.StatusNotFound, http.MethodGet, rcPath(name), nil)
			} else if got := finalizersOf(t, name); !slices.Equal(got, tc.want) {
				t.Errorf("finalizers %q, want %q", got, tc.want)
			}
			if p := e.getPod(t, owned[0]); len(p.OwnerReferences) != 1 || p.DeletionTimestamp != nil {
				t.Errorf("the API changed the dependent: %+v", p.ObjectMeta)
			}
		})
	}
	t.Run("orphanDependents false on an object that stays: 202", func(t *testing.T) {
		e.expectCode(t, http.StatusCreated, http.MethodPost, "/api/v1/namespaces/default/services",
			`{"metadata":{"name":"held","finalizers":["example.com/hold"]},"spec":{"ports":[{"port":80}]}}`)
		svc := "/api/v1/namespaces/default/services/held"
		e.expectCode(t, http.StatusAccepted, http.MethodDelete, svc, `{"orphanDependents":false}`)
		e.expectCode(t, http.StatusOK, http.MethodDelete, svc, nil)
		e.expectCode(t, http.StatusOK, http.MethodPatch, svc, `{"metadata":{"finalizers":null}}`, withContentType("application/merge-patch+json"))
		e.expectStatus(t, http.StatusNotFound, http.MethodGet, svc, nil)
		e.createRC(t, "gone", 1)
		e.expectCode(t, http.StatusOK, http.MethodDelete, rcPath("gone"), `{"orphanDependents":false}`)
	})
	t.Run("orphanDependents with a policy", func(t *testing.T) {
		e.createRC(t, "both", 1)
		st := e.expectStatus(t, http.StatusUnprocessableEntity, http.MethodDelete, rcPath("both"), `{"orphanDependents":true,"propagationPolicy":"Foreground"}`)
		if want := `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Invalid value: "Foreground": orphanDependents and deletionPropagation cannot be both set`; st.Message != want {
			t.Errorf("message %q\nwant    %q", st.Message, want)
		}
		e.expectCode(t, http.StatusOK, http.MethodGet, rcPath("both"), nil)
	})
}

func rcPath(name string) string {
	p := "/api/v1/namespaces/default/replicationcontrollers"
	if name != "" {
		p += "/" + name
	}
	return p
}

// createRC creates a replication controller selecting app=name. No
// replication manager runs in these tests, so it creates no pods.
func (e *testEnv) createRC(t *testing.T, name string, replicas int32) *v1.ReplicationController {
	t.Helper()
	rc := &v1.ReplicationController{
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: v1.DefaultNamespace},
		Spec: v1.ReplicationControllerSpec{
			Replicas: &replicas,
			Selector: map[string]string{"app": name},
			Template: &v1.PodTemplateSpec{
				ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": name}},
				Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
			},
		},
	}
	if err := e.admin.Create(testCtx(t), rc); err != nil {
		t.Fatalf("create rc %s: %v", name, err)
	}
	return rc
}

// createOwnedPods creates pods controlled by rc, as its replication manager would.
func (e *testEnv) createOwnedPods(t *testing.T, rc *v1.ReplicationController, names ...string) []string {
	t.Helper()
	yes := true
	for _, name := range names {
		p := newPod(name, map[string]string{"app": rc.Name})
		p.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: rc.Name,
			UID: rc.UID, Controller: &yes, BlockOwnerDeletion: &yes}}
		if err := e.admin.Create(testCtx(t), p); err != nil {
			t.Fatalf("create pod %s: %v", name, err)
		}
		if got := e.getPod(t, name); got.ControllerRef() == nil || got.ControllerRef().UID != rc.UID {
			t.Fatalf("pod %s has no controller reference to %s", name, rc.Name)
		}
	}
	return names
}
