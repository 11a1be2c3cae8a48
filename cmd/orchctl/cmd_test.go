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

const rcManifest = `apiVersion: v1
kind: ReplicationController
metadata:
  name: web
  labels: {app: web, tier: fe}
spec:
  replicas: 2
  selector: {app: web}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - {name: web, image: nginx}
`

func TestApplyCommand(t *testing.T) {
	c := newCLI(t)
	if out := c.ok(rcManifest, "apply", "-f", "-"); out != "replicationcontroller/web created\n" {
		t.Fatalf("first apply: %q", out)
	}
	rc := c.api.object(t, "replicationcontrollers", "default", "web")
	if _, ok := rc["metadata"].(map[string]any)["annotations"].(map[string]any)[lastAppliedAnnotation]; !ok {
		t.Fatal("created without the applied configuration")
	}
	if out := c.ok(rcManifest, "apply", "-f", "-"); out != "replicationcontroller/web unchanged\n" {
		t.Fatalf("second apply: %q", out)
	}
	// The system changes a field the user never wrote; the user drops a label.
	c.ok("", "scale", "rc", "web", "--replicas", "5")
	v2 := strings.Replace(strings.Replace(rcManifest, ", tier: fe", "", 1), "replicas: 2", "replicas: 3", 1)
	if out := c.ok(v2, "apply", "-f", "-"); out != "replicationcontroller/web configured\n" {
		t.Fatalf("third apply: %q", out)
	}
	rc = c.api.object(t, "replicationcontrollers", "default", "web")
	labels := rc["metadata"].(map[string]any)["labels"].(map[string]any)
	if _, ok := labels["tier"]; ok || rc["spec"].(map[string]any)["replicas"] != float64(3) {
		t.Fatalf("after apply: labels %v, spec %v", labels, rc["spec"])
	}
	// A strict decoding error stops everything before any request.
	bad := rcManifest + "---\napiVersion: v1\nkind: Service\nmetadata: {name: web}\nspec: {portz: []}\n"
	c.fails(bad, `unknown field "spec.portz"`, "apply", "-f", "-")
}

func TestGetCommand(t *testing.T) {
	c := newCLI(t)
	c.ok(rcManifest+"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n", "create", "-f", "-")

	out := c.ok("", "get", "rc")
	if !strings.HasPrefix(out, "NAME   DESIRED   CURRENT   READY   AGE\nweb    2         0         0       ") {
		t.Fatalf("get rc:\n%s", out)
	}
	if out := c.ok("", "get", "replicationcontroller/web", "ns/prod", "-o", "name"); out != "replicationcontroller/web\nnamespace/prod\n" {
		t.Fatalf("-o name: %q", out)
	}
	var rc v1.ReplicationController
	if err := json.Unmarshal([]byte(c.ok("", "get", "rc", "web", "-o", "json")), &rc); err != nil || rc.Name != "web" || rc.Kind != "ReplicationController" {
		t.Fatalf("-o json of one object: %+v, %v", rc, err)
	}
	var list struct {
		Kind  string            `json:"kind"`
		Items []json.RawMessage `json:"items"`
	}
	if err := json.Unmarshal([]byte(c.ok("", "get", "rc", "-o", "json")), &list); err != nil || list.Kind != "List" || len(list.Items) != 1 {
		t.Fatalf("-o json of a list: %+v, %v", list, err)
	}
	if out := c.ok("", "get", "rc", "web", "-o", "yaml"); !strings.Contains(out, "kind: ReplicationController\n") {
		t.Fatalf("-o yaml:\n%s", out)
	}
	_, errOut, code := c.run("", "get", "pods")
	if code != 0 || errOut != "No resources found in default namespace.\n" {
		t.Fatalf("empty list: %d %q", code, errOut)
	}
	c.fails("", `Error from server (NotFound): pods "x" not found`, "get", "pod", "x")
	c.fails("", `unknown resource type "widgets"`, "get", "widgets")
	c.fails("", `unknown output format "table"`, "get", "pods", "-o", "table")
}

