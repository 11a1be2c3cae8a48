package apiserver

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"

	v1 "orch.io/orch/api/v1"
)

func TestUnauthenticatedEndpoints(t *testing.T) {
	e := newTestEnv(t)
	for _, p := range []string{"/healthz", "/readyz"} {
		if b := e.expectCode(t, http.StatusOK, http.MethodGet, p, nil, withToken("")); string(b) != "ok" {
			t.Errorf("GET %s = %q, want ok", p, b)
		}
	}
	b := e.expectCode(t, http.StatusOK, http.MethodGet, "/version", nil, withToken(""))
	v := decode[map[string]string](t, b)
	if v["major"] != "0" || v["minor"] != "1" || v["gitVersion"] != "v0.1.0" || v["gitTreeState"] != "clean" ||
		v["emulationMinor"] != "1" || v["buildDate"] == "" || v["compiler"] == "" || v["platform"] == "" {
		t.Errorf("GET /version = %s", b)
	}
	// Everything else needs a token, /metrics too.
	for _, p := range []string{"/metrics", "/api", "/apis", "/api/v1", "/orch/v1/members", podPath("")} {
		e.expectStatus(t, http.StatusUnauthorized, http.MethodGet, p, nil, withToken(""))
	}
}

// TestMetricsNeedACredential: /metrics answers the admin (system:masters)
// and refuses an authenticated user nobody allows to get it, with
// Kubernetes' wording for a non-resource path, and one without a
// credential.
func TestMetricsNeedACredential(t *testing.T) {
	e := newTestEnv(t)
	if b := e.expectCode(t, http.StatusOK, http.MethodGet, "/metrics", nil); !strings.Contains(string(b), "orch_api_requests_total") {
		t.Errorf("/metrics lacks orch_api_requests_total")
	}
	e.expectStatus(t, http.StatusUnauthorized, http.MethodGet, "/metrics", nil, withToken(""))
	e.expectStatus(t, http.StatusUnauthorized, http.MethodGet, "/metrics", nil, withToken("not-a-token"))
	var raw []byte
	err := e.certClient(t, "eve", "dev").Do(testCtx(t), http.MethodGet, "/metrics", nil, nil, &raw)
	wantForbidden(t, err, `forbidden: User "eve" cannot get path "/metrics"`)
	if err := e.certClient(t, "prometheus", user.SystemPrivilegedGroup).Do(testCtx(t), http.MethodGet, "/metrics", nil, nil, &raw); err != nil {
		t.Errorf("a system:masters certificate reads /metrics: %v", err)
	}
}

func TestMembers(t *testing.T) {
	e := newTestEnv(t)
	m, err := e.admin.Members(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if m.Leader != "m1" || len(m.Members) != 1 || m.Members[0].Name != "m1" || m.Members[0].State != "leader" {
		t.Fatalf("members = %+v", m)
	}
}

func TestRequestLimits(t *testing.T) {
	e := newTestEnv(t, withServerConfig(func(c *Config) { c.MaxBodyBytes = 4096 }))
	big := `{"metadata":{"name":"big","annotations":{"a":"` + strings.Repeat("x", 8192) + `"}}}`
	st := e.expectStatus(t, http.StatusRequestEntityTooLarge, http.MethodPost, podPath(""), big)
	if st.Reason != v1.ReasonRequestTooLarge {
		t.Errorf("reason %q", st.Reason)
	}
	deep := strings.Repeat("[", 101) + strings.Repeat("]", 101)
	st = e.expectStatus(t, http.StatusBadRequest, http.MethodPost, podPath(""), deep)
	if !strings.Contains(st.Message, "nested deeper") {
		t.Errorf("message %q does not name the depth limit", st.Message)
	}
	e.expectStatus(t, http.StatusBadRequest, http.MethodPost, podPath(""), `{"metadata":{"name":"x"},"bogus":1}`)
	e.expectStatus(t, http.StatusUnsupportedMediaType, http.MethodPost, podPath(""), `{}`, withContentType("text/plain"))
}

func TestNamespaceStatus(t *testing.T) {
	e := newTestEnv(t)
	b := e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/namespaces/default/status", nil)
	ns := decode[v1.Namespace](t, b)
	if ns.Name != "default" || ns.Kind != "Namespace" {
		t.Fatalf("GET namespaces/default/status = %s", b)
	}
	ns.Labels = map[string]string{"ignored": "yes"}
	b = e.expectCode(t, http.StatusOK, http.MethodPut, "/api/v1/namespaces/default/status", ns)
	if got := decode[v1.Namespace](t, b); got.Labels["ignored"] != "" {
		t.Fatalf("a status update changed labels: %s", b)
	}
}

// The server's certificate is signed by the cluster CA, which a client must trust.
func TestServesTLSWithClusterCA(t *testing.T) {
	e := newTestEnv(t)
	insecure := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{}}}
	defer insecure.CloseIdleConnections()
	if _, err := insecure.Get(e.base + "/healthz"); err == nil {
		t.Fatal("a client without the cluster CA trusted the server")
	}
}

// Serve ends open watches when it shuts down, so clients resume on another
// master at once and the shutdown does not wait out its grace period.
func TestServeShutdownEndsWatches(t *testing.T) {
	e := newTestEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- e.server.Serve(ctx, ln) }()
	other := *e
	other.base = "https://" + ln.Addr().String()
	w := other.openWatch(t, podPath(""), url.Values{"resourceVersion": {"0"}})

	start := time.Now()
	cancel()
	timer := time.NewTimer(10 * time.Second)
	defer timer.Stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-timer.C:
		t.Fatal("Serve did not return")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("shutting down with an open watch took %v", d)
	}
	w.waitEnd(t, 5*time.Second)
}
