package e2e

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
	"orch.io/orch/test/harness"
)

// The hostile-client suite: one cluster of three real masters, one table of
// inputs a careless or hostile client sends (hostileCases), each sent with
// the admin token and with a node's certificate (system:node:hostile-n1). Every input must get a clear 4xx
// Status naming the problem and change nothing on any master; afterwards the
// three masters are up with the same objects and a normal write of that
// token succeeds. At the end no master's FSM has rejected a committed entry
// (nothing bad reached the log) and every master is ready.

// hostileKinds are the resources whose every object (name and
// resourceVersion) is compared before and after each case on each master.
var hostileKinds = []string{"namespaces", "nodes", "pods", "replicationcontrollers", "services", "endpoints",
	"resourcequotas", "limitranges"}

// want is the Status a case must get.
type want struct {
	code   int
	reason string
	says   string // part of the message
}

// forNode says what the node (its certificate) gets.
type forNode int

const (
	// nodeSame: the node may make the request and gets the admin's answer.
	nodeSame forNode = iota
	// nodeForbidden: the node may not make the request: 403.
	nodeForbidden
	// nodeNotSent: the case carries its own credentials (no token, a wrong one).
	nodeNotSent
)

// hostileCase is one hostile request.
type hostileCase struct {
	name   string
	method string
	path   string
	query  url.Values
	// body is sent as is ([]byte) or JSON-encoded; nil sends none.
	body any
	// contentType overrides application/json.
	contentType string
	want        want
	node        forNode
	// token, if not nil, is the only token the case is sent with (its
	// node is then nodeNotSent).
	token *string
}

// hostileEnv is the cluster and the clients the suite drives it with.
type hostileEnv struct {
	c *harness.Cluster
	// admin and node are clients of each single master, by master index,
	// so a case reaches the master it is aimed at (leader or follower).
	admin, node []*client.Client
	http        *http.Client
	// nodeHTTP presents the node's certificate; nodeDir holds it.
	nodeHTTP *http.Client
	nodeDir  string
	tokens   map[string]string
}

func newHostileEnv(t *testing.T) *hostileEnv {
	// A node that is silent for the whole suite must not be marked
	// unreachable in the middle of it: that write would not be the suite's.
	c := startCluster(t, harness.Options{MasterArgs: []string{"--node-grace=1h", "--node-eviction-timeout=2h"}})
	b, err := pki.Load(c.PKIDir)
	if err != nil {
		t.Fatalf("load pki: %v", err)
	}
	// The node is system:node:hostile-n1, with its own certificate.
	nodeDir := filepath.Join(t.TempDir(), "node")
	if err := pki.IssueNode(pki.IssueNodeOptions{Dir: c.PKIDir, Name: hostileNode, Out: nodeDir}, time.Now()); err != nil {
		t.Fatal(err)
	}
	nodeCert, err := tls.LoadX509KeyPair(filepath.Join(nodeDir, pki.NodeCert), filepath.Join(nodeDir, pki.NodeKey))
	if err != nil {
		t.Fatal(err)
	}
	e := &hostileEnv{c: c, tokens: map[string]string{"admin": b.AdminToken, "node": nodeCredential}, nodeDir: nodeDir}
	for i := range c.Masters {
		e.admin = append(e.admin, e.clientFor(t, b.AdminToken, i))
		e.node = append(e.node, e.clientFor(t, nodeCredential, i))
	}
	// Plain HTTPS clients for what api/client does not send (raw content
	// types, /metrics, /readyz): one without and one with the node's certificate.
	cfg := c.Config()
	tr := &http.Transport{TLSClientConfig: tlsConfig(t, cfg.CertificateAuthorityData)}
	t.Cleanup(tr.CloseIdleConnections)
	e.http = &http.Client{Transport: tr, Timeout: 10 * time.Second}
	ntc := tlsConfig(t, cfg.CertificateAuthorityData)
	ntc.Certificates = []tls.Certificate{nodeCert}
	ntr := &http.Transport{TLSClientConfig: ntc}
	t.Cleanup(ntr.CloseIdleConnections)
	e.nodeHTTP = &http.Client{Transport: ntr, Timeout: 10 * time.Second}
	return e
}

// nodeCredential, as a token, stands for the node's certificate.
const nodeCredential = "<node certificate>"

