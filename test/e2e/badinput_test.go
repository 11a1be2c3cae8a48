package e2e

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// Done-when 5: bad input changes nothing and gets a clear Status.
func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	c := startCluster(t, harness.Options{})
	admin := c.Client()
	existing := testPod("existing")
	if err := admin.Create(ctxT(t, 10*time.Second), existing); err != nil {
		t.Fatal(err)
	}
	withToken := func(tok string) *client.Client {
		cfg := c.Config()
		cfg.Token = tok
		cl, err := client.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return cl
	}
	podJSON := func(name string, extra string) []byte {
		return []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"` + name + `"` + extra +
			`},"spec":{"containers":[{"name":"c","image":"busybox"}]}}`)
	}
	deep := []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000))
	big := append([]byte(`{"metadata":{"name":"big","annotations":{"a":"`), bytes.Repeat([]byte("x"), 3<<20+10)...)
	big = append(big, []byte(`"}}}`)...)
	stale := v1.DeepCopy(existing)
	stale.ResourceVersion = "1"
	stale.Labels = map[string]string{"changed": "yes"}

	const pods = "/api/v1/namespaces/default/pods"
	cases := []struct {
		name   string
		cl     *client.Client
		method string
		path   string
		body   any
		code   int
		reason string
		says   string // part of the message
	}{
		{"unknown field", admin, http.MethodPost, pods, []byte(`{"metadata":{"name":"u"},"spec":{"containers":[{"name":"c","image":"b"}]},"bogus":1}`), 400, v1.ReasonBadRequest, `unknown field "bogus"`},
		{"upper-case name", admin, http.MethodPost, pods, podJSON("Web", ""), 422, v1.ReasonInvalid, "metadata.name"},
		{"slash in name", admin, http.MethodPost, pods, podJSON("a/b", ""), 422, v1.ReasonInvalid, "metadata.name"},
		{"dot-dot name", admin, http.MethodPost, pods, podJSON("../x", ""), 422, v1.ReasonInvalid, "metadata.name"},
		{"254-char name", admin, http.MethodPost, pods, podJSON(strings.Repeat("a", 254), ""), 422, v1.ReasonInvalid, "metadata.name"},
		{"64-char label value", admin, http.MethodPost, pods, podJSON("l", `,"labels":{"k":"`+strings.Repeat("v", 64)+`"}`), 422, v1.ReasonInvalid, "metadata.labels"},
		{"body over 3 MiB", admin, http.MethodPost, pods, big, 413, v1.ReasonRequestTooLarge, "larger than the limit"},
		{"JSON nested 10,000 deep", admin, http.MethodPost, pods, deep, 400, v1.ReasonBadRequest, "nested deeper"},
		{"no token", withToken(""), http.MethodPost, pods, podJSON("n", ""), 401, v1.ReasonUnauthorized, "token"},
		{"wrong token", withToken("not-the-token"), http.MethodPost, pods, podJSON("n", ""), 401, v1.ReasonUnauthorized, "not valid"},
		{"stale resourceVersion", admin, http.MethodPut, pods + "/existing", stale, 409, v1.ReasonConflict, "modified"},
		{"missing namespace", admin, http.MethodPost, "/api/v1/namespaces/nope/pods", podJSON("m", ""), 404, v1.ReasonNotFound, `namespaces "nope" not found`},
	}
	before := listKeys(t, admin, "pods", false)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cl.Do(ctxT(t, 10*time.Second), tc.method, tc.path, nil, tc.body, nil)
			if err == nil {
				t.Fatalf("accepted; want %d %s", tc.code, tc.reason)
			}
			se, ok := err.(*v1.StatusError)
			if !ok {
				t.Fatalf("error %T %v is not a Status", err, err)
			}
			if int(se.Status.Code) != tc.code || se.Status.Reason != tc.reason || !strings.Contains(se.Status.Message, tc.says) {
				t.Fatalf("got %d %s %q; want %d %s containing %q", se.Status.Code, se.Status.Reason, se.Status.Message, tc.code, tc.reason, tc.says)
			}
		})
	}
	if err := equalStrings(listKeys(t, admin, "pods", false), before); err != nil {
		t.Fatalf("bad input changed the pods: %v", err)
	}
	var got v1.Pod
	if err := admin.Get(ctxT(t, 5*time.Second), "pods", "default", "existing", &got); err != nil {
		t.Fatal(err)
	}
	if got.Labels["changed"] != "" || got.ResourceVersion != existing.ResourceVersion {
		t.Fatalf("the stale update changed the pod: %+v", got.ObjectMeta)
	}
}
