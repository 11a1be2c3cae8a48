package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
	"orch.io/orch/test/harness"
)

// A master started with small watch caps refuses the watch beyond them with
// 429 and Retry-After, exports its in-flight gauges, and answers a request
// without a token at once, whatever body it announced.
func TestMasterLoadLimits(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{Masters: 1,
		MasterArgs: []string{"--max-watches-per-client", "2", "--max-watches", "3", "--max-requests-inflight", "10"}})
	b, err := pki.Load(c.PKIDir)
	if err != nil {
		t.Fatal(err)
	}
	tlsCfg := &tls.Config{RootCAs: b.CAPool, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	addr := c.Masters[0].APIAddr
	get := func(path, token string) *http.Response {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: tlsCfg.Clone()}
		t.Cleanup(tr.CloseIdleConnections)
		req, err := http.NewRequestWithContext(ctxT(t, 30*time.Second), http.MethodGet, "https://"+addr+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		return resp
	}
	const watch = "/api/v1/namespaces/default/pods?watch=true&resourceVersion=0"
	for i := 0; i < 2; i++ {
		resp := get(watch, b.AdminToken)
		t.Cleanup(func() { resp.Body.Close() })
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("watch %d: HTTP %d", i, resp.StatusCode)
		}
	}
	resp := get(watch, b.AdminToken)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var st v1.Status
	if err := json.Unmarshal(body, &st); err != nil {
		t.Fatalf("HTTP %d %s: %v", resp.StatusCode, body, err)
	}
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || st.Reason != v1.ReasonTooManyRequests {
		t.Fatalf("third watch of one client: HTTP %d, Retry-After %q, %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}

	resp = get("/metrics", b.AdminToken) // /metrics needs a credential
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`apiserver_current_inflight_requests{request_kind="readOnly"}`,
		`apiserver_current_inflight_requests{request_kind="mutating"}`, `orch_api_rejected_requests_total{request_kind="watch"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// No token, a body announced and never sent: 401 at once, then the
	// connection is closed.
	conn, err := tls.Dial("tcp", addr, tlsCfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: orch\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	r401, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer to a request without a token: %v", err)
	}
	io.Copy(io.Discard, r401.Body)
	r401.Body.Close()
	if r401.StatusCode != http.StatusUnauthorized {
		t.Fatalf("HTTP %d, want 401", r401.StatusCode)
	}
	_, err = br.ReadByte()
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("the connection stayed open after the 401: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the 401 and the close took %v", d)
	}
}
