package fsm

import (
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// TestBatchPointReads applies commands in one write transaction and checks,
// after each, that the batch's point reads (what the batch wrote, then the
// store as the batch found it) answer what the write transaction holds, and
// that creates see the names and uids earlier entries of the batch took or
// freed.
func TestBatchPointReads(t *testing.T) {
	pod := func(name, uid string, lbls map[string]string) *v1.Pod {
		p := podObj("default", name, lbls)
		p.UID = uid
		return p
	}
	del := func(name string) []byte {
		return mustEncode(t, DeleteCommand, DeleteRequest{Resource: "pods", Namespace: "default", Name: name,
			Now: v1.NewTime(time.Unix(1, 0))})
	}
	type step struct {
		cmd    []byte
		exists bool // the command is refused with AlreadyExists
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"a name taken earlier in the batch", []step{
			{cmd: mustCreateCmd(t, pod("a", "uid-1", nil))},
			{cmd: mustCreateCmd(t, pod("a", "uid-2", nil)), exists: true},
		}},
		{"a uid taken earlier in the batch", []step{
			{cmd: mustCreateCmd(t, pod("a", "uid-1", nil))},
			{cmd: mustCreateCmd(t, pod("b", "uid-1", nil)), exists: true},
		}},
		{"a name and uid taken before the batch", []step{
			{cmd: mustCreateCmd(t, pod("old", "uid-old", nil)), exists: true},
			{cmd: mustCreateCmd(t, pod("c", "uid-old", nil)), exists: true},
		}},
		{"a name and uid freed earlier in the batch", []step{
			{cmd: mustCreateCmd(t, pod("a", "uid-1", nil))},
			{cmd: del("a")},
			{cmd: mustCreateCmd(t, pod("a", "uid-2", nil))},
			{cmd: mustCreateCmd(t, pod("b", "uid-1", nil))},
			{cmd: mustCreateCmd(t, pod("c", "uid-2", nil)), exists: true},
		}},
		{"a name and uid freed that the store held", []step{
			{cmd: del("old")},
			{cmd: mustCreateCmd(t, pod("d", "uid-old", nil))},
			{cmd: mustCreateCmd(t, pod("old", "uid-3", nil))},
		}},
		{"an update keeps the uid taken", []step{
			{cmd: mustCreateCmd(t, pod("a", "uid-1", nil))},
			{cmd: mustUpdate(t, pod("a", "uid-1", map[string]string{"v": "2"}), false)},
			{cmd: mustUpdate(t, pod("old", "uid-old", map[string]string{"v": "2"}), false)},
			{cmd: mustCreateCmd(t, pod("b", "uid-1", nil)), exists: true},
			{cmd: mustCreateCmd(t, pod("c", "uid-old", nil)), exists: true},
		}},
	}
	names := []string{"a", "b", "c", "d", "old", "none"}
	uids := []string{"uid-1", "uid-2", "uid-3", "uid-old", "uid-none"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := NewTestFSM(t)
			MustCreate(t, f, 1, nsObj("default"))
			MustCreate(t, f, 2, pod("old", "uid-old", nil))
			w := newWriteTxn(f.Store())
			defer w.txn.Abort()
			for i, st := range tc.steps {
				w.index = uint64(3 + i)
				res, ok := applyEntry(w, st.cmd).(Result)
				if !ok {
					t.Fatalf("step %d: not a Result", i)
				}
				if st.exists {
					wantErr(t, res.Err, v1.IsAlreadyExists, "AlreadyExists")
				} else if res.Err != nil {
					t.Fatalf("step %d: %v", i, res.Err)
				}
				for _, name := range names {
					want, wantErr := get(w.txn, "pods", "default", name)
					got, gotErr := w.get("pods", "default", name)
					if got != want || (gotErr == nil) != (wantErr == nil) {
						t.Errorf("step %d: get %s = %v, %v; the transaction holds %v, %v", i, name, got, gotErr, want, wantErr)
					}
					if gotErr != nil && !v1.IsNotFound(gotErr) {
						t.Errorf("step %d: get %s: %v, want NotFound", i, name, gotErr)
					}
					if w.exists("pods", v1.Key("default", name)) != (want != nil) {
						t.Errorf("step %d: exists %s = %v, the transaction holds %v", i, name, !(want != nil), want)
					}
				}
				held := map[string]bool{}
				it, err := w.txn.Get("pods", indexID)
				if err != nil {
					t.Fatal(err)
				}
				for raw := it.Next(); raw != nil; raw = it.Next() {
					held[raw.(*Record).UID()] = true
				}
				for _, uid := range uids {
					if got := w.uidTaken("pods", uid); got != held[uid] {
						t.Errorf("step %d: uid %s taken = %v, the transaction holds it: %v", i, uid, got, held[uid])
					}
				}
			}
		})
	}
}
