package fsm

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/labels"

	v1 "orch.io/orch/api/v1"
)

// Fixtures and a small harness shared by this package's tests.

var testNow = v1.NewTime(time.Date(2024, 5, 17, 8, 0, 0, 0, time.UTC))

func testMeta(ns, name string) v1.ObjectMeta {
	return v1.ObjectMeta{
		Name: name, Namespace: ns,
		UID:               "uid-" + v1.Key(ns, name),
		CreationTimestamp: testNow,
	}
}

func nsObj(name string) *v1.Namespace {
	o := &v1.Namespace{ObjectMeta: testMeta("", name)}
	v1.Default(o)
	return o
}

func nodeObj(name string) *v1.Node {
	o := &v1.Node{ObjectMeta: testMeta("", name)}
	v1.Default(o)
	return o
}

func podObj(ns, name string, lbls map[string]string) *v1.Pod {
	o := &v1.Pod{ObjectMeta: testMeta(ns, name), Spec: v1.PodSpec{
		Containers: []v1.Container{{Name: "c", Image: "busybox:1.36"}},
	}}
	o.Labels = lbls
	v1.Default(o)
	return o
}

func boundPod(ns, name, node string) *v1.Pod {
	p := podObj(ns, name, nil)
	p.Spec.NodeName = node
	return p
}

func rcObj(ns, name string, replicas int32) *v1.ReplicationController {
	o := &v1.ReplicationController{ObjectMeta: testMeta(ns, name), Spec: v1.ReplicationControllerSpec{
		Replicas: &replicas,
		Template: &v1.PodTemplateSpec{
			ObjectMeta: v1.ObjectMeta{Labels: map[string]string{"app": name}},
			Spec:       v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox:1.36"}}},
		},
	}}
	v1.Default(o)
	return o
}

// ownedPod returns a pod the RC controls.
func ownedPod(rc *v1.ReplicationController, name, node string) *v1.Pod {
	p := podObj(rc.Namespace, name, rc.Spec.Selector)
	p.Spec.NodeName = node
	yes := true
	p.OwnerReferences = []v1.OwnerReference{{APIVersion: "v1", Kind: "ReplicationController", Name: rc.Name, UID: rc.UID, Controller: &yes}}
	return p
}

func svcObj(ns, name string) *v1.Service {
	o := &v1.Service{ObjectMeta: testMeta(ns, name), Spec: v1.ServiceSpec{
		Selector:  map[string]string{"app": name},
		ClusterIP: "10.96.0.10",
		Ports:     []v1.ServicePort{{Port: 80}},
	}}
	v1.Default(o)
	return o
}

func epObj(ns, name string) *v1.Endpoints {
	o := &v1.Endpoints{ObjectMeta: testMeta(ns, name), Subsets: []v1.EndpointSubset{{
		Addresses: []v1.EndpointAddress{{IP: "10.244.1.5"}},
		Ports:     []v1.EndpointPort{{Port: 80}},
	}}}
	v1.Default(o)
	return o
}

