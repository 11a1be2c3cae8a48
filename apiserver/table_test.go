package apiserver

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "orch.io/orch/api/v1"
)

// withAccept sets the Accept header.
func withAccept(accept string) reqOpt {
	return func(r *http.Request) { r.Header.Set("Accept", accept) }
}

// kubectlGetAccept is what kubectl get sends.
const kubectlGetAccept = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"

func columnNames(tab metav1.Table) []string {
	var out []string
	for _, c := range tab.ColumnDefinitions {
		out = append(out, c.Name)
	}
	return out
}

// TestTableGetAndList: get and list answer a Table when asked (kubectl's
// Accept, the v1beta1 one, one listing protobuf first), with the
// resource's columns and each row's object as includeObject says; a client
// that asks for the object gets the object.
func TestTableGetAndList(t *testing.T) {
	e := newTestEnv(t)
	e.createPod(t, "a", map[string]string{"app": "x"})
	e.createPod(t, "b", nil)

	tab := decode[metav1.Table](t, e.expectCode(t, http.StatusOK, http.MethodGet, podPath(""), nil, withAccept(kubectlGetAccept)))
	if tab.Kind != "Table" || tab.APIVersion != "meta.k8s.io/v1" || tab.ResourceVersion == "" {
		t.Fatalf("list table %s %s rv %q", tab.Kind, tab.APIVersion, tab.ResourceVersion)
	}
	if want := []string{"Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"}; !slices.Equal(columnNames(tab), want) {
		t.Fatalf("columns %v, want %v", columnNames(tab), want)
	}
	if len(tab.Rows) != 2 || tab.Rows[0].Cells[0] != "a" || tab.Rows[1].Cells[0] != "b" {
		t.Fatalf("rows %+v", tab.Rows)
	}
	if c := tab.Rows[0].Cells; c[1] != "0/1" || c[2] != "Pending" || c[3] != "0" {
		t.Errorf("row a = %v", c)
	}
	var partial struct {
		Kind, APIVersion string
		Metadata         v1.ObjectMeta
		Spec             any
	}
	if err := json.Unmarshal(tab.Rows[0].Object.Raw, &partial); err != nil {
		t.Fatal(err)
	}
	if partial.Kind != "PartialObjectMetadata" || partial.APIVersion != "meta.k8s.io/v1" || partial.Metadata.Name != "a" ||
		partial.Metadata.Labels["app"] != "x" || partial.Spec != nil {
		t.Errorf("default row object %s", tab.Rows[0].Object.Raw)
	}

	for _, tc := range []struct {
		name, accept, query string
		wantAPIVersion      string
		check               func(t *testing.T, obj []byte)
	}{
		{"v1beta1", "application/json;as=Table;v=v1beta1;g=meta.k8s.io", "", "meta.k8s.io/v1beta1", nil},
		{"protobuf first", "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
			"", "meta.k8s.io/v1", nil},
		{"includeObject=Object", kubectlGetAccept, "includeObject=Object", "meta.k8s.io/v1", func(t *testing.T, obj []byte) {
			var p v1.Pod
			if err := json.Unmarshal(obj, &p); err != nil || p.Kind != "Pod" || p.Name != "a" || len(p.Spec.Containers) != 1 {
				t.Errorf("row object %s (%v)", obj, err)
			}
		}},
		{"includeObject=Metadata", kubectlGetAccept, "includeObject=Metadata", "meta.k8s.io/v1", func(t *testing.T, obj []byte) {
			var m map[string]any
			if err := json.Unmarshal(obj, &m); err != nil || m["kind"] != "PartialObjectMetadata" || m["spec"] != nil || m["status"] != nil {
				t.Errorf("row object %s (%v)", obj, err) // metadata only (managedFields name spec's fields, as in Kubernetes)
			}
		}},
		{"includeObject=None", kubectlGetAccept, "includeObject=None", "meta.k8s.io/v1", func(t *testing.T, obj []byte) {
			if obj != nil && string(obj) != "null" {
				t.Errorf("row object %s, want none", obj)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{podPath(""), podPath("a")} {
				p := path
				if tc.query != "" {
					p += "?" + tc.query
				}
				b := e.expectCode(t, http.StatusOK, http.MethodGet, p, nil, withAccept(tc.accept))
				var raw struct {
					Rows []struct {
						Cells  []any           `json:"cells"`
						Object json.RawMessage `json:"object"`
					} `json:"rows"`
				}
				tab := decode[metav1.Table](t, b)
				if err := json.Unmarshal(b, &raw); err != nil {
					t.Fatal(err)
				}
				if tab.Kind != "Table" || tab.APIVersion != tc.wantAPIVersion || len(tab.ColumnDefinitions) != 9 || len(raw.Rows) == 0 {
					t.Fatalf("GET %s: %s", p, b)
				}
				if tab.Rows[0].Cells[0] != "a" {
					t.Fatalf("GET %s: first row %v", p, tab.Rows[0].Cells)
				}
				if tc.check != nil {
					tc.check(t, raw.Rows[0].Object)
				}
			}
		})
	}

	// A get's Table carries the object's resourceVersion.
	pod := e.getPod(t, "a")
	if tab := decode[metav1.Table](t, e.expectCode(t, http.StatusOK, http.MethodGet, podPath("a"), nil, withAccept(kubectlGetAccept))); tab.ResourceVersion != pod.ResourceVersion || len(tab.Rows) != 1 {
		t.Errorf("get table rv %q rows %d, want rv %q and one row", tab.ResourceVersion, len(tab.Rows), pod.ResourceVersion)
	}
	// Paging: the Table carries the continue token.
	page := decode[metav1.Table](t, e.expectCode(t, http.StatusOK, http.MethodGet, podPath("")+"?limit=1", nil, withAccept(kubectlGetAccept)))
	if len(page.Rows) != 1 || page.Continue == "" {
		t.Errorf("limit=1 table: %d rows, continue %q", len(page.Rows), page.Continue)
	}
	// The objects themselves for clients that do not ask for a Table.
	for _, accept := range []string{"", "application/json", "*/*", "application/vnd.kubernetes.protobuf,application/json"} {
		b := e.expectCode(t, http.StatusOK, http.MethodGet, podPath(""), nil, withAccept(accept))
		if l := decode[map[string]any](t, b); l["kind"] != "PodList" {
			t.Errorf("Accept %q: kind %v, want PodList", accept, l["kind"])
		}
	}
	// An includeObject Kubernetes does not know is a 400 naming it.
	st := e.expectStatus(t, http.StatusBadRequest, http.MethodGet, podPath("")+"?includeObject=Everything", nil, withAccept(kubectlGetAccept))
	if !strings.Contains(st.Message, "includeObject") || !strings.Contains(st.Message, `"Everything"`) {
		t.Errorf("bad includeObject: %q", st.Message)
	}
}

// TestTableEveryResource: every listable resource answers a Table whose
// rows have one cell per column.
func TestTableEveryResource(t *testing.T) {
	e := newTestEnv(t)
	for _, r := range v1.Served() {
		if r.Review {
			continue
		}
		t.Run(r.Name, func(t *testing.T) {
			path := r.PathPrefix()
			if r.Namespaced {
				path += "/namespaces/" + v1.DefaultNamespace
			}
			tab := decode[metav1.Table](t, e.expectCode(t, http.StatusOK, http.MethodGet, path+"/"+r.Name, nil, withAccept(kubectlGetAccept)))
			// Every table names its rows; events, as Kubernetes prints
			// them, lead with Last Seen and name them at the end.
			if tab.Kind != "Table" || len(tab.ColumnDefinitions) < 2 || !slices.Contains(columnNames(tab), "Name") {
				t.Fatalf("table %s with columns %v", tab.Kind, columnNames(tab))
			}
			for _, row := range tab.Rows {
				if len(row.Cells) != len(tab.ColumnDefinitions) {
					t.Errorf("row %v has %d cells for %d columns", row.Cells, len(row.Cells), len(tab.ColumnDefinitions))
				}
			}
		})
	}
}

// TestTableWatch: a watch that asks for a Table (kubectl get -w) gets one
// Table of one row per event, the column definitions with the first only.
func TestTableWatch(t *testing.T) {
	e := newTestEnv(t)
	e.createPod(t, "a", nil)
	w := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {"0"}}, withAccept(kubectlGetAccept))
	table := func(ev watchEvent) metav1.Table {
		t.Helper()
		var tab metav1.Table
		if err := json.Unmarshal(ev.Object, &tab); err != nil {
			t.Fatal(err)
		}
		if tab.Kind != "Table" || len(tab.Rows) != 1 {
			t.Fatalf("%s event object %s", ev.Type, ev.Object)
		}
		return tab
	}
	first := table(w.expect(t, v1.Added, ""))
	if len(first.ColumnDefinitions) != 9 || first.Rows[0].Cells[0] != "a" || first.ResourceVersion == "" {
		t.Fatalf("first event: columns %v row %v rv %q", columnNames(first), first.Rows[0].Cells, first.ResourceVersion)
	}
	e.createPod(t, "b", nil)
	second := table(w.expect(t, v1.Added, ""))
	if second.ColumnDefinitions != nil || second.Rows[0].Cells[0] != "b" {
		t.Fatalf("second event: columns %v row %v", columnNames(second), second.Rows[0].Cells)
	}
	if _, err := e.admin.Delete(testCtx(t), "pods", v1.DefaultNamespace, "b", nil); err != nil {
		t.Fatal(err)
	}
	for {
		ev := w.next(t)
		tab := table(ev)
		if tab.Rows[0].Cells[0] != "b" {
			t.Fatalf("%s event for %v", ev.Type, tab.Rows[0].Cells)
		}
		if ev.Type == v1.Deleted {
			break
		}
	}
	// A bad includeObject is refused before the watch starts.
	e.expectStatus(t, http.StatusBadRequest, http.MethodGet, podPath("")+"?watch=true&includeObject=All", nil, withAccept(kubectlGetAccept))
}

// TestTableWatchBookmark: a Table watch's bookmark is a Table without rows
// at the watch's resourceVersion.
func TestTableWatchBookmark(t *testing.T) {
	e := newTestEnv(t, withServerConfig(func(c *Config) { c.WatchBookmarkInterval = 100 * time.Millisecond }))
	rv := e.listRV(t)
	w := e.openWatch(t, podPath(""), url.Values{"resourceVersion": {rv}, "allowWatchBookmarks": {"true"}}, withAccept(kubectlGetAccept))
	ev := w.next(t)
	if ev.Type != v1.Bookmark {
		t.Fatalf("got %s, want BOOKMARK", ev.Type)
	}
	var tab metav1.Table
	if err := json.Unmarshal(ev.Object, &tab); err != nil {
		t.Fatal(err)
	}
	if tab.Kind != "Table" || tab.APIVersion != "meta.k8s.io/v1" || len(tab.Rows) != 0 || tab.ResourceVersion != rv {
		t.Fatalf("bookmark %s, want a Table without rows at %s", ev.Object, rv)
	}
}