func TestWriteCommandsAndErrors(t *testing.T) {
	c := newCLI(t)
	c.ok(rcManifest, "create", "-f", "-")
	c.fails(rcManifest, `Error from server (AlreadyExists): replicationcontrollers "web" already exists`, "create", "-f", "-")

	// replace with a stale resourceVersion is a conflict that says so.
	stale := strings.Replace(rcManifest, "name: web\n", "name: web\n  resourceVersion: \"1\"\n", 1)
	c.fails(stale, "resourceVersion 1 in stdin is out of date", "replace", "-f", "-")
	current := c.api.object(t, "replicationcontrollers", "default", "web")["metadata"].(map[string]any)["resourceVersion"].(string)
	fresh := strings.Replace(rcManifest, "name: web\n", "name: web\n  resourceVersion: \""+current+"\"\n", 1)
	if out := c.ok(fresh, "replace", "-f", "-"); out != "replicationcontroller/web replaced\n" {
		t.Fatalf("replace: %q", out)
	}

	if out := c.ok("", "scale", "rc/web", "--replicas", "4"); out != "replicationcontroller/web scaled\n" {
		t.Fatalf("scale: %q", out)
	}
	c.fails("", "only replicationcontrollers", "scale", "pod", "x", "--replicas", "1")

	out := c.fails("", `Error from server (NotFound): replicationcontrollers "nope" not found`, "delete", "rc", "web", "nope")
	if out != "replicationcontroller \"web\" deleted\n" {
		t.Fatalf("delete: %q", out)
	}
	c.ok("", "delete", "rc", "nope", "--ignore-not-found")
	c.fails("", "no name given", "delete", "pods")

	_, errOut, code := c.run("", "--token", "bad", "get", "pods")
	if code != 1 || errOut != "error: unauthorized: check the token in your config (--token)\n" {
		t.Fatalf("401: %d %q", code, errOut)
	}
	c.fails("", "unknown flag: --bogus", "get", "pods", "--bogus")
}

func TestDeleteBySelectorAndFile(t *testing.T) {
	c := newCLI(t)
	pods := ""
	for i, app := range []string{"web", "web", "db"} {
		pods += fmt.Sprintf("---\napiVersion: v1\nkind: Pod\nmetadata: {name: p%d, labels: {app: %s}}\nspec: {containers: [{name: c, image: i}]}\n", i, app)
	}
	c.ok(pods, "create", "-f", "-")
	if out := c.ok("", "delete", "pods", "-l", "app=web", "--grace-period", "0", "--cascade", "orphan"); out != "pod \"p0\" deleted\npod \"p1\" deleted\n" {
		t.Fatalf("delete -l: %q", out)
	}
	if out := c.ok(pods, "delete", "-f", "-", "--ignore-not-found"); out != "pod \"p2\" deleted\n" {
		t.Fatalf("delete -f: %q", out)
	}
}

func TestClusterAndVersionCommands(t *testing.T) {
	c := newCLI(t)
	out := c.ok("", "cluster", "members")
	if !strings.Contains(out, "m1     127.0.0.1:7001   127.0.0.1:6443   leader     true    123") {
		t.Fatalf("members:\n%s", out)
	}
	var m client.Members
	if err := json.Unmarshal([]byte(c.ok("", "cluster", "members", "-o", "json")), &m); err != nil || m.Leader != "m1" {
		t.Fatalf("members json: %+v %v", m, err)
	}
	if out := c.ok("", "version"); out != "Client Version: "+clientVersion+"\nServer Version: v0.1.0\n" {
		t.Fatalf("version: %q", out)
	}
}

