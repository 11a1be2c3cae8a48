package fsm

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "orch.io/orch/api/v1"
)

// memSink is a raft.SnapshotSink that keeps the snapshot in memory.
type memSink struct {
	bytes.Buffer
	failAfter int // fail writes once this many bytes were written (0: never)
	closed    bool
	cancelled bool
}

func (s *memSink) Write(p []byte) (int, error) {
	if s.failAfter > 0 && s.Len()+len(p) > s.failAfter {
		return 0, errors.New("disk full")
	}
	return s.Buffer.Write(p)
}
func (s *memSink) ID() string    { return "test-snapshot" }
func (s *memSink) Close() error  { s.closed = true; return nil }
func (s *memSink) Cancel() error { s.cancelled = true; return nil }

// readCloser records whether Restore closed it.
type readCloser struct {
	io.Reader
	closed bool
}

func (r *readCloser) Close() error { r.closed = true; return nil }

// populated returns an FSM holding objects of every kind in various states.
func populated(t *testing.T) *harness {
	h := newHarness(t)
	h.create(nsObj("default"), nsObj("shop"), nodeObj("n1"), nodeObj("n2"))
	rc := rcObj("shop", "web", 2)
	h.create(rc, ownedPod(rc, "web-a", ""), ownedPod(rc, "web-b", ""))
	p := podObj("default", "tools", map[string]string{"app": "tools", "note": "x"})
	p.Annotations = map[string]string{"html": "<b>&amp;</b> \u2603"}
	p.Spec.Containers[0].Resources = v1.ResourceRequirements{
		Requests: v1.ResourceList{v1.ResourceCPU: resource.MustParse("0.25"), v1.ResourceMemory: resource.MustParse("64Mi")},
	}
	p.Spec.Containers[0].ReadinessProbe = &v1.Probe{ProbeHandler: v1.ProbeHandler{HTTPGet: &v1.HTTPGetAction{Port: intstr.FromString("http")}}}
	v1.Default(p)
	svc := svcObj("shop", "web")
	svc.Spec.Type = v1.ServiceTypeNodePort
	svc.Spec.Ports[0].NodePort = 30080
	svc.Spec.Ports[0].TargetPort = intstr.FromString("http")
	h.create(p, svc, epObj("shop", "web"), podObj("default", "doomed", nil))
	for _, r := range h.bind(
		Binding{Namespace: "shop", Name: "web-a", Node: "n1"},
		Binding{Namespace: "shop", Name: "web-b", Node: "n2"},
		Binding{Namespace: "default", Name: "tools", Node: "n1"},
	) {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	st := podObj("default", "tools", nil)
	st.Status = v1.PodStatus{Phase: v1.PodRunning, PodIP: "10.244.1.9"}
	if res := h.update(st, true); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := h.del(DeleteRequest{Resource: "pods", Namespace: "shop", Name: "web-b"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "doomed"}); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := h.result(mustEncode(t, ScaleCommand, ScaleRequest{Namespace: "shop", Name: "web", Replicas: 5})); res.Err != nil {
		t.Fatal(res.Err)
	}
	if res := h.result(mustEncode(t, UpsertMasterCommand, MasterInfo{ID: "m1", RaftAddr: "10.0.0.1:7000", APIAddr: "10.0.0.1:6443"})); res.Err != nil {
		t.Fatal(res.Err)
	}
	return h
}

// dump renders every object of a store as JSON, by resource and key.
func dumpStore(t *testing.T, s *Store) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, r := range v1.Resources() {
		list, err := s.List(r.Name, ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, rec := range list.Items {
			b, err := rec.JSON()
			if err != nil {
				t.Fatal(err)
			}
			out[r.Name+" "+rec.Key()] = string(b)
		}
	}
	return out
}

func persist(t testing.TB, f *FSM) *bytes.Buffer {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatalf("Persist: %v", err)
	}
	if !sink.closed || sink.cancelled {
		t.Errorf("sink closed %v cancelled %v, want closed", sink.closed, sink.cancelled)
	}
	return &sink.Buffer
}