func mustEncode(t testing.TB, typ CommandType, body any) []byte {
	t.Helper()
	b, err := Encode(typ, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustUpdate(t testing.TB, obj v1.Object, status bool) []byte {
	t.Helper()
	b, err := NewUpdate(obj, status)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustCreateCmd(t testing.TB, obj v1.Object) []byte {
	t.Helper()
	b, err := NewCreate(obj)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// harness applies commands at increasing indexes.
type harness struct {
	t     *testing.T
	f     *FSM
	index uint64
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, f: NewTestFSM(t)}
}

func (h *harness) apply(cmd []byte) any {
	h.t.Helper()
	h.index++
	return ApplyCommand(h.t, h.f, h.index, cmd)
}

func (h *harness) result(cmd []byte) Result {
	h.t.Helper()
	out := h.apply(cmd)
	res, ok := out.(Result)
	if !ok {
		h.t.Fatalf("apply returned %T, want Result", out)
	}
	return res
}

func (h *harness) batch(cmd []byte) BatchResult {
	h.t.Helper()
	out := h.apply(cmd)
	res, ok := out.(BatchResult)
	if !ok {
		h.t.Fatalf("apply returned %T, want BatchResult", out)
	}
	return res
}

func (h *harness) create(objs ...v1.Object) {
	h.t.Helper()
	for _, o := range objs {
		h.index++
		MustCreate(h.t, h.f, h.index, o)
	}
}

func (h *harness) update(obj v1.Object, status bool) Result {
	h.t.Helper()
	return h.result(mustUpdate(h.t, obj, status))
}

func (h *harness) del(req DeleteRequest) Result {
	h.t.Helper()
	if req.Now.IsZero() {
		req.Now = testNow
	}
	return h.result(mustEncode(h.t, DeleteCommand, req))
}

func (h *harness) bind(bs ...Binding) BatchResult {
	h.t.Helper()
	return h.batch(mustEncode(h.t, BindCommand, BindRequest{Bindings: bs, Now: testNow}))
}

// get returns the stored record, failing the test if it is missing.
func (h *harness) get(resource, ns, name string) *Record {
	h.t.Helper()
	r, err := h.f.Store().Get(resource, ns, name)
	if err != nil {
		h.t.Fatalf("get %s %s: %v", resource, v1.Key(ns, name), err)
	}
	return r
}

func (h *harness) pod(ns, name string) *v1.Pod {
	h.t.Helper()
	return h.get("pods", ns, name).Object().(*v1.Pod)
}

func (h *harness) gone(resource, ns, name string) {
	h.t.Helper()
	if r, err := h.f.Store().Get(resource, ns, name); !v1.IsNotFound(err) {
		h.t.Fatalf("%s %s still stored (%v, err %v)", resource, v1.Key(ns, name), r, err)
	}
}

// eventsSince returns the feed's events after rv.
func (h *harness) eventsSince(rv uint64) []Event {
	h.t.Helper()
	evs, _, _, closed, err := h.f.Store().Feed().Since(rv)
	if err != nil || closed {
		h.t.Fatalf("Since(%d): closed %v err %v", rv, closed, err)
	}
	return evs
}

func recordKeys(recs []*Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, r.Key())
	}
	return out
}

func wantErr(t *testing.T, err error, is func(error) bool, what string) {
	t.Helper()
	if err == nil || !is(err) {
		t.Fatalf("got error %v (reason %q), want %s", err, v1.ReasonOf(err), what)
	}
}

// listStore holds pods in namespaces whose names are prefixes of each other.
func listStore(t *testing.T) *harness {
	h := newHarness(t)
	h.create(nsObj("a"), nsObj("ab"), nsObj("a-b"), nsObj("b"), nodeObj("n1"), nodeObj("n10"), nodeObj("n2"))
	web, db := map[string]string{"app": "web"}, map[string]string{"app": "db"}
	p := func(ns, name string, l map[string]string, node string) *v1.Pod {
		o := podObj(ns, name, l)
		o.Spec.NodeName = node
		return o
	}
	h.create(
		p("a", "p1", web, "n1"),
		p("a", "p2", db, ""),
		p("a", "p10", web, "n10"),
		p("ab", "p1", web, ""), // bound below
		p("ab", "q", db, "n2"),
		p("a-b", "x", web, ""),
		p("b", "y", nil, ""), // bound below
	)
	for _, r := range h.bind(Binding{Namespace: "ab", Name: "p1", Node: "n1"}, Binding{Namespace: "b", Name: "y", Node: "n1"}) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	return h
}

func TestStoreList(t *testing.T) {
	h := listStore(t)
	s := h.f.Store()
	tests := []struct {
		name     string
		resource string
		ns       string
		labels   string
		fields   string
		want     []string
	}{
		{name: "all namespaces in key order", want: []string{"a-b/x", "a/p1", "a/p10", "a/p2", "ab/p1", "ab/q", "b/y"}},
		{name: "namespace a", ns: "a", want: []string{"a/p1", "a/p10", "a/p2"}},
		{name: "namespace ab", ns: "ab", want: []string{"ab/p1", "ab/q"}},
		{name: "namespace a-b", ns: "a-b", want: []string{"a-b/x"}},
		{name: "namespace b", ns: "b", want: []string{"b/y"}},
		{name: "prefix of a namespace", ns: "p", want: []string{}},
		{name: "missing namespace", ns: "zz", want: []string{}},
		{name: "label equality", labels: "app=web", want: []string{"a-b/x", "a/p1", "a/p10", "ab/p1"}},
		{name: "label equality in a namespace", ns: "a", labels: "app=web", want: []string{"a/p1", "a/p10"}},
		{name: "label exists", labels: "app", want: []string{"a-b/x", "a/p1", "a/p10", "a/p2", "ab/p1", "ab/q"}},
		{name: "label does not exist", labels: "!app", want: []string{"b/y"}},
		{name: "label set in a namespace", ns: "ab", labels: "app in (db,cache)", want: []string{"ab/q"}},
		{name: "label inequality", labels: "app!=web", want: []string{"a/p2", "ab/q", "b/y"}},
		{name: "node n1 (not n10)", fields: "spec.nodeName=n1", want: []string{"a/p1", "ab/p1", "b/y"}},
		{name: "node n1 with ==", fields: "spec.nodeName==n1", want: []string{"a/p1", "ab/p1", "b/y"}},
		{name: "node n1 in namespace a", ns: "a", fields: "spec.nodeName=n1", want: []string{"a/p1"}},
		{name: "node n1 in namespace ab", ns: "ab", fields: "spec.nodeName=n1", want: []string{"ab/p1"}},
		{name: "node n10", fields: "spec.nodeName=n10", want: []string{"a/p10"}},
		{name: "unbound pods", fields: "spec.nodeName=", want: []string{"a-b/x", "a/p2"}},
		{name: "node and label", labels: "app=web", fields: "spec.nodeName=n1", want: []string{"a/p1", "ab/p1"}},
		{name: "node and name", fields: "spec.nodeName=n1,metadata.name=y", want: []string{"b/y"}},
		{name: "missing node", fields: "spec.nodeName=n3", want: []string{}},
		{name: "not on node n1", fields: "spec.nodeName!=n1", want: []string{"a-b/x", "a/p10", "a/p2", "ab/q"}},
		{name: "by name", fields: "metadata.name=p1", want: []string{"a/p1", "ab/p1"}},
		{name: "by phase", ns: "ab", fields: "status.phase=Pending", want: []string{"ab/p1", "ab/q"}},
		{name: "nodes", resource: "nodes", want: []string{"n1", "n10", "n2"}},
		{name: "namespaces", resource: "namespaces", want: []string{"a", "a-b", "ab", "b"}},
		{name: "empty resource", resource: "services", want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := tt.resource
			if res == "" {
				res = "pods"
			}
			opts := ListOptions{Namespace: tt.ns}
			if tt.labels != "" {
				sel, err := v1.ParseLabelSelector(tt.labels)
				if err != nil {
					t.Fatal(err)
				}
				opts.Labels = sel
			}
			if tt.fields != "" {
				kind := "Pod"
				if res != "pods" {
					kind = ""
				}
				fs, err := v1.ParseFieldSelector(kind, tt.fields)
				if err != nil {
					t.Fatal(err)
				}
				opts.Fields = fs
			}
			got, err := s.List(res, opts)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(recordKeys(got.Items), tt.want) {
				t.Errorf("List = %q, want %q", recordKeys(got.Items), tt.want)
			}
			if got.Next != "" {
				t.Errorf("Next = %q without a limit", got.Next)
			}
			if got.Index != h.index || got.Index != s.Index() {
				t.Errorf("list index = %d, want %d", got.Index, h.index)
			}
		})
	}
}

