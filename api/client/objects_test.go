package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestStatusErrorDecoding(t *testing.T) {
	invalid := v1.NewInvalid("Pod", "web", []v1.StatusCause{
		{Type: "FieldValueRequired", Field: "spec.containers[0].image", Message: "spec.containers[0].image: Required value"},
	})
	tests := []struct {
		name    string
		handler http.HandlerFunc
		check   func(error) bool
		code    int
		message string
	}{
		{"status 404", func(w http.ResponseWriter, r *http.Request) { writeStatus(w, v1.NewNotFound("pods", "web")) },
			v1.IsNotFound, 404, `pods "web" not found`},
		{"status 409 conflict", func(w http.ResponseWriter, r *http.Request) {
			writeStatus(w, v1.NewConflict("pods", "web", "the object has been modified"))
		}, v1.IsConflict, 409, "Operation cannot be fulfilled"},
		{"status 409 exists", func(w http.ResponseWriter, r *http.Request) { writeStatus(w, v1.NewAlreadyExists("pods", "web")) },
			v1.IsAlreadyExists, 409, "already exists"},
		{"status 422", func(w http.ResponseWriter, r *http.Request) { writeStatus(w, invalid) },
			v1.IsInvalid, 422, "is invalid"},
		{"status 410", func(w http.ResponseWriter, r *http.Request) { writeStatus(w, v1.NewGone("too old")) },
			v1.IsGone, 410, "too old"},
		{"plain text 404", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "404 page not found", 404) },
			v1.IsNotFound, 404, "404 page not found"},
		{"plain text 500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) },
			func(err error) bool { return v1.ReasonOf(err) == v1.ReasonInternalError }, 500, "boom"},
		{"status without code", func(w http.ResponseWriter, r *http.Request) {
			writeJSON(w, 403, v1.Status{TypeMeta: v1.TypeMeta{Kind: "Status"}, Message: "nope"})
		}, func(err error) bool { return v1.ReasonOf(err) == v1.ReasonForbidden }, 403, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := httptest.NewTLSServer(tt.handler)
			defer s.Close()
			c := newTestClient(t, s, s.URL)
			err := c.Get(testCtx(t), "po", "default", "web", &v1.Pod{})
			var se *v1.StatusError
			if !errors.As(err, &se) {
				t.Fatalf("err = %#v, want *v1.StatusError", err)
			}
			if !tt.check(err) || v1.CodeOf(err) != tt.code || !strings.Contains(se.Error(), tt.message) {
				t.Fatalf("err = %q (reason %q code %d), want code %d containing %q",
					se.Error(), se.Status.Reason, se.Status.Code, tt.code, tt.message)
			}
		})
	}
	t.Run("causes kept", func(t *testing.T) {
		se := decodeStatusError(422, mustJSON(t, invalid.Status))
		if se.Status.Details == nil || len(se.Status.Details.Causes) != 1 || se.Status.Details.Causes[0].Field != "spec.containers[0].image" {
			t.Fatalf("details = %+v", se.Status.Details)
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestResourcePath(t *testing.T) {
	tests := []struct {
		resource, ns, name string
		sub                []string
		want               string
		wantErr            bool
	}{
		{"pods", "default", "web", nil, "/api/v1/namespaces/default/pods/web", false},
		{"po", "default", "", nil, "/api/v1/namespaces/default/pods", false},
		{"Pod", "", "", nil, "/api/v1/pods", false},
		{"rc", "prod", "web", []string{"scale"}, "/api/v1/namespaces/prod/replicationcontrollers/web/scale", false},
		{"nodes", "ignored", "n1", []string{"status"}, "/api/v1/nodes/n1/status", false},
		{"ns", "", "kube", nil, "/api/v1/namespaces/kube", false},
		{"pods", "", "web", nil, "", true},
		{"pods", "default", "", []string{"status"}, "", true},
		{"widgets", "default", "", nil, "", true},
	}
	for _, tt := range tests {
		got, err := ResourcePath(tt.resource, tt.ns, tt.name, tt.sub...)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ResourcePath(%q, %q, %q, %v) = %q, %v; want %q (error %v)",
				tt.resource, tt.ns, tt.name, tt.sub, got, err, tt.want, tt.wantErr)
		}
	}
}

// recorded is what a fake server saw of one request.
type recorded struct {
	method, path, query, contentType string
	body                             []byte
}

// recorder keeps the requests a fake server saw.
type recorder struct {
	mu   sync.Mutex
	seen []recorded
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.seen...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen = nil
}

func recordingServer(t *testing.T, reply func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *recorder) {
	t.Helper()
	rec := &recorder{}
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.seen = append(rec.seen, recorded{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"), b})
		rec.mu.Unlock()
		reply(w, r)
	}))
	t.Cleanup(s.Close)
	return s, rec
}