func TestUnreachableCluster(t *testing.T) {
	c := newCLI(t)
	dead := httptest.NewTLSServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	var out, errOut bytes.Buffer
	args := []string{"--server", deadURL, "--ca-file", c.caFile, "--token", "good", "get", "pods"}
	code := run(context.Background(), args, newIOStreams(nil, &out, &errOut), func(string) string { return "" })
	want := "error: cannot reach any orch master (tried " + deadURL + "): "
	if code != 1 || !strings.HasPrefix(errOut.String(), want) || strings.Count(errOut.String(), "\n") != 1 {
		t.Fatalf("exit %d, stderr %q; want it to start with %q", code, errOut.String(), want)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a concurrent reader.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func watchEvent(typ string, pod *v1.Pod) string {
	v1.SetTypeMeta(pod)
	b, _ := json.Marshal(pod)
	e, _ := json.Marshal(v1.WatchEvent{Type: typ, Object: b})
	return string(e)
}

func TestGetWatch(t *testing.T) {
	c := newCLI(t)
	c.ok("apiVersion: v1\nkind: Pod\nmetadata: {name: p0}\nspec: {containers: [{name: c, image: i}]}\n", "create", "-f", "-")
	running := runningPod("p0", true, 0)
	running.CreationTimestamp = v1.Time{}
	other := runningPod("p1-longer-name", false, 0)
	other.CreationTimestamp = v1.Time{}
	c.api.watchLines = []string{watchEvent(v1.Modified, running), watchEvent(v1.Added, other)}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &syncBuffer{}, &syncBuffer{}
	done := make(chan int)
	go func() {
		args := []string{"--server", c.url, "--ca-file", c.caFile, "--token", "good", "get", "pods", "-w"}
		done <- run(ctx, args, newIOStreams(nil, out, errOut), func(string) string { return "" })
	}()
	deadline := time.After(10 * time.Second)
	for strings.Count(out.String(), "\n") < 4 {
		select {
		case <-deadline:
			t.Fatalf("watch printed:\n%s\nstderr: %s", out.String(), errOut.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"NAME   READY   STATUS    RESTARTS   AGE",
		"p0     0/1     Pending   0          0s",
		"p0     1/1     Running   0          <unknown>",
		"p1-longer-name   0/1   Running   0     <unknown>",
	}
	// p0 was created a moment ago by the fake API, with a timestamp in
	// whole seconds: a second boundary in between makes its age 1s.
	if strings.HasSuffix(lines[1], " 1s") {
		lines[1] = strings.TrimSuffix(lines[1], "1s") + "0s"
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], strings.Fields(w)[0]) || strings.Join(strings.Fields(lines[i]), " ") != strings.Join(strings.Fields(w), " ") {
			t.Errorf("line %d = %q, want %q", i, lines[i], w)
		}
	}
	// Rows printed later keep the columns of the first ones.
	if strings.Index(lines[2], "1/1") != strings.Index(lines[0], "READY") {
		t.Errorf("columns moved:\n%s", out.String())
	}
	c.api.mu.Lock()
	defer c.api.mu.Unlock()
	if len(c.api.watchRVs) != 1 || c.api.watchRVs[0] != "11" {
		t.Errorf("watch started from %v, want the list's resourceVersion 11", c.api.watchRVs)
	}
}

func TestDescribeCommand(t *testing.T) {
	c := newCLI(t)
	c.ok(rcManifest+`---
apiVersion: v1
kind: Pod
metadata: {name: web-a, labels: {app: web}}
spec: {containers: [{name: web, image: nginx, ports: [{containerPort: 80}]}]}
---
apiVersion: v1
kind: Service
metadata: {name: web}
spec: {selector: {app: web}, ports: [{port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: web}
subsets: [{addresses: [{ip: 10.244.1.5}], ports: [{port: 8080}]}]
`, "create", "-f", "-")
	out := c.ok("", "describe", "rc", "web")
	if !strings.Contains(out, "Containers:\n    web:\n      Image:") {
		t.Errorf("template containers not indented under Pod Template:\n%s", out)
	}
	for _, want := range []string{"Name: web", "Namespace: default", "Selector: app=web",
		"Labels: app=web tier=fe Annotations", "Replicas: 0 current / 2 desired",
		"Pods Status: 0 Running / 1 Waiting / 0 Succeeded / 0 Failed", "Image: nginx"} {
		if !containsFields(out, want) {
			t.Errorf("describe rc lacks %q:\n%s", want, out)
		}
	}
	out = c.ok("", "describe", "svc/web")
	for _, want := range []string{"Type: ClusterIP", "TargetPort: 8080/TCP", "Endpoints: 10.244.1.5:8080"} {
		if !containsFields(out, want) {
			t.Errorf("describe svc lacks %q:\n%s", want, out)
		}
	}
	out = c.ok("", "describe", "pod", "web-a")
	for _, want := range []string{"Status: Pending", "Containers: web: Image: nginx Port(s): 80/TCP"} {
		if !containsFields(out, want) {
			t.Errorf("describe pod lacks %q:\n%s", want, out)
		}
	}
	c.fails("", `Error from server (NotFound): pods "nope" not found`, "describe", "pod", "nope")
}

// containsFields reports whether want occurs in s when runs of white space
// (newlines included) count as one space.
func containsFields(s, want string) bool {
	return strings.Contains(strings.Join(strings.Fields(s), " "), strings.Join(strings.Fields(want), " "))
}
