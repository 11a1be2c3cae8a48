package apiserver

import (
	"net/http"
	"strings"
	"testing"

	v1 "orch.io/orch/api/v1"
)

// Inputs a hostile or careless client sends: each gets a 4xx Status naming
// the problem, and nothing is written.
func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	e := newTestEnv(t)
	e.createPod(t, "keep", nil)
	pod := `{"metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"b"}]}}`
	withMeta := func(meta string) string {
		return `{"metadata":{` + meta + `},"spec":{"containers":[{"name":"a","image":"b"}]}}`
	}
	tests := []struct {
		name, method, path, body string
		code                     int
		want                     string
	}{
		{"duplicate key", "POST", podPath(""), withMeta(`"name":"a","name":"b"`), 400, `duplicate field "metadata.name"`},
		{"case variant key", "POST", podPath(""), withMeta(`"name":"a","Name":"b"`), 400, `unknown field "metadata.Name"`},
		{"unknown nested field", "POST", podPath(""), `{"metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"b","imagee":"c"}]}}`, 400, `unknown field "spec.containers[0].imagee"`},
		{"two values", "POST", podPath(""), pod + pod, 400, "does not decode"},
		{"a time past 9999 in UTC", "POST", podPath(""), withMeta(`"name":"x","creationTimestamp":"9999-12-31T23:59:59-23:59"`), 400, "outside the years 0001-9999"},
		{"status time past 9999", "PUT", podPath("keep") + "/status", `{"metadata":{"name":"keep"},"spec":{"containers":[{"name":"a","image":"b"}]},"status":{"conditions":[{"type":"Ready","status":"True","lastTransitionTime":"9999-12-31T23:59:59-23:59"}]}}`, 400, "outside the years"},
		{"a resourceVersion on create", "POST", podPath(""), withMeta(`"name":"x","resourceVersion":"5"`), 400, "resourceVersion should not be set"},
		{"a bad resourceVersion on update", "PUT", podPath("keep"), withMeta(`"name":"keep","resourceVersion":"abc"`), 422, "metadata.resourceVersion"},
		{"an overflowing cpu", "POST", podPath(""), `{"metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"b","resources":{"requests":{"cpu":"9223372036854776"}}}]}}`, 422, "requests[cpu]"},
		{"a memory limit of 1e30", "POST", podPath(""), `{"metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"b","resources":{"limits":{"memory":"1e30"}}}]}}`, 422, "limits[memory]"},
		{"a limit named foo", "POST", podPath(""), `{"metadata":{"name":"x"},"spec":{"containers":[{"name":"a","image":"b","resources":{"limits":{"foo":"1"}}}]}}`, 422, "limits[foo]"},
		{"an overflowing grace period", "POST", podPath(""), `{"metadata":{"name":"x"},"spec":{"terminationGracePeriodSeconds":9223372037,"containers":[{"name":"a","image":"b"}]}}`, 422, "terminationGracePeriodSeconds"},
		{"a negative grace in the body", "DELETE", podPath("keep"), `{"gracePeriodSeconds":-5}`, 400, "gracePeriodSeconds -5"},
		{"a negative grace in the query", "DELETE", podPath("keep") + "?gracePeriodSeconds=-5", "", 400, "gracePeriodSeconds"},
		{"an overflowing grace in the query", "DELETE", podPath("keep") + "?gracePeriodSeconds=9223372037", "", 400, "gracePeriodSeconds"},
		{"a bad precondition", "DELETE", podPath("keep"), `{"preconditions":{"resourceVersion":"x"}}`, 400, "preconditions.resourceVersion"},
		{"a list from a bad resourceVersion", "GET", podPath("") + "?resourceVersion=abc", "", 400, `resourceVersion: Invalid value: "abc"`},
		{"a get from a bad resourceVersion", "GET", podPath("keep") + "?resourceVersion=-1", "", 400, "resourceVersion"},
		{"a list from the future", "GET", podPath("") + "?resourceVersion=999999999", "", 504, "Too large resource version: 999999999"},
		{"a watch from 2^64-1", "GET", podPath("") + "?watch=true&resourceVersion=18446744073709551615", "", 504, "Too large resource version"},
		{"a watch from beyond 2^64", "GET", podPath("") + "?watch=true&resourceVersion=18446744073709551616", "", 400, "resourceVersion"},
		{"an overflowing watch timeout", "GET", podPath("") + "?watch=true&timeoutSeconds=9223372037", "", 400, "timeoutSeconds"},
		{"a negative watch timeout", "GET", podPath("") + "?watch=true&timeoutSeconds=-1", "", 400, "timeoutSeconds"},
		{"a bad watch flag", "GET", podPath("") + "?watch=yes", "", 400, "watch"},
		{"a bad timeout", "GET", podPath("") + "?timeout=soon", "", 400, "invalid timeout"},
		{"a bad fieldValidation", "POST", podPath("") + "?fieldValidation=Loose", pod, 400, "fieldValidation"},
		{"Exact without a resourceVersion", "GET", podPath("") + "?resourceVersionMatch=Exact", "", 400, "resourceVersionMatch is forbidden"},
		{"Exact at an old resourceVersion", "GET", podPath("") + "?resourceVersionMatch=Exact&resourceVersion=1", "", 410, "too old"},
		{"a bad limit", "GET", podPath("") + "?limit=-1", "", 400, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := e.listRaw(t)
			var body any
			if tt.body != "" {
				body = tt.body
			}
			st := e.expectStatus(t, tt.code, tt.method, tt.path, body)
			if !strings.Contains(st.Message, tt.want) {
				t.Errorf("message %q does not contain %q", st.Message, tt.want)
			}
			if after := e.listRaw(t); after != before {
				t.Errorf("the refused request changed the pods:\nbefore %s\nafter  %s", before, after)
			}
		})
	}
	// The server still serves.
	e.createPod(t, "after", nil)
}

// listRaw returns the pods list's items, to compare before and after.
func (e *testEnv) listRaw(t *testing.T) string {
	t.Helper()
	b := e.expectCode(t, http.StatusOK, http.MethodGet, podPath(""), nil)
	l := decode[v1.List[v1.Pod]](t, b)
	var sb strings.Builder
	for _, p := range l.Items {
		sb.WriteString(p.Name + "@" + p.ResourceVersion + " ")
	}
	return sb.String()
}

// Reads at a resourceVersion the master has applied are served; the list's
// own resourceVersion works with Exact.
func TestReadsAtAResourceVersion(t *testing.T) {
	e := newTestEnv(t)
	p := e.createPod(t, "a", nil)
	e.expectCode(t, http.StatusOK, http.MethodGet, podPath("a")+"?resourceVersion="+p.ResourceVersion, nil)
	b := e.expectCode(t, http.StatusOK, http.MethodGet, podPath("")+"?resourceVersion=0", nil)
	rv := decode[v1.List[v1.Pod]](t, b).ListMeta.ResourceVersion
	b = e.expectCode(t, http.StatusOK, http.MethodGet, podPath("")+"?resourceVersionMatch=Exact&resourceVersion="+rv, nil)
	if got := decode[v1.List[v1.Pod]](t, b); len(got.Items) != 1 {
		t.Fatalf("Exact list: %d items", len(got.Items))
	}
	w := e.openWatch(t, podPath(""), map[string][]string{"resourceVersion": {rv}, "timeoutSeconds": {"9223372036"}})
	e.createPod(t, "b", nil)
	w.expect(t, v1.Added, "b")
}