func TestObjectVerbs(t *testing.T) {
	s, rec := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasSuffix(r.URL.Path, "/scale"):
			writeJSON(w, 200, v1.Scale{ObjectMeta: v1.ObjectMeta{Name: "web"}, Spec: v1.ScaleSpec{Replicas: 5}})
		case r.URL.Path == "/orch/v1/members":
			writeJSON(w, 200, Members{Leader: "m1", Members: []Member{{Name: "m1", State: "leader", Voter: true, LastIndex: 9}}})
		case r.URL.Path == "/version":
			writeJSON(w, 200, VersionInfo{Major: "1", Minor: "0", GitVersion: "v0.1.0", Platform: "linux/amd64"})
		default:
			writeJSON(w, 200, testPod("web", "12"))
		}
	})
	c := newTestClient(t, s, s.URL)
	ctx := testCtx(t)

	// Update fills the object and zeroes fields the answer omits.
	p := testPod("web", "11")
	p.Labels = map[string]string{"stale": "yes"}
	if err := c.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	if p.ResourceVersion != "12" || p.Labels != nil {
		t.Fatalf("Update result = %+v", p.ObjectMeta)
	}
	if err := c.UpdateStatus(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := c.Patch(ctx, "pods", "default", "web", []byte(`{"metadata":{"labels":{"a":"b"}}}`), nil); err != nil {
		t.Fatal(err)
	}
	grace := int64(0)
	raw, err := c.Delete(ctx, "pods", "default", "web", &v1.DeleteOptions{GracePeriodSeconds: &grace, PropagationPolicy: v1.PropagationOrphan})
	if err != nil || !strings.Contains(string(raw), `"web"`) {
		t.Fatalf("Delete = %s, %v", raw, err)
	}
	if err := c.Get(ctx, "pods", "default", "web", &v1.Pod{}, Stale()); err != nil {
		t.Fatal(err)
	}
	if err := c.Scale(ctx, "default", "web", 5); err != nil {
		t.Fatal(err)
	}
	m, err := c.Members(ctx)
	if err != nil || m.Leader != "m1" || len(m.Members) != 1 || m.Members[0].LastIndex != 9 {
		t.Fatalf("Members = %+v, %v", m, err)
	}
	v, err := c.Version(ctx)
	if err != nil || v.GitVersion != "v0.1.0" {
		t.Fatalf("Version = %+v, %v", v, err)
	}

	want := []recorded{
		{method: "PUT", path: "/api/v1/namespaces/default/pods/web", contentType: "application/json"},
		{method: "PUT", path: "/api/v1/namespaces/default/pods/web/status", contentType: "application/json"},
		{method: "PATCH", path: "/api/v1/namespaces/default/pods/web", contentType: "application/merge-patch+json"},
		{method: "DELETE", path: "/api/v1/namespaces/default/pods/web", query: "gracePeriodSeconds=0&propagationPolicy=Orphan", contentType: "application/json"},
		{method: "GET", path: "/api/v1/namespaces/default/pods/web", query: "stale=true"},
		{method: "PUT", path: "/api/v1/namespaces/default/replicationcontrollers/web/scale", contentType: "application/json"},
		{method: "GET", path: "/orch/v1/members"},
		{method: "GET", path: "/version"},
	}
	seen := rec.all()
	if len(seen) != len(want) {
		t.Fatalf("saw %d requests, want %d", len(seen), len(want))
	}
	for i, w := range want {
		g := seen[i]
		if g.method != w.method || g.path != w.path || g.query != w.query || g.contentType != w.contentType {
			t.Errorf("request %d = %s %s?%s (%s), want %s %s?%s (%s)", i, g.method, g.path, g.query, g.contentType,
				w.method, w.path, w.query, w.contentType)
		}
	}
	var put v1.Pod
	if err := json.Unmarshal(seen[0].body, &put); err != nil || put.ResourceVersion != "11" || put.Kind != "Pod" {
		t.Fatalf("PUT body = %s", seen[0].body)
	}
	var del v1.DeleteOptions
	if err := json.Unmarshal(seen[3].body, &del); err != nil || del.PropagationPolicy != "Orphan" || del.Kind != "DeleteOptions" {
		t.Fatalf("DELETE body = %s", seen[3].body)
	}
	var sc v1.Scale
	if err := json.Unmarshal(seen[5].body, &sc); err != nil || sc.Spec.Replicas != 5 || sc.Name != "web" {
		t.Fatalf("scale body = %s", seen[5].body)
	}
}

func TestListTypedFollowsPages(t *testing.T) {
	s, rec := recordingServer(t, func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		page, _ := strconv.Atoi(q.Get("continue"))
		items := []*v1.Pod{testPod(fmt.Sprintf("p%d", 2*page), ""), testPod(fmt.Sprintf("p%d", 2*page+1), "")}
		l := v1.List[*v1.Pod]{TypeMeta: v1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, Items: items}
		l.ListMeta.ResourceVersion = strconv.Itoa(100 + page)
		if page < 2 {
			l.ListMeta.Continue = strconv.Itoa(page + 1)
		}
		writeJSON(w, 200, l)
	})
	c := newTestClient(t, s, s.URL)
	pods, rv, err := ListTyped[v1.Pod](testCtx(t), c, "pods", "", ListOptions{Limit: 2, LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	if len(pods) != 6 || pods[5].Name != "p5" || rv != "100" {
		t.Fatalf("got %d pods, rv %q", len(pods), rv)
	}
	seen := rec.all()
	if len(seen) != 3 || seen[0].path != "/api/v1/pods" || seen[1].query != "continue=1&labelSelector=app%3Dweb&limit=2" {
		t.Fatalf("requests = %+v", seen)
	}
	// Without a limit only one page is read.
	rec.reset()
	if _, _, err := ListTyped[v1.Pod](testCtx(t), c, "pods", "default", ListOptions{}); err != nil || len(rec.all()) != 1 {
		t.Fatalf("err %v, %d requests", err, len(rec.all()))
	}
}
