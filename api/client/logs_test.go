package client

import (
	"bufio"
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

func TestLogsQueryAndStream(t *testing.T) {
	tail := int64(3)
	for _, tc := range []struct {
		name      string
		namespace string
		opts      LogOptions
		wantPath  string
		wantQuery string
	}{
		{"defaults", "", LogOptions{}, "/api/v1/namespaces/default/pods/web/log", ""},
		{"every option", "prod", LogOptions{Container: "app", Follow: true, Previous: true, Timestamps: true, TailLines: &tail},
			"/api/v1/namespaces/prod/pods/web/log", "container=app&follow=true&previous=true&tailLines=3&timestamps=true"},
		{"tail zero", "default", LogOptions{TailLines: new(int64)}, "/api/v1/namespaces/default/pods/web/log", "tailLines=0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var gotPath, gotQuery, gotAuth string
			s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				gotPath, gotQuery, gotAuth = r.URL.Path, r.URL.RawQuery, r.Header.Get("Authorization")
				mu.Unlock()
				w.Header().Set("Content-Type", "text/plain")
				io.WriteString(w, "line 1\nline 2\n")
			}))
			defer s.Close()
			c := newTestClient(t, s, s.URL)
			rc, err := c.Logs(testCtx(t), tc.namespace, "web", tc.opts)
			if err != nil {
				t.Fatalf("Logs: %v", err)
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			if err != nil || string(b) != "line 1\nline 2\n" {
				t.Fatalf("read %q, %v", b, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if gotPath != tc.wantPath || gotQuery != tc.wantQuery || gotAuth != "Bearer secret" {
				t.Fatalf("request %s?%s (%s), want %s?%s", gotPath, gotQuery, gotAuth, tc.wantPath, tc.wantQuery)
			}
		})
	}
}

func TestLogsErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status *v1.StatusError
		check  func(error) bool
	}{
		{"not found", v1.NewNotFound("pods", "web"), v1.IsNotFound},
		{"ambiguous container", v1.NewBadRequest("a container name must be specified"), func(err error) bool {
			return v1.ReasonOf(err) == v1.ReasonBadRequest && strings.Contains(err.Error(), "container name")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				writeStatus(w, tc.status)
			}))
			defer s.Close()
			c := newTestClient(t, s, s.URL)
			rc, err := c.Logs(testCtx(t), "default", "web", LogOptions{})
			if err == nil {
				rc.Close()
				t.Fatal("no error")
			}
			if !tc.check(err) {
				t.Fatalf("error %v (%T) is not the expected kind", err, err)
			}
		})
	}
}

func TestLogsFollowStreams(t *testing.T) {
	next := make(chan struct{})
	s := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "second\n")
	}))
	defer s.Close()
	c := newTestClient(t, s, s.URL)
	rc, err := c.Logs(testCtx(t), "default", "web", LogOptions{Follow: true})
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	defer rc.Close()
	r := bufio.NewReader(rc)
	// The first line arrives while the server still holds the stream open.
	if l, err := r.ReadString('\n'); err != nil || l != "first\n" {
		t.Fatalf("first line %q, %v", l, err)
	}
	close(next)
	if l, err := r.ReadString('\n'); err != nil || l != "second\n" {
		t.Fatalf("second line %q, %v", l, err)
	}
	if _, err := r.ReadString('\n'); err != io.EOF {
		t.Fatalf("end of stream: %v", err)
	}
}

// imageServer records uploads and answers with the images it was given.
type imageServer struct {
	mu      sync.Mutex
	bodies  [][]byte
	lengths []int64
	types   []string
	status  *v1.StatusError
}

