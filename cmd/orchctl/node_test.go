package main

import (
	"encoding/json"
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

// nodeAPI wraps the fake API with what drain needs from the server beyond
// it: lists filtered by fieldSelector spec.nodeName, a record of the
// deletes, and (with keepDeleted) pods that linger after their deletion as
// they do while their node stops them.
type nodeAPI struct {
	*fakeAPI
	mu          sync.Mutex
	fieldSels   []string
	deletes     []deleteRequest
	keepDeleted bool
}

type deleteRequest struct {
	path  string
	query string
	opts  v1.DeleteOptions
}

func (n *nodeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodDelete:
		body, _ := io.ReadAll(r.Body)
		d := deleteRequest{path: r.URL.Path, query: r.URL.RawQuery}
		_ = json.Unmarshal(body, &d.opts)
		n.mu.Lock()
		n.deletes = append(n.deletes, d)
		keep := n.keepDeleted
		n.mu.Unlock()
		if keep {
			r.Method = http.MethodGet // answer with the pod, leave it in place
		}
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		n.fakeAPI.ServeHTTP(w, r)
	case r.Method == http.MethodGet && r.URL.Query().Get("fieldSelector") != "":
		fs := r.URL.Query().Get("fieldSelector")
		n.mu.Lock()
		n.fieldSels = append(n.fieldSels, r.URL.Path+"?fieldSelector="+fs)
		n.mu.Unlock()
		node, ok := strings.CutPrefix(fs, "spec.nodeName=")
		if !ok {
			writeStatusResp(w, v1.NewBadRequest("unsupported field selector "+fs))
			return
		}
		rec := httptest.NewRecorder()
		n.fakeAPI.ServeHTTP(rec, r)
		var list map[string]any
		_ = json.Unmarshal(rec.Body.Bytes(), &list)
		items, _ := list["items"].([]any)
		kept := []any{}
		for _, it := range items {
			spec, _ := it.(map[string]any)["spec"].(map[string]any)
			if spec["nodeName"] == node {
				kept = append(kept, it)
			}
		}
		list["items"] = kept
		writeJSONResp(w, rec.Code, list)
	default:
		n.fakeAPI.ServeHTTP(w, r)
	}
}

func (n *nodeAPI) deleted() []deleteRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]deleteRequest(nil), n.deletes...)
}

// newNodeCLI is newCLI with the fake API wrapped in a nodeAPI.
func newNodeCLI(t *testing.T) (*cli, *nodeAPI) {
	t.Helper()
	n := &nodeAPI{fakeAPI: newFakeAPI()}
	s := httptest.NewTLSServer(n)
	t.Cleanup(s.Close)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.crt")
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.Certificate().Raw})
	if err := os.WriteFile(caFile, caPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return &cli{t: t, api: n.fakeAPI, url: s.URL, caFile: caFile, dir: dir}, n
}

func nodeManifest(name string) string {
	return fmt.Sprintf("---\napiVersion: v1\nkind: Node\nmetadata: {name: %s}\nspec: {}\n", name)
}

// podOn is a pod bound to node; managed pods have a controller reference
// to the RC web.
func podOn(ns, name, node string, managed bool) string {
	owners := ""
	if managed {
		owners = ", ownerReferences: [{apiVersion: v1, kind: ReplicationController, name: web, uid: uid-web, controller: true}]"
	}
	return fmt.Sprintf("---\napiVersion: v1\nkind: Pod\nmetadata: {name: %s, namespace: %s%s}\nspec: {nodeName: %s, containers: [{name: c, image: i}]}\n",
		name, ns, owners, node)
}

func unschedulable(t *testing.T, c *cli, node string) bool {
	t.Helper()
	spec, _ := c.api.object(t, "nodes", "", node)["spec"].(map[string]any)
	u, _ := spec["unschedulable"].(bool)
	return u
}

func TestCordonUncordon(t *testing.T) {
	c := newCLI(t)
	c.ok(nodeManifest("n1")+nodeManifest("n2"), "create", "-f", "-")

	if out := c.ok("", "cordon", "n1"); out != "node/n1 cordoned\n" {
		t.Fatalf("cordon: %q", out)
	}
	if !unschedulable(t, c, "n1") || unschedulable(t, c, "n2") {
		t.Fatal("cordon n1 did not set spec.unschedulable on n1 alone")
	}
	c.api.mu.Lock()
	patches := append([]string(nil), c.api.patches...)
	c.api.mu.Unlock()
	if len(patches) != 1 || patches[0] != `{"spec":{"unschedulable":true}}` {
		t.Fatalf("patches sent: %q", patches)
	}
	if out := c.ok("", "cordon", "n1", "n2"); out != "node/n1 already cordoned\nnode/n2 cordoned\n" {
		t.Fatalf("cordon again: %q", out)
	}
	if !unschedulable(t, c, "n2") {
		t.Fatal("n2 not cordoned")
	}

	if out := c.ok("", "uncordon", "n1"); out != "node/n1 uncordoned\n" {
		t.Fatalf("uncordon: %q", out)
	}
	if unschedulable(t, c, "n1") {
		t.Fatal("uncordon n1 left spec.unschedulable set")
	}
	if out := c.ok("", "uncordon", "n1"); out != "node/n1 already uncordoned\n" {
		t.Fatalf("uncordon again: %q", out)
	}
	c.api.mu.Lock()
	last := c.api.patches[len(c.api.patches)-1]
	c.api.mu.Unlock()
	if last != `{"spec":{"unschedulable":false}}` {
		t.Fatalf("uncordon patch: %q", last)
	}

	// A missing node is reported and the others are still handled.
	out := c.fails("", `Error from server (NotFound): nodes "nope" not found`, "uncordon", "nope", "n2")
	if out != "node/n2 uncordoned\n" {
		t.Fatalf("uncordon with a missing node: %q", out)
	}
	c.fails("", "name the nodes to cordon", "cordon")
	c.fails("", "name one node to drain", "drain", "n1", "n2")
}

