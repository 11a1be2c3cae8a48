package apiserver

import (
	"crypto/tls"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"orch.io/orch/audit"
	"orch.io/orch/pki"
)

// auditSink collects the server's audit events.
type auditSink struct {
	mu     sync.Mutex
	events []*auditv1.Event
}

func (s *auditSink) Process(ev *auditv1.Event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
}

// of returns the events of one audit ID.
func (s *auditSink) of(id string) []*auditv1.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*auditv1.Event
	for _, ev := range s.events {
		if string(ev.AuditID) == id {
			out = append(out, ev)
		}
	}
	return out
}

// wait returns the one event of id, polling until it is there.
func (s *auditSink) wait(t *testing.T, id string) *auditv1.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if evs := s.of(id); len(evs) > 0 {
			if len(evs) != 1 {
				t.Fatalf("%d events for audit ID %s, want 1: %+v", len(evs), id, evs)
			}
			return evs[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event for %s", id)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// certHTTP is a raw HTTP client presenting a client certificate of the
// cluster CA for cn/orgs.
func (e *testEnv) certHTTP(t *testing.T, cn string, orgs ...string) *http.Client {
	t.Helper()
	ca, err := pki.LoadClusterCA(e.bundle.Dir)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.NewClientKeyPair(pki.ClientCertificate{CommonName: cn, Organizations: orgs, Validity: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg := e.tlsConfig.Clone()
	cfg.Certificates = []tls.Certificate{pair}
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// TestAuditLog: each request is one event with its user, verb, objectRef,
// code and the authorization decision; the health probes and the masters'
// internal endpoints are not logged.
func TestAuditLog(t *testing.T) {
	sink := &auditSink{}
	alicePods := recordingAuthorizer{seen: make(chan authorizer.Attributes, 1), allow: func(a authorizer.Attributes) bool {
		return a.GetUser().GetName() == "alice" && a.GetVerb() == "list" && a.GetResource() == "pods"
	}}
	e := newTestEnv(t, withServerConfig(func(c *Config) {
		c.AuditSink = sink
		c.Authorizers = append(c.Authorizers, alicePods)
	}))
	alice := e.certHTTP(t, "alice", "dev")
	admins := []string{user.SystemPrivilegedGroup, user.AllAuthenticated}
	pods := &auditv1.ObjectReference{Resource: "pods", Namespace: "default", APIVersion: "v1"}
	for _, tc := range []struct {
		name, method, path string
		body               any
		client             *http.Client
		opts               []reqOpt
		code               int
		user               string
		groups             []string
		verb               string
		objectRef          *auditv1.ObjectReference
		decision, message  string
	}{
		{name: "admin creates", method: "POST", path: podPath(""), body: newPod("a1", nil), code: 201,
			user: "admin", groups: admins, verb: "create", decision: "allow",
			// The name comes from the created object, as Kubernetes' from the request object.
			objectRef: &auditv1.ObjectReference{Resource: "pods", Namespace: "default", Name: "a1", APIVersion: "v1"}},
		{name: "admin gets", method: "GET", path: podPath("a1"), code: 200,
			user: "admin", groups: admins, verb: "get", objectRef: &auditv1.ObjectReference{Resource: "pods", Namespace: "default", Name: "a1", APIVersion: "v1"}, decision: "allow"},
		{name: "admin patches status", method: "PATCH", path: podPath("a1") + "/status", body: map[string]any{"status": map[string]any{"phase": "Running"}},
			opts: []reqOpt{withContentType("application/merge-patch+json")}, code: 200, user: "admin", groups: admins, verb: "patch",
			objectRef: &auditv1.ObjectReference{Resource: "pods", Subresource: "status", Namespace: "default", Name: "a1", APIVersion: "v1"}, decision: "allow"},
		{name: "certificate user allowed", method: "GET", path: podPath(""), client: alice, code: 200,
			user: "alice", groups: []string{"dev", user.AllAuthenticated}, verb: "list", objectRef: pods, decision: "allow"},
		{name: "certificate user denied", method: "DELETE", path: podPath("a1"), client: alice, code: 403,
			user: "alice", groups: []string{"dev", user.AllAuthenticated}, verb: "delete",
			objectRef: &auditv1.ObjectReference{Resource: "pods", Namespace: "default", Name: "a1", APIVersion: "v1"}, decision: "forbid",
			message: `pods "a1" is forbidden: User "alice" cannot delete resource "pods" in API group "" in the namespace "default"`},
		{name: "unauthenticated", method: "GET", path: podPath(""), opts: []reqOpt{withToken("")}, code: 401,
			user: user.Anonymous, groups: []string{user.AllUnauthenticated}, verb: "get",
			message: "Unauthorized: a valid bearer token or client certificate is required"},
		{name: "bad token", method: "DELETE", path: podPath("a1"), opts: []reqOpt{withToken("guess")}, code: 401,
			user: user.Anonymous, groups: []string{user.AllUnauthenticated}, verb: "delete", message: "Unauthorized: the credential is not valid"},
		{name: "metrics", method: "GET", path: "/metrics", code: 200, user: "admin", groups: admins, verb: "get", decision: "allow"},
		{name: "metrics denied", method: "GET", path: "/metrics", client: alice, code: 403, user: "alice",
			groups: []string{"dev", user.AllAuthenticated}, verb: "get", decision: "forbid", message: `forbidden: User "alice" cannot get path "/metrics"`},
		{name: "discovery", method: "GET", path: "/api/v1", code: 200, user: "admin", groups: admins, verb: "get"},
		{name: "unknown resource", method: "GET", path: "/api/v1/namespaces/default/widgets", code: 404, user: "admin", groups: admins, verb: "get",
			message: `resource "widgets" not found`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hc := tc.client
			if hc == nil {
				hc = e.http
			}
			opts := tc.opts
			if tc.client != nil {
				opts = append(opts, withToken(""))
			}
			resp := e.send(t, hc, tc.method, tc.path+"?timeout=10s", tc.body, opts...)
			resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("HTTP %d, want %d", resp.StatusCode, tc.code)
			}
			id := resp.Header.Get(audit.HeaderAuditID)
			ev := sink.wait(t, id)
			if ev.Stage != auditv1.StageResponseComplete || ev.Level != auditv1.LevelMetadata {
				t.Errorf("stage %s level %s", ev.Stage, ev.Level)
			}
			if ev.User.Username != tc.user || strings.Join(ev.User.Groups, ",") != strings.Join(tc.groups, ",") {
				t.Errorf("user %q %v, want %q %v", ev.User.Username, ev.User.Groups, tc.user, tc.groups)
			}
			if ev.Verb != tc.verb || ev.RequestURI != tc.path+"?timeout=10s" {
				t.Errorf("verb %q URI %q", ev.Verb, ev.RequestURI)
			}
			switch {
			case tc.objectRef == nil && ev.ObjectRef != nil:
				t.Errorf("objectRef %+v, want none", *ev.ObjectRef)
			case tc.objectRef != nil && ev.ObjectRef == nil:
				t.Errorf("no objectRef, want %+v", *tc.objectRef)
			case tc.objectRef != nil:
				got := *ev.ObjectRef
				if (got.UID != "") != (tc.verb == "create") {
					t.Errorf("objectRef uid %q for a %s", got.UID, tc.verb)
				}
				got.UID = ""
				if got != *tc.objectRef {
					t.Errorf("objectRef %+v, want %+v", got, *tc.objectRef)
				}
			}
			if ev.ResponseStatus == nil || int(ev.ResponseStatus.Code) != tc.code || ev.ResponseStatus.Message != tc.message {
				t.Errorf("responseStatus %+v, want code %d message %q", ev.ResponseStatus, tc.code, tc.message)
			}
			if got := ev.Annotations[audit.DecisionAnnotation]; got != tc.decision {
				t.Errorf("decision %q, want %q", got, tc.decision)
			}
			if len(ev.SourceIPs) != 1 || ev.SourceIPs[0] != "127.0.0.1" {
				t.Errorf("sourceIPs %v", ev.SourceIPs)
			}
		})
	}

	// Not logged by the default policy: the health probes.
	for _, p := range []string{"/healthz", "/readyz"} {
		resp := e.send(t, e.http, "GET", p, nil, withToken(""))
		resp.Body.Close()
		id := resp.Header.Get(audit.HeaderAuditID)
		if id == "" {
			t.Fatalf("%s has no Audit-Id", p)
		}
		// The connection serves one request at a time: once a later
		// request's event is in, this one's would be too.
		next := e.send(t, e.http, "GET", "/version", nil)
		next.Body.Close()
		sink.wait(t, next.Header.Get(audit.HeaderAuditID))
		if evs := sink.of(id); len(evs) != 0 {
			t.Errorf("%s logged: %+v", p, evs)
		}
	}
}

// TestAuditLongRunning: a watch is logged when its response starts and
// again when it ends, as Kubernetes logs long-running requests.
func TestAuditLongRunning(t *testing.T) {
	sink := &auditSink{}
	e := newTestEnv(t, withServerConfig(func(c *Config) { c.AuditSink = sink }))
	resp := e.send(t, e.http, "GET", podPath("")+"?watch=true&timeoutSeconds=1", nil)
	id := resp.Header.Get(audit.HeaderAuditID)
	// The response has started: its first event is in before the watch ends.
	deadline := time.Now().Add(10 * time.Second)
	for len(sink.of(id)) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no ResponseStarted event while the watch is open")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if evs := sink.of(id); len(evs) != 1 || evs[0].Stage != auditv1.StageResponseStarted || evs[0].Verb != "watch" || evs[0].ResponseStatus.Code != 200 {
		t.Fatalf("events of an open watch: %+v", evs)
	}
	io.Copy(io.Discard, resp.Body) // until the server ends it
	resp.Body.Close()
	for len(sink.of(id)) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("no ResponseComplete event after the watch ended")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if evs := sink.of(id); len(evs) != 2 || evs[1].Stage != auditv1.StageResponseComplete || evs[1].ObjectRef.Resource != "pods" {
		t.Fatalf("events of a finished watch: %+v", evs)
	}
}
