package main

import (
	"context"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// proxyAPI wraps the fake API with the two subresources the master proxies
// to node agents: pods/log and nodes/images.
type proxyAPI struct {
	*fakeAPI
	mu sync.Mutex
	// logRequests are the path?query of each log request.
	logRequests []string
	// followLines are streamed, one per receive, to a followed log.
	followLines chan string
	// uploads are the bodies received per node.
	uploads map[string][]byte
	// failNode answers 503 to uploads.
	failNode string
}

func (p *proxyAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") != "Bearer good" {
		p.fakeAPI.ServeHTTP(w, r)
		return
	}
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/log"):
		p.serveLog(w, r)
	case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/images"):
		p.serveImages(w, r)
	default:
		p.fakeAPI.ServeHTTP(w, r)
	}
}

func (p *proxyAPI) serveLog(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.logRequests = append(p.logRequests, r.URL.Path+"?"+r.URL.RawQuery)
	p.mu.Unlock()
	segs := strings.Split(r.URL.Path, "/") // .../pods/{name}/log
	name := segs[len(segs)-2]
	if name == "missing" {
		writeStatusResp(w, v1.NewNotFound("pods", name))
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	io.WriteString(w, "line 1\nline 2\n")
	if r.URL.Query().Get("follow") != "true" {
		return
	}
	w.(http.Flusher).Flush()
	for {
		select {
		case l := <-p.followLines:
			io.WriteString(w, l)
			w.(http.Flusher).Flush()
		case <-r.Context().Done():
			return
		}
	}
}

func (p *proxyAPI) serveImages(w http.ResponseWriter, r *http.Request) {
	node := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/nodes/"), "/")[0]
	b, _ := io.ReadAll(r.Body)
	p.mu.Lock()
	defer p.mu.Unlock()
	if node == p.failNode {
		writeStatusResp(w, v1.NewServiceUnavailable("cannot reach the agent of node "+node))
		return
	}
	if r.Header.Get("Content-Type") != "application/x-tar" {
		writeStatusResp(w, v1.NewUnsupportedMediaType(r.Header.Get("Content-Type")))
		return
	}
	p.uploads[node] = b
	writeJSONResp(w, http.StatusOK, v1.ImageLoadResult{Images: []string{"docker.io/library/app:v1", "docker.io/library/db:v2"}})
}

// newProxyCLI is newCLI with the fake API wrapped in a proxyAPI.
func newProxyCLI(t *testing.T) (*cli, *proxyAPI) {
	t.Helper()
	p := &proxyAPI{fakeAPI: newFakeAPI(), followLines: make(chan string), uploads: map[string][]byte{}}
	s := httptest.NewTLSServer(p)
	t.Cleanup(s.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, api: p.fakeAPI, url: s.URL, caFile: caFile, dir: dir}, p
}

func TestLogsCommand(t *testing.T) {
	c, p := newProxyCLI(t)
	for _, tc := range []struct {
		name    string
		args    []string
		wantReq string // the log request sent, "" for none
		wantErr string // "" for success
	}{
		{"one container", []string{"logs", "web"}, "/api/v1/namespaces/default/pods/web/log?", ""},
		{"every flag", []string{"logs", "pod/web", "-c", "app", "--tail", "5", "-p", "--timestamps", "-n", "prod"},
			"/api/v1/namespaces/prod/pods/web/log?container=app&previous=true&tailLines=5&timestamps=true", ""},
		{"long flags", []string{"logs", "po/web", "--container", "app", "--previous", "--tail", "0"},
			"/api/v1/namespaces/default/pods/web/log?container=app&previous=true&tailLines=0", ""},
		{"missing pod", []string{"logs", "missing"}, "/api/v1/namespaces/default/pods/missing/log?",
			`Error from server (NotFound): pods "missing" not found`},
		{"no pod", []string{"logs"}, "", "name one pod"},
		{"two pods", []string{"logs", "a", "b"}, "", "name one pod"},
		{"not a pod", []string{"logs", "svc/web"}, "", `logs needs a pod, not "svc/web"`},
		{"bad tail", []string{"logs", "web", "--tail", "-2"}, "", "--tail must be -1"},
		{"since and limit", []string{"logs", "web", "--since", "90s", "--limit-bytes", "100"},
			"/api/v1/namespaces/default/pods/web/log?limitBytes=100&sinceSeconds=90", ""},
		{"since-time", []string{"logs", "web", "--since-time", "2026-01-02T15:04:05+01:00"},
			"/api/v1/namespaces/default/pods/web/log?sinceTime=2026-01-02T14%3A04%3A05Z", ""},
		{"both since flags", []string{"logs", "web", "--since", "1m", "--since-time", "2026-01-02T15:04:05Z"}, "", "at most one of --since and --since-time"},
		{"bad since-time", []string{"logs", "web", "--since-time", "yesterday"}, "", "must be an RFC 3339 time"},
		{"since under a second", []string{"logs", "web", "--since", "10ms"}, "", "--since must be at least 1s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p.mu.Lock()
			p.logRequests = nil
			p.mu.Unlock()
			if tc.wantErr == "" {
				if out := c.ok("", tc.args...); out != "line 1\nline 2\n" {
					t.Fatalf("output %q", out)
				}
			} else {
				c.fails("", tc.wantErr, tc.args...)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			var want []string
			if tc.wantReq != "" {
				want = []string{tc.wantReq}
			}
			if fmt.Sprint(p.logRequests) != fmt.Sprint(want) {
				t.Fatalf("log requests %q, want %q", p.logRequests, want)
			}
		})
	}
}

func TestLogsFollowCommand(t *testing.T) {
	c, p := newProxyCLI(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int)
	go func() {
		// A request timeout shorter than the test: a followed log ignores it.
		args := []string{"--server", c.url, "--ca-file", c.caFile, "--token", "good", "--request-timeout", "1ms", "logs", "web", "-f"}
		done <- run(ctx, args, newIOStreams(nil, out, errOut), func(string) string { return "" })
	}()
	waitOutput := func(want string) {
		t.Helper()
		deadline := time.After(10 * time.Second)
		for !strings.Contains(out.String(), want) {
			select {
			case <-deadline:
				t.Fatalf("output %q does not contain %q; stderr %q", out.String(), want, errOut.String())
			case code := <-done:
				t.Fatalf("exited %d early: output %q, stderr %q", code, out.String(), errOut.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
	}
	waitOutput("line 2\n")
	select {
	case p.followLines <- "line 3\n":
	case <-time.After(10 * time.Second):
		t.Fatal("the server's stream is not waiting for lines")
	}
	waitOutput("line 3\n")
	cancel() // Ctrl-C
	select {
	case code := <-done:
		if code != 0 || out.String() != "line 1\nline 2\nline 3\n" {
			t.Fatalf("exit %d, output %q, stderr %q", code, out.String(), errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("logs -f did not end after Ctrl-C")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.logRequests) != 1 || p.logRequests[0] != "/api/v1/namespaces/default/pods/web/log?follow=true" {
		t.Fatalf("log requests %q", p.logRequests)
	}
}