func TestDrainRefusesUnmanagedPods(t *testing.T) {
	c, n := newNodeCLI(t)
	c.ok(nodeManifest("n1")+nodeManifest("n2")+
		"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n", "create", "-f", "-")
	c.ok(podOn("default", "web-a", "n1", true)+podOn("prod", "lone", "n1", false)+
		podOn("default", "solo", "n1", false)+podOn("default", "web-b", "n2", true), "create", "-f", "-")

	out := c.fails("", "error: cannot delete Pods not managed by a ReplicationController (use --force to override): default/solo, prod/lone",
		"drain", "n1")
	if out != "node/n1 cordoned\n" {
		t.Fatalf("refused drain printed %q", out)
	}
	if !unschedulable(t, c, "n1") {
		t.Fatal("refused drain did not cordon the node")
	}
	if d := n.deleted(); len(d) != 0 {
		t.Fatalf("refused drain deleted %v", d)
	}
	n.mu.Lock()
	sels := append([]string(nil), n.fieldSels...)
	n.mu.Unlock()
	if len(sels) != 1 || sels[0] != "/api/v1/pods?fieldSelector=spec.nodeName=n1" {
		t.Fatalf("pod lists: %q, want one across all namespaces for spec.nodeName=n1", sels)
	}
	for _, p := range [][2]string{{"default", "web-a"}, {"prod", "lone"}, {"default", "solo"}} {
		c.api.object(t, "pods", p[0], p[1]) // still there
	}
}

func TestDrainForceAndGracePeriod(t *testing.T) {
	c, n := newNodeCLI(t)
	c.ok(nodeManifest("n1")+nodeManifest("n2")+
		"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: prod}\n", "create", "-f", "-")
	c.ok(podOn("default", "web-a", "n1", true)+podOn("prod", "lone", "n1", false)+
		podOn("default", "web-b", "n2", true), "create", "-f", "-")

	out, errOut, code := c.run("", "drain", "n1", "--force", "--grace-period", "7", "--timeout", "5s")
	if code != 0 {
		t.Fatalf("drain --force: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	if out != "node/n1 cordoned\npod/web-a evicted\npod/lone evicted\nnode/n1 drained\n" {
		t.Fatalf("drain --force printed %q", out)
	}
	if !strings.Contains(errOut, "prod/lone") {
		t.Fatalf("no warning about the unmanaged pod: %q", errOut)
	}
	d := n.deleted()
	if len(d) != 2 {
		t.Fatalf("deletes: %+v", d)
	}
	paths := map[string]bool{}
	for _, r := range d {
		paths[r.path] = true
		if r.opts.GracePeriodSeconds == nil || *r.opts.GracePeriodSeconds != 7 || !strings.Contains(r.query, "gracePeriodSeconds=7") {
			t.Errorf("delete %s: query %q, options %+v; want grace period 7", r.path, r.query, r.opts)
		}
	}
	if !paths["/api/v1/namespaces/default/pods/web-a"] || !paths["/api/v1/namespaces/prod/pods/lone"] {
		t.Fatalf("deleted %v", paths)
	}
	c.api.object(t, "pods", "default", "web-b") // on another node: untouched

	// Draining again: already cordoned, nothing left to delete.
	if out := c.ok("", "drain", "n1"); out != "node/n1 already cordoned\nnode/n1 drained\n" {
		t.Fatalf("second drain: %q", out)
	}
}

func TestDrainGracefulAndTimeout(t *testing.T) {
	c, n := newNodeCLI(t)
	c.ok(nodeManifest("n1"), "create", "-f", "-")
	c.ok(podOn("default", "web-a", "n1", true), "create", "-f", "-")
	n.mu.Lock()
	n.keepDeleted = true
	n.mu.Unlock()

	// Without --grace-period the pod's own grace period applies: no
	// gracePeriodSeconds is sent. Without --timeout drain does not wait.
	if out := c.ok("", "drain", "n1"); out != "node/n1 cordoned\npod/web-a evicted\nnode/n1 drained\n" {
		t.Fatalf("drain: %q", out)
	}
	d := n.deleted()
	if len(d) != 1 || d[0].opts.GracePeriodSeconds != nil || strings.Contains(d[0].query, "gracePeriodSeconds") {
		t.Fatalf("graceful delete sent %+v", d)
	}

	// With --timeout it waits, and fails when the pod outlives it.
	old := drainPollInterval
	drainPollInterval = 20 * time.Millisecond
	defer func() { drainPollInterval = old }()
	start := time.Now()
	out := c.fails("", "timed out after 200ms waiting for pods to be deleted: default/web-a", "drain", "n1", "--timeout", "200ms")
	if out != "node/n1 already cordoned\npod/web-a evicted\n" {
		t.Fatalf("timed-out drain printed %q", out)
	}
	if el := time.Since(start); el < 200*time.Millisecond || el > 5*time.Second {
		t.Fatalf("timed out after %v", el)
	}

	// Once the pod is gone the wait ends.
	n.mu.Lock()
	n.keepDeleted = false
	n.mu.Unlock()
	if out := c.ok("", "drain", "n1", "--timeout", "10s"); out != "node/n1 already cordoned\npod/web-a evicted\nnode/n1 drained\n" {
		t.Fatalf("drain: %q", out)
	}
}