// clientFor returns a client of the masters with token, or with the
// node's certificate for nodeCredential.
func (e *hostileEnv) clientFor(t *testing.T, token string, masters ...int) *client.Client {
	t.Helper()
	cfg := e.c.Config(masters...)
	cfg.Token = token
	if token == nodeCredential {
		cfg.Token = ""
		cfg.ClientCertificate = filepath.Join(e.nodeDir, pki.NodeCert)
		cfg.ClientKey = filepath.Join(e.nodeDir, pki.NodeKey)
	}
	// One round: a refused request must be refused by the master it was
	// sent to, not retried elsewhere.
	cfg.FailoverRounds = 1
	cl, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	return cl
}

// snapshot returns, for every master, "kind ns/name@rv" of every object of
// hostileKinds: each master is first brought up to date with a
// linearizable read on it (a read barrier), then read with ?stale=true, so
// the lists are exactly what each master holds.
func (e *hostileEnv) snapshot(t *testing.T) [][]string {
	t.Helper()
	out := make([][]string, len(e.admin))
	for i, cl := range e.admin {
		var ns v1.Namespace
		if err := cl.Get(ctxT(t, 10*time.Second), "namespaces", "", "default", &ns); err != nil {
			t.Fatalf("read barrier on master %d: %v", i+1, err)
		}
		for _, kind := range hostileKinds {
			for _, k := range listKeys(t, cl, kind, true) {
				out[i] = append(out[i], kind+" "+k)
			}
		}
	}
	return out
}

// sameEverywhere fails unless every master holds the same objects.
func sameEverywhere(t *testing.T, snap [][]string) {
	t.Helper()
	for i := 1; i < len(snap); i++ {
		if err := equalStrings(snap[0], snap[i]); err != nil {
			t.Fatalf("master %d and master 1 hold different objects: %v", i+1, err)
		}
	}
}

// send sends the case with cl and returns the error (nil if accepted). A
// watch that is answered 200 is read until the context ends: a hostile
// watch must be refused, not hang.
func send(ctx context.Context, cl *client.Client, tc hostileCase) error {
	return cl.Do(ctx, tc.method, tc.path, tc.query, tc.body, nil)
}

// sendRaw sends the case over plain HTTPS to master i, for what api/client
// does not let a caller choose (the Content-Type).
func (e *hostileEnv) sendRaw(ctx context.Context, i int, token string, tc hostileCase) error {
	var body io.Reader
	switch b := tc.body.(type) {
	case nil:
	case []byte:
		body = strings.NewReader(string(b))
	default:
		return fmt.Errorf("sendRaw: body %T", tc.body)
	}
	u := e.c.Masters[i].URL() + tc.path
	if len(tc.query) > 0 {
		u += "?" + tc.query.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, tc.method, u, body)
	if err != nil {
		return err
	}
	hc := e.http
	if token == nodeCredential {
		hc = e.nodeHTTP // the node: its certificate
	} else {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("Content-Type", tc.contentType)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return statusFrom(resp.StatusCode, b)
}

// checkStatus fails unless err is the Status w.
func checkStatus(t *testing.T, err error, w want) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted; want %d %s naming %q", w.code, w.reason, w.says)
	}
	var se *v1.StatusError
	if !errors.As(err, &se) {
		t.Fatalf("error %T %v is not a Status; want %d %s", err, err, w.code, w.reason)
	}
	if int(se.Status.Code) != w.code || se.Status.Reason != w.reason || !strings.Contains(se.Status.Message, w.says) {
		t.Fatalf("got %d %s %q; want %d %s containing %q", se.Status.Code, se.Status.Reason, se.Status.Message, w.code, w.reason, w.says)
	}
}

// normalWrite makes a write the token is allowed, which must succeed: the
// admin creates a pod, the node reports a heartbeat of its Node.
func (e *hostileEnv) normalWrite(t *testing.T, token string, i, n int) {
	t.Helper()
	ctx := ctxT(t, 10*time.Second)
	if token == "admin" {
		if err := e.admin[i].Create(ctx, testPod(fmt.Sprintf("ok-%03d", n))); err != nil {
			t.Fatalf("a normal create after the case failed: %v", err)
		}
		return
	}
	var nd v1.Node
	if err := e.node[i].Get(ctx, "nodes", "", hostileNode, &nd); err != nil {
		t.Fatalf("get node: %v", err)
	}
	for j := range nd.Status.Conditions {
		if nd.Status.Conditions[j].Type == v1.NodeReady {
			nd.Status.Conditions[j].LastHeartbeatTime = v1.NewTime(time.Now())
		}
	}
	if err := e.node[i].UpdateStatus(ctx, &nd); err != nil {
		t.Fatalf("a normal node status update after the case failed: %v", err)
	}
}