func TestSnapshotRestore(t *testing.T) {
	h := populated(t)
	src := h.f
	want := dumpStore(t, src.Store())
	if len(want) != 10 {
		t.Fatalf("populated store has %d objects: %q", len(want), slices.Sorted(maps.Keys(want)))
	}
	buf := persist(t, src)

	dst := NewTestFSM(t)
	rc := &readCloser{Reader: bytes.NewReader(buf.Bytes())}
	if err := dst.Restore(rc); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	if !rc.closed {
		t.Error("Restore did not close the snapshot reader")
	}
	if got, want := dst.Store().Index(), src.Store().Index(); got != want {
		t.Errorf("restored index = %d, want %d", got, want)
	}
	got := dumpStore(t, dst.Store())
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s:\n got  %s\n want %s", k, got[k], w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("restored an extra object %s", k)
		}
	}
	// The restored objects themselves, not only their cached JSON, are equal.
	for _, r := range v1.Resources() {
		list, _ := dst.Store().List(r.Name, ListOptions{})
		for _, rec := range list.Items {
			fresh := NewRecord(rec.Object(), nil)
			b, err := fresh.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if !sameJSON(t, b, []byte(want[r.Name+" "+rec.Key()])) {
				t.Errorf("decoded %s %s encodes as\n %s\nwant\n %s", r.Name, rec.Key(), b, want[r.Name+" "+rec.Key()])
			}
		}
	}
	ms, _ := dst.Store().Masters()
	if len(ms) != 1 || ms[0] != (MasterInfo{ID: "m1", RaftAddr: "10.0.0.1:7000", APIAddr: "10.0.0.1:6443"}) {
		t.Errorf("masters = %+v", ms)
	}

	// The indexes work on the restored store.
	onN1, _ := dst.Store().PodsOnNode("n1")
	if len(onN1) != 2 {
		t.Errorf("pods on n1 = %d, want 2", len(onN1))
	}
	fs, _ := v1.ParseFieldSelector("Pod", "spec.nodeName=n2")
	page, _ := dst.Store().List("pods", ListOptions{Fields: fs})
	if !slices.Equal(recordKeys(page.Items), []string{"shop/web-b"}) {
		t.Errorf("pods on n2 = %q", recordKeys(page.Items))
	}
	dup := podObj("default", "other", nil)
	dup.UID = "uid-default/tools"
	res := ApplyCommand(t, dst, dst.Store().Index()+1, mustCreateCmd(t, dup)).(Result)
	wantErr(t, res.Err, v1.IsAlreadyExists, "AlreadyExists (uid index)")

	// Writes continue with resourceVersions from before the snapshot.
	upd := podObj("default", "tools", map[string]string{"v": "2"})
	upd.ResourceVersion = h.get("pods", "default", "tools").Meta().ResourceVersion
	res = ApplyCommand(t, dst, dst.Store().Index()+1, mustUpdate(t, upd, false)).(Result)
	if res.Err != nil {
		t.Fatalf("update with the pre-snapshot resourceVersion: %v", res.Err)
	}
}

// A snapshot is a point in time: later writes are not in it.
func TestSnapshotIsPointInTime(t *testing.T) {
	h := newHarness(t)
	h.create(nsObj("default"), podObj("default", "a", nil))
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	h.create(podObj("default", "b", nil))
	h.del(DeleteRequest{Resource: "pods", Namespace: "default", Name: "a"})
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	dst := NewTestFSM(t)
	if err := dst.Restore(io.NopCloser(&sink.Buffer)); err != nil {
		t.Fatal(err)
	}
	if got := dst.Store().Index(); got != 2 {
		t.Errorf("index = %d, want 2", got)
	}
	list, _ := dst.Store().List("pods", ListOptions{})
	if !slices.Equal(recordKeys(list.Items), []string{"default/a"}) {
		t.Errorf("pods = %q, want only default/a", recordKeys(list.Items))
	}
}

