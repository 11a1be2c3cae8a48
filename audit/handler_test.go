package audit

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"
	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// sink collects events.
type sink struct {
	mu     sync.Mutex
	events []*auditv1.Event
}

func (s *sink) Process(ev *auditv1.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

func (s *sink) all() []*auditv1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*auditv1.Event(nil), s.events...)
}

func mustPolicy(t *testing.T, rules string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte("apiVersion: audit.k8s.io/v1\nkind: Policy\n" + rules))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	alice     = &user.DefaultInfo{Name: "alice", UID: "u1", Groups: []string{"dev", user.AllAuthenticated}}
	podCreate = authorizer.AttributesRecord{User: alice, Verb: "create", APIGroup: "", APIVersion: "v1",
		Resource: "pods", Namespace: "default", ResourceRequest: true}
	rcScale = authorizer.AttributesRecord{User: alice, Verb: "update", APIGroup: "", APIVersion: "v1",
		Resource: "replicationcontrollers", Subresource: "scale", Namespace: "default", Name: "web", ResourceRequest: true}
	forbiddenStatus = `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"alice\" cannot create resource \"pods\"","reason":"Forbidden","code":403}` + "\n"
)

// step is what the wrapped handler does for a case.
type step struct {
	user   user.Info
	attrs  authorizer.Attributes
	allow  bool
	reason string
	// read reads the body after authorization.
	read bool
	code int
	body string
}

func (s step) serve(w http.ResponseWriter, r *http.Request) {
	if s.user != nil {
		SetUser(r.Context(), s.user)
	}
	if s.attrs != nil {
		d := authorizer.DecisionNoOpinion
		if s.allow {
			d = authorizer.DecisionAllow
		}
		SetAuthorization(r.Context(), s.attrs, d, s.reason)
	}
	if s.read {
		io.ReadAll(r.Body)
	}
	if s.code != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(s.code)
	}
	io.WriteString(w, s.body)
}