// pagingStore has 5 namespaces of 7 pods each; every third pod is on n1.
func pagingStore(t *testing.T) *harness {
	h := newHarness(t)
	h.create(nodeObj("n1"), nodeObj("n2"))
	for _, ns := range []string{"a", "a-b", "ab", "b", "default"} {
		h.create(nsObj(ns))
		for i := range 7 {
			p := podObj(ns, fmt.Sprintf("p%d", i), map[string]string{"parity": fmt.Sprint(i % 2)})
			switch i % 3 {
			case 0:
				p.Spec.NodeName = "n1"
			case 1:
				p.Spec.NodeName = "n2"
			}
			h.create(p)
		}
	}
	return h
}

func TestStoreListPaging(t *testing.T) {
	h := pagingStore(t)
	s := h.f.Store()
	n1, err := v1.ParseFieldSelector("Pod", "spec.nodeName=n1")
	if err != nil {
		t.Fatal(err)
	}
	odd := labels.SelectorFromSet(labels.Set{"parity": "1"})
	scenarios := []struct {
		name string
		opts ListOptions
	}{
		{"all namespaces", ListOptions{}},
		{"namespace a", ListOptions{Namespace: "a"}},
		{"namespace ab", ListOptions{Namespace: "ab"}},
		{"namespace default", ListOptions{Namespace: "default"}},
		{"label selector", ListOptions{Labels: odd}},
		{"label selector in a namespace", ListOptions{Namespace: "a-b", Labels: odd}},
		{"node index", ListOptions{Fields: n1}},
		{"node index in a namespace", ListOptions{Namespace: "ab", Fields: n1}},
		{"node index and labels", ListOptions{Fields: n1, Labels: odd}},
	}
	for _, sc := range scenarios {
		full, err := s.List("pods", sc.opts)
		if err != nil {
			t.Fatal(err)
		}
		want := recordKeys(full.Items)
		if len(want) == 0 {
			t.Fatalf("%s: empty list", sc.name)
		}
		if !slices.IsSorted(want) {
			t.Fatalf("%s: full list not in key order: %q", sc.name, want)
		}
		for limit := 1; limit <= len(want)+1; limit++ {
			t.Run(fmt.Sprintf("%s/limit=%d", sc.name, limit), func(t *testing.T) {
				var got []string
				opts := sc.opts
				opts.Limit = limit
				pages := 0
				for {
					page, err := s.List("pods", opts)
					if err != nil {
						t.Fatal(err)
					}
					pages++
					if len(page.Items) > limit {
						t.Fatalf("page of %d items, limit %d", len(page.Items), limit)
					}
					got = append(got, recordKeys(page.Items)...)
					if page.Next == "" {
						break
					}
					if page.Next != page.Items[len(page.Items)-1].Key() {
						t.Fatalf("Next = %q, want the page's last key %q", page.Next, page.Items[len(page.Items)-1].Key())
					}
					if pages > len(want)+1 {
						t.Fatalf("paging does not end: %q", got)
					}
					opts.After = page.Next
				}
				if !slices.Equal(got, want) {
					t.Fatalf("paged = %q\nwant    %q", got, want)
				}
				if wantPages := (len(want) + limit - 1) / limit; pages != wantPages {
					t.Errorf("%d pages, want %d", pages, wantPages)
				}
			})
		}
	}
}

