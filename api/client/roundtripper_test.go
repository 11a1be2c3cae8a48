package client

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// newEchoServer starts a TLS test server that counts the requests it gets
// and answers status with its name, the method, path and body.
func newEchoServer(t *testing.T, name string, status int, hits *atomic.Int32) *httptest.Server {
	t.Helper()
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		b, _ := io.ReadAll(r.Body)
		w.WriteHeader(status)
		io.WriteString(w, name+":"+r.Method+":"+r.URL.Path+":"+string(b))
	}))
	t.Cleanup(s.Close)
	return s
}

// deadServer returns an https URL where nothing listens.
func deadServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "https://" + addr
}

func TestFailoverRoundTripper(t *testing.T) {
	var aHits, bHits, uHits atomic.Int32
	a := newEchoServer(t, "a", 200, &aHits)
	b := newEchoServer(t, "b", 200, &bHits)
	unavailable := newEchoServer(t, "u", 503, &uHits)
	dead := deadServer(t)
	// A server that reads the request and hangs up without answering.
	hangup := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}))
	t.Cleanup(hangup.Close)
	transport := a.Client().Transport // trusts httptest's certificate, valid for every server

	tests := []struct {
		name     string
		servers  []string
		method   string
		body     string
		want     string // answer body; "" for an error
		wantHits map[*atomic.Int32]int32
	}{
		{"first server answers", []string{a.URL, b.URL}, "GET", "", "a:GET:/api/v1/pods:", map[*atomic.Int32]int32{&aHits: 1, &bHits: 0}},
		{"read fails over from a dead server", []string{dead, b.URL}, "GET", "", "b:GET:/api/v1/pods:", map[*atomic.Int32]int32{&bHits: 1}},
		{"write fails over when the connection was refused", []string{dead, b.URL}, "POST", `{"x":1}`, `b:POST:/api/v1/pods:{"x":1}`,
			map[*atomic.Int32]int32{&bHits: 1}},
		{"503 goes to the next server with the body again", []string{unavailable.URL, a.URL}, "POST", "body", "a:POST:/api/v1/pods:body",
			map[*atomic.Int32]int32{&uHits: 1, &aHits: 1}},
		{"503 of the last server is returned", []string{dead, unavailable.URL}, "GET", "", "u:GET:/api/v1/pods:", map[*atomic.Int32]int32{&uHits: 1}},
		{"a write sent but not answered is not resent", []string{hangup.URL, a.URL}, "POST", "once", "", map[*atomic.Int32]int32{&aHits: 0}},
		{"a read sent but not answered is resent", []string{hangup.URL, a.URL}, "GET", "", "a:GET:/api/v1/pods:", map[*atomic.Int32]int32{&aHits: 1}},
		{"no server", []string{dead, deadServer(t)}, "GET", "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, h := range []*atomic.Int32{&aHits, &bHits, &uHits} {
				h.Store(0)
			}
			rt, err := NewFailoverRoundTripper(tt.servers, transport)
			if err != nil {
				t.Fatal(err)
			}
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			// The request names the first server, as client-go's Host.
			req, err := http.NewRequest(tt.method, tt.servers[0]+"/api/v1/pods", body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := rt.RoundTrip(req)
			if tt.want == "" {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("answer %d, want an error", resp.StatusCode)
				}
			} else {
				if err != nil {
					t.Fatalf("RoundTrip: %v", err)
				}
				got, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(got) != tt.want {
					t.Fatalf("answer %q, want %q", got, tt.want)
				}
			}
			for h, n := range tt.wantHits {
				if h.Load() != n {
					t.Errorf("a server got %d requests, want %d", h.Load(), n)
				}
			}
		})
	}
}

// Once a server answered, the next request goes to it first.
func TestFailoverRoundTripperPrefersTheLastServer(t *testing.T) {
	var aHits, bHits atomic.Int32
	a := newEchoServer(t, "a", 200, &aHits)
	b := newEchoServer(t, "b", 200, &bHits)
	rt, err := NewFailoverRoundTripper([]string{a.URL, b.URL}, a.Client().Transport)
	if err != nil {
		t.Fatal(err)
	}
	a.Close() // a goes down: the first request fails over to b
	for range 3 {
		req, _ := http.NewRequest("GET", a.URL+"/version", nil)
		resp, err := rt.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	if bHits.Load() != 3 {
		t.Fatalf("b got %d requests, want 3", bHits.Load())
	}
}

func TestNewFailoverRoundTripperRefusesBadServers(t *testing.T) {
	for _, servers := range [][]string{nil, {"http://a:1"}, {"https://"}} {
		if _, err := NewFailoverRoundTripper(servers, http.DefaultTransport); err == nil {
			t.Errorf("%q accepted", servers)
		}
	}
}

func TestKubeconfig(t *testing.T) {
	c := &Config{Servers: []string{"https://a:6443", "https://b:6443"}, CertificateAuthorityData: []byte("CA"), Token: "tok"}
	kc, err := c.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	if kc.CurrentContext != "orch" || kc.Clusters["orch"].Server != "https://a:6443" || kc.Clusters["orch-2"].Server != "https://b:6443" ||
		string(kc.Clusters["orch-2"].CertificateAuthorityData) != "CA" || kc.AuthInfos["orch"].Token != "tok" ||
		kc.Contexts["orch-2"].Cluster != "orch-2" || kc.Contexts["orch"].Namespace != "default" {
		t.Fatalf("kubeconfig: %+v", kc)
	}
	if _, err := (&Config{}).Kubeconfig(); err == nil {
		t.Fatal("a config without servers made a kubeconfig")
	}
}