func TestEventContent(t *testing.T) {
	podJSON := `{"metadata":{"name":"p1"},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`
	for _, tc := range []struct {
		name        string
		policy      string
		method, uri string
		body        string
		header      http.Header
		longRunning bool
		maxBody     int
		step        step
		wantStages  []auditv1.Stage
		check       func(t *testing.T, ev *auditv1.Event)
	}{
		{
			name: "allowed create at Metadata", method: "POST", uri: "/api/v1/namespaces/default/pods?fieldManager=kubectl",
			body: podJSON, header: http.Header{"User-Agent": {"orchctl/v0.1"}},
			step:       step{user: alice, attrs: podCreate, allow: true, reason: `RBAC: allowed by RoleBinding "dev"`, read: true, code: 201, body: podJSON},
			wantStages: []auditv1.Stage{auditv1.StageResponseComplete},
			check: func(t *testing.T, ev *auditv1.Event) {
				want(t, "level", ev.Level, auditv1.LevelMetadata)
				want(t, "verb", ev.Verb, "create")
				want(t, "requestURI", ev.RequestURI, "/api/v1/namespaces/default/pods?fieldManager=kubectl")
				want(t, "user", ev.User.Username, "alice")
				want(t, "uid", ev.User.UID, "u1")
				want(t, "groups", strings.Join(ev.User.Groups, ","), "dev,system:authenticated")
				want(t, "userAgent", ev.UserAgent, "orchctl/v0.1")
				want(t, "sourceIPs", strings.Join(ev.SourceIPs, ","), "192.0.2.7")
				want(t, "objectRef", fmt.Sprint(*ev.ObjectRef), fmt.Sprint(auditv1.ObjectReference{Resource: "pods", Namespace: "default", APIVersion: "v1"}))
				want(t, "code", ev.ResponseStatus.Code, int32(201))
				want(t, "message", ev.ResponseStatus.Message, "")
				want(t, "decision", ev.Annotations[DecisionAnnotation], "allow")
				want(t, "reason", ev.Annotations[ReasonAnnotation], `RBAC: allowed by RoleBinding "dev"`)
				if ev.RequestObject != nil || ev.ResponseObject != nil {
					t.Errorf("bodies at Metadata: %v %v", ev.RequestObject, ev.ResponseObject)
				}
			},
		},
		{
			name: "denied", method: "POST", uri: "/api/v1/namespaces/default/pods", body: podJSON,
			step:       step{user: alice, attrs: podCreate, reason: "no rule allows it", code: 403, body: forbiddenStatus},
			wantStages: []auditv1.Stage{auditv1.StageResponseComplete},
			check: func(t *testing.T, ev *auditv1.Event) {
				want(t, "code", ev.ResponseStatus.Code, int32(403))
				want(t, "status", ev.ResponseStatus.Status, "Failure")
				want(t, "reason", string(ev.ResponseStatus.Reason), "Forbidden")
				want(t, "message", ev.ResponseStatus.Message, `pods is forbidden: User "alice" cannot create resource "pods"`)
				want(t, "decision", ev.Annotations[DecisionAnnotation], "forbid")
				want(t, "reason annotation", ev.Annotations[ReasonAnnotation], "no rule allows it")
			},
		},
		{
			name: "unauthenticated", method: "GET", uri: "/api/v1/namespaces/default/pods",
			// A forwarded-for address is listed, the connection's last, as Kubernetes.
			header:     http.Header{"X-Forwarded-For": {"203.0.113.9"}},
			step:       step{code: 401, body: `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`},
			wantStages: []auditv1.Stage{auditv1.StageResponseComplete},
			check: func(t *testing.T, ev *auditv1.Event) {
				want(t, "user", ev.User.Username, "system:anonymous")
				want(t, "sourceIPs", strings.Join(ev.SourceIPs, ","), "203.0.113.9,192.0.2.7")
				want(t, "groups", strings.Join(ev.User.Groups, ","), "system:unauthenticated")
				want(t, "verb", ev.Verb, "get")
				want(t, "code", ev.ResponseStatus.Code, int32(401))
				want(t, "message", ev.ResponseStatus.Message, "Unauthorized")
				if ev.ObjectRef != nil || ev.Annotations != nil {
					t.Errorf("objectRef %v, annotations %v for a request never authorized", ev.ObjectRef, ev.Annotations)
				}
			},
		},
		{
			name: "authenticated, not authorized (discovery)", method: "GET", uri: "/apis",
			step:       step{user: alice, body: `{}`},
			wantStages: []auditv1.Stage{auditv1.StageResponseComplete},
			check: func(t *testing.T, ev *auditv1.Event) {
				want(t, "user", ev.User.Username, "alice")
				want(t, "verb", ev.Verb, "get")
				want(t, "code", ev.ResponseStatus.Code, int32(200))
			},
		},
		{
			name: "an error that is not a Status", method: "GET", uri: "/nothing",
			step:       step{code: 404, body: "404 page not found\n"},
			wantStages: []auditv1.Stage{auditv1.StageResponseComplete},
			check: func(t *testing.T, ev *auditv1.Event) {
				want(t, "code", ev.ResponseStatus.Code, int32(404))
				want(t, "status", ev.ResponseStatus.Status, "Failure")
			},
		},
		{
			name: "health probes are not logged by default", method: "GET", uri: "/healthz",
			step: step{body: "ok"},
		},
		{
			name: "policy None", policy: "rules:\n- level: None\n  users: [alice]\n- level: Metadata\n",
			method: "POST", uri: "/api/v1/namespaces/default/pods", body: podJSON,
			step: step{user: alice, attrs: podCreate, allow: true, read: true, code: 201},
		},
		{
			name: "Request level logs the body", policy: "omitStages: [RequestReceived]\nrules:\n- level: Request\n",
			method: "PUT", uri: "/api/v1/namespaces/default/replicationcontrollers/web/scale", body: `{"spec":{"replicas":3}}`,
			step:       step{user: alice, attrs: rcScale, allow: true, read: true, code: 200, body: `{"spec":{"replicas":3}}`},
			wantStages: []auditv1.Stage{auditv1.StageResponseComplete},
			check: func(t *testing.T, ev *auditv1.Event) {
				want(t, "level", ev.Level, auditv1.LevelRequest)
				want(t, "objectRef", fmt.Sprint(*ev.ObjectRef), fmt.Sprint(auditv1.ObjectReference{Resource: "replicationcontrollers", Subresource: "scale", Namespace: "default", Name: "web", APIVersion: "v1"}))
				if ev.RequestObject == nil || string(ev.RequestObject.Raw) != `{"spec":{"replicas":3}}` {
					t.Errorf("requestObject %v", ev.RequestObject)
				}
				if ev.ResponseObject != nil {
					t.Errorf("responseObject at Request level: %s", ev.ResponseObject.Raw)
				}
			},
		},
		{
			name: "Request level caps the body", policy: "omitStages: [RequestReceived]\nrules:\n- level: Request\n", maxBody: 16,
			method: "POST", uri: "/api/v1/namespaces/default/pods", body: podJSON,
			step:       step{user: alice, attrs: podCreate, allow: true, read: true, code: 201},
			wantStages: []auditv1.Stage{auditv1.StageResponseComplete},
			check: func(t *testing.T, ev *auditv1.Event) {
				if ev.RequestObject != nil {
					t.Errorf("requestObject past the cap: %s", ev.RequestObject.Raw)
				}
				want(t, "truncated", ev.Annotations[TruncatedAnnotation], "requestObject")
			},
		},
		{
			name: "Request level leaves out a body that is not JSON", policy: "omitStages: [RequestReceived]\nrules:\n- level: Request\n",
			method: "POST", uri: "/api/v1/namespaces/default/pods", body: "kind: Pod\n",
			step:       step{user: alice, attrs: podCreate, allow: true, read: true, code: 400},
			wantStages: []auditv1.Stage{auditv1.StageResponseComplete},
			check: func(t *testing.T, ev *auditv1.Event) {
				if ev.RequestObject != nil {
					t.Errorf("requestObject %s", ev.RequestObject.Raw)
				}
			},
		},
		{
			name: "RequestResponse logs both bodies", policy: "omitStages: [RequestReceived]\nrules:\n- level: RequestResponse\n",
			method: "POST", uri: "/api/v1/namespaces/default/pods", body: podJSON,
			step:       step{user: alice, attrs: podCreate, allow: true, read: true, code: 201, body: `{"kind":"Pod"}`},
			wantStages: []auditv1.Stage{auditv1.StageResponseComplete},
			check: func(t *testing.T, ev *auditv1.Event) {
				if ev.RequestObject == nil || string(ev.RequestObject.Raw) != podJSON {
					t.Errorf("requestObject %v", ev.RequestObject)
				}
				if ev.ResponseObject == nil || string(ev.ResponseObject.Raw) != `{"kind":"Pod"}` {
					t.Errorf("responseObject %v", ev.ResponseObject)
				}
			},
		},
		{
			name: "every stage of a long-running request", policy: "rules:\n- level: Metadata\n", longRunning: true,
			method: "GET", uri: "/api/v1/namespaces/default/pods?watch=true",
			step: step{user: alice, attrs: authorizer.AttributesRecord{User: alice, Verb: "watch", APIVersion: "v1", Resource: "pods", Namespace: "default", ResourceRequest: true},
				allow: true, code: 200, body: `{"type":"ADDED"}`},
			wantStages: []auditv1.Stage{auditv1.StageRequestReceived, auditv1.StageResponseStarted, auditv1.StageResponseComplete},
			check: func(t *testing.T, ev *auditv1.Event) {
				want(t, "verb", ev.Verb, "watch")
				if ev.Stage != auditv1.StageRequestReceived {
					want(t, "code", ev.ResponseStatus.Code, int32(200))
				} else if ev.ResponseStatus != nil {
					t.Errorf("RequestReceived carries a response status %v", ev.ResponseStatus)
				}
			},
		},
		{
			name: "a stage the rule omits", policy: "rules:\n- level: Metadata\n  omitStages: [RequestReceived, ResponseStarted]\n", longRunning: true,
			method: "GET", uri: "/api/v1/namespaces/default/pods/p/log?follow=true",
			step: step{user: alice, attrs: authorizer.AttributesRecord{User: alice, Verb: "get", APIVersion: "v1", Resource: "pods", Subresource: "log", Namespace: "default", Name: "p", ResourceRequest: true},
				allow: true, body: "line\n"},
			wantStages: []auditv1.Stage{auditv1.StageResponseComplete},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s sink
			cfg := HandlerConfig{Sink: &s, MaxBodyBytes: tc.maxBody}
			if tc.policy != "" {
				cfg.Policy = mustPolicy(t, tc.policy)
			}
			if tc.longRunning {
				cfg.LongRunning = func(*http.Request) bool { return true }
			}
			h := Handler(http.HandlerFunc(tc.step.serve), cfg)
			req := httptest.NewRequest(tc.method, tc.uri, strings.NewReader(tc.body))
			req.RemoteAddr = "192.0.2.7:4711"
			for k, v := range tc.header {
				req.Header[k] = v
			}
			rr := httptest.NewRecorder()
			h.ServeHTTP(rr, req)
			id := rr.Header().Get(HeaderAuditID)
			if _, err := uuid.Parse(id); err != nil {
				t.Fatalf("Audit-Id %q is not a UUID: %v", id, err)
			}
			evs := s.all()
			var stages []auditv1.Stage
			for _, ev := range evs {
				stages = append(stages, ev.Stage)
				want(t, "auditID", string(ev.AuditID), id)
				want(t, "kind", ev.Kind+" "+ev.APIVersion, "Event audit.k8s.io/v1")
				if ev.StageTimestamp.Before(&ev.RequestReceivedTimestamp) {
					t.Errorf("stage %s at %v, before the request came at %v", ev.Stage, ev.StageTimestamp, ev.RequestReceivedTimestamp)
				}
				if tc.check != nil {
					tc.check(t, ev)
				}
			}
			if !slices.Equal(stages, tc.wantStages) {
				t.Fatalf("stages %v, want %v", stages, tc.wantStages)
			}
		})
	}
}