// checkMasters fails unless every master is ready and its FSM never
// rejected a committed entry.
func (e *hostileEnv) checkMasters(t *testing.T) {
	t.Helper()
	for i, m := range e.c.Masters {
		if !m.Running() {
			t.Fatalf("master %d exited", i+1)
		}
		body, code, err := e.get(t, m.URL()+"/readyz")
		if err != nil || code != http.StatusOK {
			t.Fatalf("master %d /readyz: %d %s %v", i+1, code, body, err)
		}
		body, code, err = e.get(t, m.URL()+"/metrics")
		if err != nil || code != http.StatusOK {
			t.Fatalf("master %d /metrics: %d %v", i+1, code, err)
		}
		ms, err := parseMetrics([]byte(body))
		if err != nil {
			t.Fatalf("master %d: %v", i+1, err)
		}
		v, ok := ms["orch_fsm_rejected_entries_total"]
		if !ok {
			t.Fatalf("master %d: orch_fsm_rejected_entries_total is not exported", i+1)
		}
		if v != 0 {
			t.Fatalf("master %d: orch_fsm_rejected_entries_total is %v: a bad entry reached the log", i+1, v)
		}
	}
}

func (e *hostileEnv) get(t *testing.T, u string) (string, int, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctxT(t, 10*time.Second), http.MethodGet, u, nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Authorization", "Bearer "+e.tokens["admin"]) // /metrics needs a credential
	resp, err := e.http.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), resp.StatusCode, err
}

// A hostile client cannot crash a master, write half-way, or have its input
// accepted and ignored (the issue's and the older bad-input table, one table).
func TestHostileClient(t *testing.T) {
	parallel(t)
	start := time.Now()
	e := newHostileEnv(t)
	fx := e.fixtures(t)
	e.c.WaitCaughtUp(10 * time.Second)
	n := 0
	for ci, tc := range hostileCases(fx) {
		i := ci % len(e.c.Masters) // leader and followers alike
		for _, token := range []string{"admin", "node"} {
			if token == "node" && tc.node == nodeNotSent {
				continue
			}
			label := token
			if tc.token != nil {
				label = "own token"
			}
			t.Run(tc.name+"/"+label, func(t *testing.T) { e.run(t, tc, token, i, n) })
			n++
		}
	}
	t.Run("replicas 1000000000", func(t *testing.T) { e.hugeReplicas(t) })
	t.Run("masters", func(t *testing.T) {
		e.c.WaitCaughtUp(10 * time.Second)
		sameEverywhere(t, e.snapshot(t))
		e.checkMasters(t)
	})
	t.Logf("%d hostile requests in %v", n, time.Since(start).Round(time.Millisecond))
}

// run sends one case with a token to master i and checks its answer, that no
// master changed, that every master is still ready with no rejected entry,
// and that a normal write of that token (the n-th) succeeds.
func (e *hostileEnv) run(t *testing.T, tc hostileCase, token string, i, n int) {
	w := tc.want
	if token == "node" && tc.node == nodeForbidden {
		w = want{403, v1.ReasonForbidden, hostileNode}
	}
	if token == "node" && tc.method == http.MethodGet && strings.HasSuffix(tc.path, "/pods") && tc.query.Get("fieldSelector") == "" {
		// A node lists and watches only its own pods, as its agent does.
		q := url.Values{}
		for k, v := range tc.query {
			q[k] = v
		}
		q.Set("fieldSelector", "spec.nodeName="+hostileNode)
		tc.query = q
	}
	before := e.snapshot(t)
	sameEverywhere(t, before)
	ctx := ctxT(t, 15*time.Second)
	var err error
	switch {
	case tc.token != nil:
		err = send(ctx, e.clientFor(t, *tc.token, i), tc)
	case tc.contentType != "":
		err = e.sendRaw(ctx, i, e.tokens[token], tc)
	case token == "admin":
		err = send(ctx, e.admin[i], tc)
	default:
		err = send(ctx, e.node[i], tc)
	}
	if ctx.Err() != nil {
		t.Fatalf("no answer within 15s (%v)", err)
	}
	checkStatus(t, err, w)
	after := e.snapshot(t)
	sameEverywhere(t, after)
	for m := range after {
		if err := equalStrings(before[m], after[m]); err != nil {
			t.Fatalf("the refused request changed master %d: %v", m+1, err)
		}
	}
	e.checkMasters(t)
	e.normalWrite(t, token, i, n)
}