func (s *imageServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	s.bodies = append(s.bodies, b)
	s.lengths = append(s.lengths, r.ContentLength)
	s.types = append(s.types, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
	st := s.status
	s.mu.Unlock()
	if st != nil {
		writeStatus(w, st)
		return
	}
	writeJSON(w, 200, v1.ImageLoadResult{Images: []string{"docker.io/library/app:v1"}})
}

// onlyReader hides every method of a reader but Read (no Seek, no Len).
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func TestLoadImage(t *testing.T) {
	tarball := bytes.Repeat([]byte("tar"), 50000)
	for _, tc := range []struct {
		name    string
		body    func() io.Reader
		dead    bool // a dead master comes first
		status  *v1.StatusError
		wantErr func(error) bool
		wantLen int64
	}{
		{"seekable body with its length", func() io.Reader { return bytes.NewReader(tarball) }, false, nil, nil, int64(len(tarball))},
		{"stream of unknown length", func() io.Reader { return onlyReader{bytes.NewReader(tarball)} }, false, nil, nil, -1},
		{"seekable body fails over", func() io.Reader { return bytes.NewReader(tarball) }, true, nil, nil, int64(len(tarball))},
		{"stream fails over when nothing was read", func() io.Reader { return onlyReader{bytes.NewReader(tarball)} }, true, nil, nil, -1},
		{"API error", func() io.Reader { return bytes.NewReader(tarball) }, false, v1.NewServiceUnavailable("cannot reach the agent of node n1"),
			func(err error) bool { return v1.ReasonOf(err) == v1.ReasonServiceUnavailable }, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			is := &imageServer{status: tc.status}
			s := httptest.NewTLSServer(is)
			defer s.Close()
			urls := []string{s.URL}
			if tc.dead {
				urls = []string{deadURL(t), s.URL}
			}
			c := newTestClient(t, s, urls...)
			images, err := c.LoadImage(testCtx(t), "n1", tc.body())
			if tc.wantErr != nil {
				if err == nil || !tc.wantErr(err) {
					t.Fatalf("error %v, want another", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadImage: %v", err)
			}
			if len(images) != 1 || images[0] != "docker.io/library/app:v1" {
				t.Fatalf("images %q", images)
			}
			is.mu.Lock()
			defer is.mu.Unlock()
			if len(is.bodies) != 1 || !bytes.Equal(is.bodies[0], tarball) {
				t.Fatalf("%d uploads arrived", len(is.bodies))
			}
			if is.lengths[0] != tc.wantLen || is.types[0] != "POST /api/v1/nodes/n1/images application/x-tar" {
				t.Fatalf("upload: length %d, %s", is.lengths[0], is.types[0])
			}
		})
	}
}

// TestLoadImageReturnsTheReader loads one reader again and again, rewinding
// it in between, as orchctl does for --all-nodes: once LoadImage returns, the
// transport must not read it any more (it used to read on after the answer,
// checking that nothing followed the declared length).
func TestLoadImageReturnsTheReader(t *testing.T) {
	tarball := bytes.Repeat([]byte("tar"), 50000)
	is := &imageServer{}
	s := httptest.NewTLSServer(is)
	defer s.Close()
	c := newTestClient(t, s, s.URL)
	r := bytes.NewReader(tarball)
	const uploads = 30
	for i := range uploads {
		if _, err := r.Seek(0, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		if _, err := c.LoadImage(testCtx(t), "n1", r); err != nil {
			t.Fatalf("upload %d: %v", i, err)
		}
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	if len(is.bodies) != uploads {
		t.Fatalf("%d uploads arrived, want %d", len(is.bodies), uploads)
	}
	for i, b := range is.bodies {
		if !bytes.Equal(b, tarball) {
			t.Fatalf("upload %d arrived with %d bytes, want the %d of the tarball", i, len(b), len(tarball))
		}
	}
}

func TestLoadImageUnreachable(t *testing.T) {
	s := httptest.NewTLSServer(http.NotFoundHandler())
	defer s.Close()
	c := newTestClient(t, s, deadURL(t), deadURL(t))
	start := time.Now()
	_, err := c.LoadImage(testCtx(t), "n1", strings.NewReader("tar"))
	if !IsUnreachable(err) {
		t.Fatalf("error %v, want unreachable", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("took %v", time.Since(start))
	}
}
