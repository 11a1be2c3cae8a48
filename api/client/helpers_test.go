package client

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// testConfig returns a config trusting the test servers' CA (every
// httptest TLS server uses the same certificate) with the given server URLs.
func testConfig(t *testing.T, ca *httptest.Server, urls ...string) *Config {
	t.Helper()
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Certificate().Raw})
	return &Config{Servers: urls, CertificateAuthorityData: caPEM, Token: "secret",
		TLSHandshakeTimeout: 300 * time.Millisecond}
}

// newTestClient builds a client for urls, trusting ca's certificate.
func newTestClient(t *testing.T, ca *httptest.Server, urls ...string) *Client {
	t.Helper()
	c, err := New(testConfig(t, ca, urls...))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// deadURL returns the URL of a TLS server that has been shut down, so that
// connecting to it is refused.
func deadURL(t *testing.T) string {
	t.Helper()
	s := httptest.NewTLSServer(http.NotFoundHandler())
	u := s.URL
	s.Close()
	return u
}

// writeJSON writes v with the given code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeStatus writes a Status error.
func writeStatus(w http.ResponseWriter, se *v1.StatusError) {
	writeJSON(w, int(se.Status.Code), se.Status)
}

func testPod(name, rv string) *v1.Pod {
	return &v1.Pod{
		TypeMeta:   v1.TypeMeta{Kind: "Pod", APIVersion: "v1"},
		ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", ResourceVersion: rv},
		Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}},
	}
}

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}