// A continue key whose object was deleted in between still continues after it.
func TestStoreListContinueAfterDeletedKey(t *testing.T) {
	h := pagingStore(t)
	page, err := h.f.Store().List("pods", ListOptions{Namespace: "ab", Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if got := recordKeys(page.Items); !slices.Equal(got, []string{"ab/p0", "ab/p1", "ab/p2"}) || page.Next != "ab/p2" {
		t.Fatalf("first page = %q next %q", got, page.Next)
	}
	for _, name := range []string{"p2", "p3"} { // p2 is unbound, p3 bound: remove both at once
		if res := h.del(DeleteRequest{Resource: "pods", Namespace: "ab", Name: name, GracePeriodSeconds: new(int64)}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	page, err = h.f.Store().List("pods", ListOptions{Namespace: "ab", Limit: 3, After: page.Next})
	if err != nil {
		t.Fatal(err)
	}
	if got := recordKeys(page.Items); !slices.Equal(got, []string{"ab/p4", "ab/p5", "ab/p6"}) || page.Next != "" {
		t.Fatalf("second page = %q next %q", got, page.Next)
	}
}

func TestStoreGet(t *testing.T) {
	h := listStore(t)
	s := h.f.Store()
	r, err := s.Get("pods", "ab", "q")
	if err != nil {
		t.Fatal(err)
	}
	if r.Key() != "ab/q" || r.Object().(*v1.Pod).Spec.NodeName != "n2" {
		t.Errorf("got %s on %q", r.Key(), r.Object().(*v1.Pod).Spec.NodeName)
	}
	for _, tc := range []struct{ res, ns, name string }{
		{"pods", "a", "q"}, // exists in ab only
		{"pods", "a", "p"}, // prefix of a name
		{"services", "ab", "q"},
		{"nodes", "", "n3"},
	} {
		if _, err := s.Get(tc.res, tc.ns, tc.name); !v1.IsNotFound(err) {
			t.Errorf("Get(%s, %q, %q) = %v, want NotFound", tc.res, tc.ns, tc.name, err)
		}
	}
	if _, err := s.Get("widgets", "", "x"); err == nil || v1.IsNotFound(err) {
		t.Errorf("Get of an unknown table = %v, want an internal error", err)
	}
	if n := s.Count("pods"); n != 7 {
		t.Errorf("Count(pods) = %d, want 7", n)
	}
	if n := s.Count("widgets"); n != 0 {
		t.Errorf("Count(widgets) = %d", n)
	}
}

func TestStorePodsOnNode(t *testing.T) {
	h := listStore(t)
	for node, want := range map[string][]string{
		"n1": {"a/p1", "ab/p1", "b/y"}, "n10": {"a/p10"}, "n2": {"ab/q"}, "": {"a-b/x", "a/p2"}, "n": {},
	} {
		pods, err := h.f.Store().PodsOnNode(node)
		if err != nil {
			t.Fatal(err)
		}
		got := []string{}
		for _, p := range pods {
			got = append(got, v1.Key(p.Namespace, p.Name))
		}
		if !slices.Equal(got, want) {
			t.Errorf("PodsOnNode(%q) = %q, want %q", node, got, want)
		}
	}
}

func TestStoreMasters(t *testing.T) {
	h := newHarness(t)
	for _, m := range []MasterInfo{
		{ID: "m2", RaftAddr: "10.0.0.2:7000", APIAddr: "10.0.0.2:6443"},
		{ID: "m1", RaftAddr: "10.0.0.1:7000", APIAddr: "10.0.0.1:6443"},
		{ID: "m2", RaftAddr: "10.0.0.22:7000", APIAddr: "10.0.0.22:6443"}, // moved
	} {
		if res := h.result(mustEncode(t, UpsertMasterCommand, m)); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	ms, err := h.f.Store().Masters()
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 || ms[0].ID != "m1" || ms[1].ID != "m2" || ms[1].RaftAddr != "10.0.0.22:7000" {
		t.Errorf("masters = %+v", ms)
	}
	if m, ok := h.f.Store().Master("m1"); !ok || m.APIAddr != "10.0.0.1:6443" {
		t.Errorf("Master(m1) = %+v %v", m, ok)
	}
	if _, ok := h.f.Store().Master("m3"); ok {
		t.Error("Master(m3) found")
	}
	if got := h.f.Store().Index(); got != 3 {
		t.Errorf("index = %d, want 3", got)
	}
}

func TestRecordJSON(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("a"))
	r := h.get("namespaces", "", "a")
	b, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"kind":"Namespace"`, `"apiVersion":"v1"`, `"name":"a"`, `"resourceVersion":"1"`, `"phase":"Active"`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("JSON %s lacks %s", b, want)
		}
	}
	b2, _ := r.JSON()
	if &b[0] != &b2[0] {
		t.Error("JSON is computed again on every call")
	}
}

func TestGetByUID(t *testing.T) {
	f := NewTestFSM(t)
	ApplyCommand(t, f, 2, mustCreateCmd(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default", UID: "uid-ns"}}))
	s := f.Store()
	for _, tc := range []struct {
		resource, uid, want string
	}{
		{"namespaces", "uid-ns", "default"},
		{"namespaces", "uid-none", ""},
		{"pods", "uid-ns", ""},
	} {
		before := s.RecordsRead()
		r, err := s.GetByUID(tc.resource, tc.uid)
		switch {
		case tc.want == "" && !v1.IsNotFound(err):
			t.Errorf("%s %s: %v, want NotFound", tc.resource, tc.uid, err)
		case tc.want != "" && (err != nil || r.Key() != tc.want):
			t.Errorf("%s %s: %v %v, want %s", tc.resource, tc.uid, r, err, tc.want)
		}
		if s.RecordsRead() != before+1 {
			t.Errorf("%s %s: %d records read, want 1", tc.resource, tc.uid, s.RecordsRead()-before)
		}
	}
}