// Restoring into a running FSM swaps the store, abandons the old one, and
// starts the new feed at the snapshot's index.
func TestRestoreReplacesStore(t *testing.T) {
	h := populated(t)
	buf := persist(t, h.f)
	snapIndex := h.index

	// More writes after the snapshot, which the restore rolls back.
	h.create(podObj("default", "late", nil))
	old := h.f.Store()
	_, _, wait, _, err := old.Feed().Since(h.index)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.Abandoned():
		t.Fatal("store abandoned before restore")
	default:
	}

	if err := h.f.Restore(io.NopCloser(buf)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-old.Abandoned():
	default:
		t.Fatal("restore did not close the old store's Abandoned channel")
	}
	select {
	case <-wait:
	default:
		t.Fatal("restore did not wake the old feed's watchers")
	}
	if _, _, _, closed, _ := old.Feed().Since(h.index); !closed {
		t.Error("old feed does not report closed")
	}

	s := h.f.Store()
	if s == old {
		t.Fatal("store not replaced")
	}
	if s.Index() != snapIndex {
		t.Errorf("index = %d, want the snapshot's %d", s.Index(), snapIndex)
	}
	if _, err := s.Get("pods", "default", "late"); !v1.IsNotFound(err) {
		t.Errorf("write after the snapshot survived the restore: %v", err)
	}
	select {
	case <-s.Abandoned():
		t.Fatal("new store is abandoned")
	default:
	}

	// The new feed has no history: older resourceVersions are Gone.
	for _, rv := range []uint64{0, 1, snapIndex - 1} {
		if _, _, _, _, err := s.Feed().Since(rv); !v1.IsGone(err) {
			t.Errorf("Since(%d) = %v, want Gone", rv, err)
		}
	}
	evs, last, wait, closed, err := s.Feed().Since(snapIndex)
	if err != nil || closed || len(evs) != 0 || last != snapIndex {
		t.Fatalf("Since(%d) = %d events, last %d, closed %v, err %v", snapIndex, len(evs), last, closed, err)
	}

	// Applying continues on the new store and feeds its watchers. Raft
	// continues after the snapshot's index.
	MustCreate(t, h.f, snapIndex+1, podObj("default", "after", nil))
	select {
	case <-wait:
	default:
		t.Fatal("apply after restore did not wake the new feed")
	}
	evs, _, _, _, _ = s.Feed().Since(snapIndex)
	if got := eventSummary(evs); !slices.Equal(got, []string{strings.Join([]string{itoa(snapIndex + 1), "ADDED pods default/after"}, " ")}) {
		t.Errorf("events after restore = %q", got)
	}
}

func TestRestoreRejectsBadSnapshots(t *testing.T) {
	h := populated(t)
	good := persist(t, h.f).String()
	lines := strings.SplitAfter(good, "\n")
	tests := []struct {
		name string
		data string
	}{
		{"empty", ""},
		{"not JSON", "hello\n"},
		{"future version", strings.Replace(lines[0], `"version":1`, `"version":2`, 1) + strings.Join(lines[1:], "")},
		{"unknown resource", lines[0] + `{"r":"widgets","o":{}}` + "\n"},
		{"bad object", lines[0] + `{"r":"pods","o":{"metadata":"x"}}` + "\n"},
		{"bad master", lines[0] + `{"r":"masters","o":[]}` + "\n"},
		{"truncated", good[:len(good)-20]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewTestFSM(t)
			MustCreate(t, f, 1, nsObj("keep"))
			before := f.Store()
			if err := f.Restore(io.NopCloser(strings.NewReader(tt.data))); err == nil {
				t.Fatal("Restore accepted a bad snapshot")
			}
			if f.Store() != before {
				t.Error("failed restore replaced the store")
			}
			select {
			case <-before.Abandoned():
				t.Error("failed restore abandoned the store")
			default:
			}
			if _, err := f.Store().Get("namespaces", "", "keep"); err != nil {
				t.Errorf("store lost its data: %v", err)
			}
		})
	}
}

func TestPersistFailureCancelsSink(t *testing.T) {
	h := populated(t)
	snap, err := h.f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	sink := &memSink{failAfter: 100}
	if err := snap.Persist(sink); err == nil {
		t.Fatal("Persist to a failing sink succeeded")
	}
	if !sink.cancelled || sink.closed {
		t.Errorf("sink cancelled %v closed %v, want cancelled only", sink.cancelled, sink.closed)
	}
}

// An empty store snapshots and restores too.
func TestSnapshotEmpty(t *testing.T) {
	src := NewTestFSM(t)
	buf := persist(t, src)
	dst := NewTestFSM(t)
	if err := dst.Restore(io.NopCloser(buf)); err != nil {
		t.Fatal(err)
	}
	if dst.Store().Index() != 0 || len(dumpStore(t, dst.Store())) != 0 {
		t.Errorf("restored empty snapshot: index %d", dst.Store().Index())
	}
}

// sameJSON reports whether two JSON documents hold the same values (stored
// objects may order their fields differently from a fresh encoding).
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("decode %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}
