package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// fakeAPI is a small in-memory API server: enough of the contract for the
// commands' tests (CRUD, merge patch, resourceVersion checks, scale,
// members, version). It is not the real server.
type fakeAPI struct {
	mu      sync.Mutex
	rv      int
	objects map[string][]byte // resource/namespace/name -> JSON
	patches []string
	// watchLines are streamed to every watch, which then stays open.
	watchLines []string
	watchRVs   []string
}

func newFakeAPI() *fakeAPI { return &fakeAPI{objects: map[string][]byte{}, rv: 10} }

func key(res, ns, name string) string { return res + "/" + ns + "/" + name }

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Query().Get("watch") == "true" {
		f.watch(w, r)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch r.URL.Path {
	case "/version":
		writeJSONResp(w, 200, client.VersionInfo{Major: "1", Minor: "0", GitVersion: "v0.1.0", Platform: "linux/amd64"})
		return
	case "/orch/v1/members":
		writeJSONResp(w, 200, membersFixture())
		return
	}
	if r.Header.Get("Authorization") != "Bearer good" {
		writeStatusResp(w, v1.NewUnauthorized("invalid bearer token"))
		return
	}
	seg := strings.Split(strings.TrimPrefix(r.URL.Path, "/api/v1/"), "/")
	ns, res, name, sub := "", "", "", ""
	if len(seg) >= 3 && seg[0] == "namespaces" {
		if rr, ok := v1.ResourceByName(seg[2]); ok && rr.Namespaced {
			ns, seg = seg[1], seg[2:]
		}
	}
	res = seg[0]
	if len(seg) > 1 {
		name = seg[1]
	}
	if len(seg) > 2 {
		sub = seg[2]
	}
	rr, ok := v1.ResourceByName(res)
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, _ := io.ReadAll(r.Body)
	k := key(rr.Name, ns, name)
	cur, exists := f.objects[k]
	switch {
	case r.Method == http.MethodGet && name == "":
		f.list(w, r, rr, ns)
	case r.Method == http.MethodGet && sub == "":
		if !exists {
			writeStatusResp(w, v1.NewNotFound(rr.Name, name))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(cur)
	case r.Method == http.MethodPost:
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		md := m["metadata"].(map[string]any)
		name, _ = md["name"].(string)
		k = key(rr.Name, ns, name)
		if _, ok := f.objects[k]; ok {
			writeStatusResp(w, v1.NewAlreadyExists(rr.Name, name))
			return
		}
		md["uid"] = "uid-" + name
		md["creationTimestamp"] = time.Now().UTC().Format(time.RFC3339)
		if ns != "" {
			md["namespace"] = ns
		}
		f.store(w, k, m, http.StatusCreated)
	case r.Method == http.MethodPut && sub == "scale":
		if !exists {
			writeStatusResp(w, v1.NewNotFound(rr.Name, name))
			return
		}
		var s v1.Scale
		_ = json.Unmarshal(body, &s)
		m := decodeJSONMap(cur)
		m["spec"].(map[string]any)["replicas"] = s.Spec.Replicas
		f.store(io.Discard, k, m, 0)
		writeJSONResp(w, 200, s)
	case r.Method == http.MethodPut:
		if !exists {
			writeStatusResp(w, v1.NewNotFound(rr.Name, name))
			return
		}
		m := decodeJSONMap(body)
		old := decodeJSONMap(cur)
		newRV, _ := m["metadata"].(map[string]any)["resourceVersion"].(string)
		if newRV != "" && newRV != old["metadata"].(map[string]any)["resourceVersion"] {
			writeStatusResp(w, v1.NewConflict(rr.Name, name, "the object has been modified; please apply your changes to the latest version and try again"))
			return
		}
		f.store(w, k, m, http.StatusOK)
	case r.Method == http.MethodPatch:
		if !exists {
			writeStatusResp(w, v1.NewNotFound(rr.Name, name))
			return
		}
		if r.Header.Get("Content-Type") != "application/merge-patch+json" {
			writeStatusResp(w, v1.NewUnsupportedMediaType(r.Header.Get("Content-Type")))
			return
		}
		f.patches = append(f.patches, string(body))
		merged, err := jsonpatch.MergePatch(cur, body)
		if err != nil {
			writeStatusResp(w, v1.NewBadRequest(err.Error()))
			return
		}
		f.store(w, k, decodeJSONMap(merged), http.StatusOK)
	case r.Method == http.MethodDelete:
		if !exists {
			writeStatusResp(w, v1.NewNotFound(rr.Name, name))
			return
		}
		delete(f.objects, k)
		w.Write(cur)
	default:
		writeStatusResp(w, v1.NewMethodNotAllowed(r.Method))
	}
}

func (f *fakeAPI) watch(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.watchRVs = append(f.watchRVs, r.URL.Query().Get("resourceVersion"))
	lines := f.watchLines
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(200)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

func (f *fakeAPI) store(w io.Writer, k string, m map[string]any, code int) {
	f.rv++
	m["metadata"].(map[string]any)["resourceVersion"] = strconv.Itoa(f.rv)
	b, _ := json.Marshal(m)
	f.objects[k] = b
	if rw, ok := w.(http.ResponseWriter); ok {
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(code)
	}
	w.Write(b)
}

func (f *fakeAPI) list(w http.ResponseWriter, r *http.Request, rr v1.Resource, ns string) {
	sel, err := v1.ParseLabelSelector(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeStatusResp(w, v1.NewBadRequest(err.Error()))
		return
	}
	var keys []string
	for k := range f.objects {
		if strings.HasPrefix(k, rr.Name+"/"+ns) {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	items := []json.RawMessage{}
	for _, k := range keys {
		obj := rr.New()
		_ = json.Unmarshal(f.objects[k], obj)
		if sel.Matches(v1.LabelsOf(obj)) {
			items = append(items, f.objects[k])
		}
	}
	writeJSONResp(w, 200, map[string]any{"kind": rr.Kind + "List", "apiVersion": "v1",
		"metadata": map[string]any{"resourceVersion": strconv.Itoa(f.rv)}, "items": items})
}

func (f *fakeAPI) object(t *testing.T, res, ns, name string) map[string]any {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[key(res, ns, name)]
	if !ok {
		t.Fatalf("%s/%s/%s does not exist", res, ns, name)
	}
	return decodeJSONMap(b)
}

func decodeJSONMap(b []byte) map[string]any {
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

func writeJSONResp(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func writeStatusResp(w http.ResponseWriter, se *v1.StatusError) {
	writeJSONResp(w, int(se.Status.Code), se.Status)
}

// cli runs orchctl commands against a fake API.
type cli struct {
	t      *testing.T
	api    *fakeAPI
	url    string
	caFile string
	dir    string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	api := newFakeAPI()
	s := httptest.NewTLSServer(api)
	t.Cleanup(s.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, api: api, url: s.URL, caFile: caFile, dir: dir}
}

// run executes orchctl with args (and stdin) and returns stdout, stderr and
// the exit code.
func (c *cli) run(stdin string, args ...string) (string, string, int) {
	c.t.Helper()
	var out, errOut bytes.Buffer
	full := append([]string{"--server", c.url, "--ca-file", c.caFile, "--token", "good"}, args...)
	env := map[string]string{"HOME": c.dir}
	code := run(context.Background(), full, newIOStreams(strings.NewReader(stdin), &out, &errOut), func(k string) string { return env[k] })
	return out.String(), errOut.String(), code
}

func (c *cli) ok(stdin string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(stdin, args...)
	if code != 0 {
		c.t.Fatalf("orchctl %v: exit %d\nstdout: %s\nstderr: %s", args, code, out, errOut)
	}
	return out
}

func (c *cli) fails(stdin string, wantErr string, args ...string) string {
	c.t.Helper()
	out, errOut, code := c.run(stdin, args...)
	if code != 1 || !strings.Contains(errOut, wantErr) {
		c.t.Fatalf("orchctl %v: exit %d\nstdout: %s\nstderr: %s\nwant exit 1 and stderr containing %q", args, code, out, errOut, wantErr)
	}
	return out
}

func TestClusterCommands(t *testing.T) {
	c := newCLI(t)
	out := c.ok("", "cluster", "members")
	if !strings.Contains(out, "m1     127.0.0.1:7001   127.0.0.1:6443   leader     true    123") {
		t.Fatalf("members:\n%s", out)
	}
	var m client.Members
	if err := json.Unmarshal([]byte(c.ok("", "cluster", "members", "-o", "json")), &m); err != nil || m.Leader != "m1" {
		t.Fatalf("members json: %+v %v", m, err)
	}
}

func TestUnreachableCluster(t *testing.T) {
	c := newCLI(t)
	dead := httptest.NewTLSServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	var out, errOut bytes.Buffer
	args := []string{"--server", deadURL, "--ca-file", c.caFile, "--token", "good", "cluster", "members"}
	code := run(context.Background(), args, newIOStreams(nil, &out, &errOut), func(string) string { return "" })
	want := "error: cannot reach any orch master (tried " + deadURL + "): "
	if code != 1 || !strings.HasPrefix(errOut.String(), want) || strings.Count(errOut.String(), "\n") != 1 {
		t.Fatalf("exit %d, stderr %q; want it to start with %q", code, errOut.String(), want)
	}
}

func membersFixture() *client.Members {
	return &client.Members{Leader: "m1", Members: []client.Member{
		{Name: "m1", RaftAddr: "127.0.0.1:7001", APIAddr: "127.0.0.1:6443", State: "leader", Voter: true, LastIndex: 123},
		{Name: "m2", RaftAddr: "127.0.0.1:7002", APIAddr: "127.0.0.1:6444", State: "follower", Voter: true},
	}}
}
