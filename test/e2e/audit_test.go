package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	auditv1 "k8s.io/apiserver/pkg/apis/audit/v1"
	"k8s.io/apiserver/pkg/authentication/user"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
	"orch.io/orch/test/harness"
)

// auditRequest is one request of TestAuditLog and what its event must say.
type auditRequest struct {
	name         string
	method, path string
	body         any
	client       *http.Client
	token        string
	code         int
	user         string
	verb         string
	objectRef    *auditv1.ObjectReference
	decision     string
}

// TestAuditLog: every request to a master, by the admin, by certificate
// users allowed and denied, and without a credential, is one line in that
// master's audit log (and in no other master's, though a follower forwards
// its writes to the leader) with its user, verb, objectRef, code and the
// authorization decision.
func TestAuditLog(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{AuditLog: true})
	b, err := pki.Load(c.PKIDir)
	if err != nil {
		t.Fatal(err)
	}
	leader := c.WaitLeader(30 * time.Second)
	m := (leader + 1) % len(c.Masters) // a follower: its writes are forwarded
	base := c.Masters[m].URL()
	tlsCfg := tlsConfig(t, b.CAPEM)
	plain := httpClient(t, tlsCfg)
	ca, err := pki.LoadClusterCA(c.PKIDir)
	if err != nil {
		t.Fatal(err)
	}
	certClient := func(cn string, orgs ...string) *http.Client {
		certPEM, keyPEM, err := ca.NewClientKeyPair(pki.ClientCertificate{CommonName: cn, Organizations: orgs, Validity: time.Hour}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg := tlsCfg.Clone()
		cfg.Certificates = []tls.Certificate{pair}
		return httpClient(t, cfg)
	}
	alice := certClient("alice", "dev")
	ops := certClient("ops", user.SystemPrivilegedGroup)
	podRef := func(name string) *auditv1.ObjectReference {
		return &auditv1.ObjectReference{Resource: "pods", Namespace: "default", Name: name, APIVersion: "v1"}
	}
	pods := "/api/v1/namespaces/default/pods"
	reqs := []auditRequest{
		{name: "admin creates a pod", method: "POST", path: pods, body: testPod("audited"), token: b.AdminToken,
			code: 201, user: "admin", verb: "create", objectRef: podRef("audited"), decision: "allow"},
		{name: "admin reads it", method: "GET", path: pods + "/audited", token: b.AdminToken,
			code: 200, user: "admin", verb: "get", objectRef: podRef("audited"), decision: "allow"},
		{name: "a system:masters certificate lists pods", method: "GET", path: pods, client: ops,
			code: 200, user: "ops", verb: "list", objectRef: podRef(""), decision: "allow"},
		{name: "a certificate user may not delete", method: "DELETE", path: pods + "/audited", client: alice,
			code: 403, user: "alice", verb: "delete", objectRef: podRef("audited"), decision: "forbid"},
		{name: "nor read /metrics", method: "GET", path: "/metrics", client: alice,
			code: 403, user: "alice", verb: "get", decision: "forbid"},
		{name: "the admin reads /metrics", method: "GET", path: "/metrics", token: b.AdminToken,
			code: 200, user: "admin", verb: "get", decision: "allow"},
		{name: "no credential", method: "GET", path: pods, code: 401, user: user.Anonymous, verb: "get"},
		{name: "a wrong token", method: "DELETE", path: pods + "/audited", token: "guess", code: 401, user: user.Anonymous, verb: "delete"},
	}
	ids := make([]string, len(reqs))
	for i, r := range reqs {
		hc := r.client
		if hc == nil {
			hc = plain
		}
		var body io.Reader
		if r.body != nil {
			raw, err := json.Marshal(r.body)
			if err != nil {
				t.Fatal(err)
			}
			body = bytes.NewReader(raw)
		}
		req, err := http.NewRequestWithContext(ctxT(t, 10*time.Second), r.method, base+r.path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		if r.token != "" {
			req.Header.Set("Authorization", "Bearer "+r.token)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != r.code {
			t.Fatalf("%s: HTTP %d, want %d", r.name, resp.StatusCode, r.code)
		}
		if ids[i] = resp.Header.Get("Audit-Id"); ids[i] == "" {
			t.Fatalf("%s: no Audit-Id header", r.name)
		}
	}

	// Every event reaches the file while the master runs (the writer
	// flushes when its queue is idle).
	events := map[string][]auditv1.Event{}
	deadline := time.Now().Add(15 * time.Second)
	for {
		events = map[string][]auditv1.Event{}
		for j, mm := range c.Masters {
			for _, ev := range readAuditLog(t, mm.AuditLogPath) {
				if j != m && slices.Contains(ids, string(ev.AuditID)) {
					t.Fatalf("master %s logged the request %s sent to master %s", mm.Name, ev.AuditID, c.Masters[m].Name)
				}
				events[string(ev.AuditID)] = append(events[string(ev.AuditID)], ev)
			}
		}
		missing := 0
		for _, id := range ids {
			if len(events[id]) == 0 {
				missing++
			}
		}
		if missing == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d requests are not in the audit log", missing, len(ids))
		}
		time.Sleep(50 * time.Millisecond)
	}
	for i, r := range reqs {
		evs := events[ids[i]]
		if len(evs) != 1 {
			t.Errorf("%s: %d events, want 1: %+v", r.name, len(evs), evs)
			continue
		}
		ev := evs[0]
		if ev.Stage != auditv1.StageResponseComplete || ev.Level != auditv1.LevelMetadata || ev.RequestURI != r.path {
			t.Errorf("%s: stage %s level %s URI %s", r.name, ev.Stage, ev.Level, ev.RequestURI)
		}
		if ev.User.Username != r.user || ev.Verb != r.verb || ev.ResponseStatus == nil || int(ev.ResponseStatus.Code) != r.code {
			t.Errorf("%s: user %q verb %q status %+v, want %q %q %d", r.name, ev.User.Username, ev.Verb, ev.ResponseStatus, r.user, r.verb, r.code)
		}
		switch {
		case r.objectRef == nil && ev.ObjectRef != nil:
			t.Errorf("%s: objectRef %+v, want none", r.name, *ev.ObjectRef)
		case r.objectRef != nil && ev.ObjectRef == nil:
			t.Errorf("%s: no objectRef, want %+v", r.name, *r.objectRef)
		case r.objectRef != nil:
			got := *ev.ObjectRef
			got.UID = "" // a create's is the new object's
			if got != *r.objectRef {
				t.Errorf("%s: objectRef %+v, want %+v", r.name, got, *r.objectRef)
			}
		}
		if d := ev.Annotations["authorization.k8s.io/decision"]; d != r.decision {
			t.Errorf("%s: decision %q, want %q", r.name, d, r.decision)
		}
		if r.code >= 400 && ev.ResponseStatus != nil && ev.ResponseStatus.Message == "" {
			t.Errorf("%s: a failure without its message", r.name)
		}
		if len(ev.SourceIPs) == 0 || ev.SourceIPs[0] != "127.0.0.1" {
			t.Errorf("%s: sourceIPs %v", r.name, ev.SourceIPs)
		}
	}
	if ev := events[ids[3]][0]; !strings.Contains(ev.ResponseStatus.Message, `User "alice" cannot delete resource "pods"`) {
		t.Errorf("the denial's message %q", ev.ResponseStatus.Message)
	}
	fi, err := os.Stat(c.Masters[m].AuditLogPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("audit log mode %v, want 0600", fi.Mode().Perm())
	}
	// The master counts what it wrote and dropped.
	var raw []byte
	if err := c.Client(m).Do(ctxT(t, 5*time.Second), "GET", "/metrics", nil, nil, &raw); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`orch_audit_events_dropped_total{reason="queue_full"} 0`, `orch_audit_events_total `} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// The pod really exists: the write went through the leader.
	var pod v1.Pod
	if err := c.Client(leader).Get(ctxT(t, 5*time.Second), "pods", "default", "audited", &pod); err != nil {
		t.Fatalf("the audited create did not happen: %v", err)
	}
}

func httpClient(t *testing.T, cfg *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: cfg}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// readAuditLog decodes every line of an audit log; a line that is not an
// event fails the test, but for a last line without its newline, which
// the writer may be in the middle of.
func readAuditLog(t *testing.T, path string) []auditv1.Event {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(raw, []byte("\n"))
	lines = lines[:len(lines)-1] // after the last newline: nothing, or a partial line
	var evs []auditv1.Event
	for _, line := range lines {
		var ev auditv1.Event
		if err := json.Unmarshal(line, &ev); err != nil {
			t.Fatalf("%s: a line is not an event: %v: %.300s", path, err, line)
		}
		if ev.Kind != "Event" || ev.APIVersion != "audit.k8s.io/v1" {
			t.Fatalf("%s: %s %s is not an audit.k8s.io/v1 Event", path, ev.APIVersion, ev.Kind)
		}
		evs = append(evs, ev)
	}
	return evs
}