// TestRequestReceivedComesFirst: the RequestReceived event is sent when
// the request is authorized, before the handler answers.
func TestRequestReceivedComesFirst(t *testing.T) {
	var s sink
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetUser(r.Context(), alice)
		SetAuthorization(r.Context(), podCreate, authorizer.DecisionAllow, "")
		if evs := s.all(); len(evs) != 1 || evs[0].Stage != auditv1.StageRequestReceived || evs[0].Verb != "create" || evs[0].User.Username != "alice" {
			t.Errorf("events when authorized: %v", evs)
		}
		// A later check on the request's behalf does not change it.
		SetAuthorization(r.Context(), rcScale, authorizer.DecisionNoOpinion, "x")
		w.WriteHeader(http.StatusCreated)
	}), HandlerConfig{Sink: &s, Policy: mustPolicy(t, "rules:\n- level: Metadata\n")})
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/api/v1/namespaces/default/pods", nil))
	evs := s.all()
	if len(evs) != 2 || evs[1].Stage != auditv1.StageResponseComplete {
		t.Fatalf("events %v", evs)
	}
	if evs[1].ObjectRef.Resource != "pods" || evs[1].Annotations[DecisionAnnotation] != "allow" {
		t.Errorf("the second authorization changed the event: %+v", evs[1])
	}
}

