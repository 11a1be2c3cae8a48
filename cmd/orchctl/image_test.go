package main

import (
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

	v1 "orch.io/orch/api/v1"
)

func TestImageLoadCommand(t *testing.T) {
	tarball := strings.Repeat("oci layout bytes ", 10000)
	for _, tc := range []struct {
		name     string
		args     []string
		stdin    string
		failNode string
		wantOut  string
		wantErr  string   // "" for success
		uploaded []string // nodes that must have received the tarball
	}{
		{"one node", []string{"image", "load", "FILE", "--node", "n1"}, "", "",
			"node/n1: loaded docker.io/library/app:v1\nnode/n1: loaded docker.io/library/db:v2\n", "", []string{"n1"}},
		{"standard input", []string{"image", "load", "-", "--node", "n2"}, tarball, "",
			"node/n2: loaded docker.io/library/app:v1\nnode/n2: loaded docker.io/library/db:v2\n", "", []string{"n2"}},
		{"every node", []string{"image", "load", "FILE", "--all-nodes"}, "", "",
			"node/n1: loaded docker.io/library/app:v1\nnode/n1: loaded docker.io/library/db:v2\n" +
				"node/n2: loaded docker.io/library/app:v1\nnode/n2: loaded docker.io/library/db:v2\n", "", []string{"n1", "n2"}},
		{"one node fails, the others load", []string{"image", "load", "FILE", "--all-nodes"}, "", "n1",
			"node/n2: loaded docker.io/library/app:v1\nnode/n2: loaded docker.io/library/db:v2\n",
			"Error from server (ServiceUnavailable): cannot reach the agent of node n1", []string{"n2"}},
		{"no node flag", []string{"image", "load", "FILE"}, "", "", "", "give either --node NAME or --all-nodes", nil},
		{"both node flags", []string{"image", "load", "FILE", "--node", "n1", "--all-nodes"}, "", "", "", "give either --node NAME or --all-nodes", nil},
		{"stdin to every node", []string{"image", "load", "-", "--all-nodes"}, tarball, "", "", "standard input cannot be sent more than once", nil},
		{"missing file", []string{"image", "load", "/nonexistent/x.tar", "--node", "n1"}, "", "", "", "open the image tarball", nil},
		{"no file", []string{"image", "load", "--node", "n1"}, "", "", "", "name one image tarball", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, p := newProxyCLI(t)
			c.api.seedNodes("n1", "n2")
			file := filepath.Join(c.dir, "app.tar")
			if err := os.WriteFile(file, []byte(tarball), 0o644); err != nil {
				t.Fatal(err)
			}
			args := append([]string(nil), tc.args...)
			for i, a := range args {
				if a == "FILE" {
					args[i] = file
				}
			}
			p.mu.Lock()
			p.failNode = tc.failNode
			p.mu.Unlock()
			var out string
			if tc.wantErr == "" {
				out = c.ok(tc.stdin, args...)
			} else {
				out = c.fails(tc.stdin, tc.wantErr, args...)
			}
			if out != tc.wantOut {
				t.Fatalf("output %q, want %q", out, tc.wantOut)
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(p.uploads) != len(tc.uploaded) {
				t.Fatalf("uploads to %d nodes, want %v", len(p.uploads), tc.uploaded)
			}
			for _, n := range tc.uploaded {
				if string(p.uploads[n]) != tarball {
					t.Errorf("node %s received %d bytes, want the %d of the tarball", n, len(p.uploads[n]), len(tarball))
				}
			}
		})
	}
}

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

// seedNodes stores nodes with names in the fake API.
func (f *fakeAPI) seedNodes(names ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, n := range names {
		f.rv++
		f.objects[key("nodes", "", n)] = []byte(fmt.Sprintf(`{"apiVersion":"v1","kind":"Node","metadata":{"name":%q,"resourceVersion":"%d"}}`, n, f.rv))
	}
}
