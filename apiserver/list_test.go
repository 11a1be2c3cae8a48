package apiserver

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"testing"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

type podList struct {
	Kind       string `json:"kind"`
	APIVersion string `json:"apiVersion"`
	Metadata   struct {
		ResourceVersion string `json:"resourceVersion"`
		Continue        string `json:"continue"`
	} `json:"metadata"`
	Items []v1.Pod `json:"items"`
}

func (e *testEnv) listPods(t *testing.T, path string, q url.Values) podList {
	t.Helper()
	return decode[podList](t, e.expectCode(t, http.StatusOK, http.MethodGet, path+"?"+q.Encode(), nil))
}

func names(pods []v1.Pod) []string {
	var out []string
	for _, p := range pods {
		out = append(out, p.Name)
	}
	return out
}

func TestListPaging(t *testing.T) {
	e := newTestEnv(t)
	var want []string
	for i := range 25 {
		name := fmt.Sprintf("p%02d", i)
		e.createPod(t, name, nil)
		want = append(want, name)
	}
	// A pod in another namespace must not show up in pages of default.
	if err := e.admin.Create(testCtx(t), &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "other"}}); err != nil {
		t.Fatal(err)
	}
	other := newPod("o", nil)
	other.Namespace = "other"
	if err := e.admin.Create(testCtx(t), other); err != nil {
		t.Fatal(err)
	}

	var got []string
	var sizes []int
	tok := ""
	for page := 0; ; page++ {
		if page > 5 {
			t.Fatalf("paging does not end: %v", got)
		}
		q := url.Values{"limit": {"10"}}
		if tok != "" {
			q.Set("continue", tok)
		}
		l := e.listPods(t, podPath(""), q)
		if l.Kind != "PodList" || l.APIVersion != "v1" || l.Metadata.ResourceVersion == "" {
			t.Fatalf("page %d: kind %q apiVersion %q resourceVersion %q", page, l.Kind, l.APIVersion, l.Metadata.ResourceVersion)
		}
		got = append(got, names(l.Items)...)
		sizes = append(sizes, len(l.Items))
		if tok = l.Metadata.Continue; tok == "" {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("pages gave %v, want %v", got, want)
	}
	if !slices.Equal(sizes, []int{10, 10, 5}) {
		t.Fatalf("page sizes %v, want [10 10 5]", sizes)
	}

	// Across all namespaces, the other namespace's pod comes after default's.
	all, tok := []string{}, ""
	for {
		l, err := e.admin.List(testCtx(t), "pods", "", client.ListOptions{Limit: 10, Continue: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range l.Items {
			var p v1.Pod
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatal(err)
			}
			all = append(all, p.Namespace+"/"+p.Name)
		}
		if tok = l.Continue; tok == "" {
			break
		}
	}
	if len(all) != 26 || all[25] != "other/o" {
		t.Fatalf("all-namespace pages gave %v", all)
	}

	for _, bad := range []string{"not-base64!", "e30", "bm9wZQ"} { // garbage, {}, "nope"
		st := e.expectStatus(t, http.StatusBadRequest, http.MethodGet, podPath("")+"?limit=10&continue="+bad, nil)
		if st.Reason != v1.ReasonBadRequest {
			t.Errorf("continue %q: reason %q", bad, st.Reason)
		}
	}
	e.expectStatus(t, http.StatusBadRequest, http.MethodGet, podPath("")+"?limit=-1", nil)
	e.expectStatus(t, http.StatusBadRequest, http.MethodGet, podPath("")+"?limit=ten", nil)
}

func TestListSelectors(t *testing.T) {
	e := newTestEnv(t)
	e.createNode(t, "n1")
	e.createNode(t, "n2")
	e.createPod(t, "a", map[string]string{"app": "web", "tier": "front"})
	e.createPod(t, "b", map[string]string{"app": "web", "tier": "back"})
	last := e.createPod(t, "c", map[string]string{"app": "db"})
	e.bind(t, "a", "n1")
	e.bind(t, "c", "n2")

	for _, tc := range []struct {
		query url.Values
		want  []string
	}{
		{url.Values{}, []string{"a", "b", "c"}},
		{url.Values{"labelSelector": {"app=web"}}, []string{"a", "b"}},
		{url.Values{"labelSelector": {"app=web,tier!=front"}}, []string{"b"}},
		{url.Values{"labelSelector": {"app in (db,cache)"}}, []string{"c"}},
		{url.Values{"labelSelector": {"!tier"}}, []string{"c"}},
		{url.Values{"labelSelector": {"app=none"}}, nil},
		{url.Values{"fieldSelector": {"spec.nodeName=n1"}}, []string{"a"}},
		{url.Values{"fieldSelector": {"spec.nodeName="}}, []string{"b"}},
		{url.Values{"fieldSelector": {"spec.nodeName!=n1"}}, []string{"b", "c"}},
		{url.Values{"fieldSelector": {"metadata.name=b"}}, []string{"b"}},
		{url.Values{"fieldSelector": {"spec.nodeName=n2"}, "labelSelector": {"app=db"}}, []string{"c"}},
		{url.Values{"fieldSelector": {"spec.nodeName=n2"}, "labelSelector": {"app=web"}}, nil},
	} {
		l := e.listPods(t, podPath(""), tc.query)
		if got := names(l.Items); !slices.Equal(got, tc.want) {
			t.Errorf("list %s = %v, want %v", tc.query.Encode(), got, tc.want)
		}
		if l.Kind != "PodList" {
			t.Errorf("kind %q", l.Kind)
		}
		rv, err := strconv.ParseUint(l.Metadata.ResourceVersion, 10, 64)
		if err != nil || rv < last.ResourceVersionIndex() {
			t.Errorf("list resourceVersion %q is older than the last write %s", l.Metadata.ResourceVersion, last.ResourceVersion)
		}
	}
	// The field selector on all namespaces (how a node lists its pods).
	if got := names(e.listPods(t, "/api/v1/pods", url.Values{"fieldSelector": {"spec.nodeName=n2"}}).Items); !slices.Equal(got, []string{"c"}) {
		t.Errorf("all-namespace list by node = %v", got)
	}

	for _, bad := range []url.Values{
		{"labelSelector": {"app in (web"}},
		{"labelSelector": {"=web"}},
		{"fieldSelector": {"spec.bogus=1"}},
		{"fieldSelector": {"spec.nodeName"}},
	} {
		st := e.expectStatus(t, http.StatusBadRequest, http.MethodGet, podPath("")+"?"+bad.Encode(), nil)
		if st.Reason != v1.ReasonBadRequest {
			t.Errorf("%s: reason %q", bad.Encode(), st.Reason)
		}
		// A watch parses the same options.
		e.expectStatus(t, http.StatusBadRequest, http.MethodGet, podPath("")+"?watch=true&"+bad.Encode(), nil)
	}
}

func TestListOtherKinds(t *testing.T) {
	e := newTestEnv(t)
	e.createNode(t, "n1")
	b := e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/nodes", nil)
	var l struct {
		Kind  string    `json:"kind"`
		Items []v1.Node `json:"items"`
	}
	if err := json.Unmarshal(b, &l); err != nil {
		t.Fatal(err)
	}
	if l.Kind != "NodeList" || len(l.Items) != 1 || l.Items[0].Name != "n1" {
		t.Fatalf("node list = %s", b)
	}
	b = e.expectCode(t, http.StatusOK, http.MethodGet, "/api/v1/namespaces/default/services", nil)
	if got := decode[map[string]any](t, b); got["kind"] != "ServiceList" {
		t.Fatalf("service list = %s", b)
	}
	if got := decode[map[string]any](t, b); got["items"] == nil {
		t.Fatalf("an empty list has no items array: %s", b)
	}
}