// TestSetObject: the object a create wrote names the objectRef the path
// could not, but does not rename what the path named.
func TestSetObject(t *testing.T) {
	for _, tc := range []struct {
		name  string
		attrs authorizer.AttributesRecord
		want  auditv1.ObjectReference
	}{
		{"create", podCreate, auditv1.ObjectReference{Resource: "pods", Namespace: "default", Name: "p1", UID: "uid-1", APIVersion: "v1"}},
		{"named by the path", rcScale, auditv1.ObjectReference{Resource: "replicationcontrollers", Subresource: "scale", Namespace: "default", Name: "web", UID: "uid-1", APIVersion: "v1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var s sink
			h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				SetAuthorization(r.Context(), tc.attrs, authorizer.DecisionAllow, "")
				SetObject(r.Context(), "other", "p1", "uid-1")
				w.WriteHeader(http.StatusCreated)
			}), HandlerConfig{Sink: &s})
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/x", nil))
			evs := s.all()
			if len(evs) != 1 || evs[0].ObjectRef == nil || *evs[0].ObjectRef != tc.want {
				t.Fatalf("events %+v, want objectRef %+v", evs, tc.want)
			}
		})
	}
}

func TestPanicIsLogged(t *testing.T) {
	var s sink
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetUser(r.Context(), alice)
		panic("boom")
	}), HandlerConfig{Sink: &s})
	func() {
		defer func() {
			if p := recover(); p != "boom" {
				t.Errorf("recovered %v, want the handler's panic", p)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/api", nil))
	}()
	evs := s.all()
	if len(evs) != 1 || evs[0].Stage != auditv1.StagePanic || evs[0].ResponseStatus.Code != 500 ||
		!strings.Contains(evs[0].ResponseStatus.Message, "boom") || evs[0].User.Username != "alice" {
		t.Fatalf("events %+v", evs)
	}
}

// TestEventJSON: an event is written in the audit.k8s.io/v1 shape.
func TestEventJSON(t *testing.T) {
	var s sink
	h := Handler(http.HandlerFunc(step{user: alice, attrs: podCreate, code: 403, body: forbiddenStatus}.serve), HandlerConfig{Sink: &s})
	req := httptest.NewRequest("POST", "/api/v1/namespaces/default/pods", nil)
	req.Header.Set("User-Agent", "kubectl/v1.32")
	h.ServeHTTP(httptest.NewRecorder(), req)
	evs := s.all()
	if len(evs) != 1 {
		t.Fatalf("events %v", evs)
	}
	b, err := json.Marshal(evs[0])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"kind", "apiVersion", "level", "auditID", "stage", "requestURI", "verb", "user", "sourceIPs",
		"userAgent", "objectRef", "responseStatus", "requestReceivedTimestamp", "stageTimestamp", "annotations"} {
		if _, ok := m[k]; !ok {
			t.Errorf("no %q in %s", k, b)
		}
	}
	rs, _ := m["responseStatus"].(map[string]any)
	if rs["code"] != float64(403) || rs["reason"] != "Forbidden" {
		t.Errorf("responseStatus %v", rs)
	}
}

func want[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

// TestFlushStartsTheResponse: a long-running handler that flushes its
// header before any body has started its response (ResponseStarted).
func TestFlushStartsTheResponse(t *testing.T) {
	var s sink
	h := Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		SetUser(r.Context(), alice)
		http.NewResponseController(w).Flush()
		if evs := s.all(); len(evs) != 1 || evs[0].Stage != auditv1.StageResponseStarted || evs[0].ResponseStatus.Code != 200 {
			t.Errorf("events after the first flush: %+v", evs)
		}
	}), HandlerConfig{Sink: &s, LongRunning: func(*http.Request) bool { return true }})
	rr := httptest.NewRecorder()
	h.ServeHTTP(rr, httptest.NewRequest("GET", "/api/v1/pods?watch=1", nil))
	if !rr.Flushed {
		t.Error("the flush did not reach the connection")
	}
	if evs := s.all(); len(evs) != 2 || evs[1].Stage != auditv1.StageResponseComplete {
		t.Fatalf("events %+v", evs)
	}
}
