package fsm

import (
	"testing"

	v1 "orch.io/orch/api/v1"
)

func TestDryRun(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, nsObj("default"))
	stored := MustCreate(t, f, 2, podObj("default", "web", map[string]string{"app": "web"}))
	storedRV := stored.Meta().ResourceVersion

	mustEncode := func(cmd []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatalf("encode: %v", err)
		}
		return cmd
	}
	relabel := func(rv string) []byte {
		p := v1.DeepCopy(stored.Object().(*v1.Pod))
		p.Labels = map[string]string{"app": "other"}
		p.ResourceVersion = rv
		return mustEncode(NewUpdate(p, false))
	}
	del := func(name, rv string) []byte {
		return mustEncode(Encode(DeleteCommand, DeleteRequest{Resource: "pods", Namespace: "default", Name: name, ResourceVersion: rv}))
	}
	tests := []struct {
		name   string
		cmd    []byte
		is     func(error) bool // nil: must succeed
		wantRV string
		check  func(t *testing.T, obj v1.Object)
	}{
		{name: "create", cmd: mustEncode(NewCreate(podObj("default", "new", nil))), wantRV: ""},
		{name: "create in a missing namespace", cmd: mustEncode(NewCreate(podObj("nope", "new", nil))), is: v1.IsNotFound},
		{name: "create of a taken name", cmd: mustEncode(NewCreate(func() v1.Object {
			p := podObj("default", "web", nil)
			p.UID = "another"
			return p
		}())), is: v1.IsAlreadyExists},
		{name: "update", cmd: relabel(storedRV), wantRV: storedRV, check: func(t *testing.T, obj v1.Object) {
			if got := obj.GetObjectMeta().Labels["app"]; got != "other" {
				t.Errorf("labels[app] = %q, want the update's", got)
			}
		}},
		{name: "update with a stale resourceVersion", cmd: relabel("1"), is: v1.IsConflict},
		{name: "delete", cmd: del("web", ""), wantRV: storedRV},
		{name: "delete of a missing pod", cmd: del("gone", ""), is: v1.IsNotFound},
		{name: "delete with a stale resourceVersion", cmd: del("web", "1"), is: v1.IsConflict},
		{name: "undecodable command", cmd: []byte{byte(CreateCommand), '{'}, is: func(err error) bool { return err != nil }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.Store().Index()
			_, feedBefore := f.Store().Feed().Window()
			res, ok := f.Store().DryRun(tt.cmd).(Result)
			if !ok {
				t.Fatalf("DryRun answered %T", f.Store().DryRun(tt.cmd))
			}
			switch {
			case tt.is == nil && res.Err != nil:
				t.Fatalf("dry run failed: %v", res.Err)
			case tt.is != nil && !tt.is(res.Err):
				t.Fatalf("dry run answered %v, want another error", res.Err)
			}
			if tt.is == nil {
				if got := res.Record.Meta().ResourceVersion; got != tt.wantRV {
					t.Errorf("resourceVersion %q, want %q", got, tt.wantRV)
				}
				if tt.check != nil {
					tt.check(t, res.Record.Object())
				}
			}
			// Nothing moved: the index, the feed and the stored pod.
			if got := f.Store().Index(); got != before {
				t.Errorf("index moved from %d to %d", before, got)
			}
			if _, got := f.Store().Feed().Window(); got != feedBefore {
				t.Errorf("feed moved from %d to %d", feedBefore, got)
			}
			if _, err := f.Store().Get("pods", "default", "new"); !v1.IsNotFound(err) {
				t.Errorf("dry-run create stored a pod: %v", err)
			}
			cur, err := f.Store().Get("pods", "default", "web")
			if err != nil {
				t.Fatalf("stored pod: %v", err)
			}
			if cur.Meta().ResourceVersion != storedRV || cur.Object().(*v1.Pod).Labels["app"] != "web" || cur.Meta().DeletionTimestamp != nil {
				t.Errorf("the stored pod changed: %+v", cur.Meta())
			}
		})
	}
	// The next real write still gets the next index.
	MustCreate(t, f, 3, podObj("default", "after", nil))
}
