package fsm

import (
	"bytes"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// GetByUID follows creates, updates, removals and a snapshot restore, and
// keeps each resource's uids apart.
func TestGetByUIDFollowsChanges(t *testing.T) {
	pod := func(name, uid string, lbls map[string]string) *v1.Pod {
		p := podObj("default", name, lbls)
		p.UID = uid
		return p
	}
	del := mustEncode(t, DeleteCommand, DeleteRequest{Resource: "pods", Namespace: "default", Name: "a",
		Now: v1.NewTime(time.Unix(1, 0))})
	f := NewTestFSM(t)
	MustCreate(t, f, 1, nsObj("default"))
	// want checks what GetByUID answers: the key and resourceVersion of
	// the pod with uid, or "" for NotFound.
	want := func(s *Store, uid, key, rv string) {
		t.Helper()
		rec, err := s.GetByUID("pods", uid)
		switch {
		case key == "" && !v1.IsNotFound(err):
			t.Errorf("pod with uid %s: %v %v, want NotFound", uid, rec, err)
		case key != "" && (err != nil || rec.Key() != key || rec.Meta().ResourceVersion != rv):
			t.Errorf("pod with uid %s: %v, want %s at %s", uid, err, key, rv)
		}
	}
	MustCreate(t, f, 2, pod("a", "uid-a", nil))
	want(f.Store(), "uid-a", "default/a", "2")
	ApplyCommand(t, f, 3, mustUpdate(t, pod("a", "uid-a", map[string]string{"v": "2"}), false))
	want(f.Store(), "uid-a", "default/a", "3")
	if _, err := f.Store().GetByUID("namespaces", "uid-a"); !v1.IsNotFound(err) {
		t.Errorf("a namespace with a pod's uid: %v, want NotFound", err)
	}
	if _, err := f.Store().GetByUID("nosuchresource", "uid-a"); err == nil || v1.IsNotFound(err) {
		t.Errorf("an unknown resource: %v, want an error other than NotFound", err)
	}
	ApplyCommand(t, f, 4, del)
	want(f.Store(), "uid-a", "", "")
	MustCreate(t, f, 5, pod("b", "uid-a", nil))
	want(f.Store(), "uid-a", "default/b", "5")

	var buf bytes.Buffer
	if err := f.Store().writeSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	dst := NewTestFSM(t)
	if err := dst.Restore(nopCloser{strings.NewReader(buf.String())}); err != nil {
		t.Fatal(err)
	}
	want(dst.Store(), "uid-a", "default/b", "5")
	if rec, err := dst.Store().GetByUID("namespaces", "uid-default"); err != nil || rec.Key() != "default" {
		t.Errorf("restored namespace by uid: %v %v", rec, err)
	}
}
