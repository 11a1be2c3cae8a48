package fsm

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// TestApplyCacheExact applies the same entries, in batches of several
// sizes, to an FSM whose batches carry their reads to the next (applyCache)
// and to one whose batches start without them: every answer and the final
// state are the same. The entries read namespaces and quotas across
// batches that change them: a pod in a namespace that a later entry
// deletes, a quota that a later pod finds, pods past it, a quota removed,
// a namespace made again.
func TestApplyCacheExact(t *testing.T) {
	enc := func(cmd []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	pod := func(ns, name string) []byte {
		return enc(NewCreate(&v1.Pod{ObjectMeta: testMeta(ns, name),
			Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}}))
	}
	ns := func(name string) []byte {
		return enc(NewCreate(&v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: name, UID: "uid-ns-" + name}}))
	}
	del := func(resource, ns, name string) []byte {
		return enc(Encode(DeleteCommand, DeleteRequest{Resource: resource, Namespace: ns, Name: name, Now: v1.NewTime(time.Unix(1, 0))}))
	}
	cmds := [][]byte{
		ns("a"), ns("b"),
		pod("a", "p1"), pod("b", "p1"),
		enc(NewCreate(quotaObj("a", "q", map[string]string{"pods": "2"}))),
		pod("a", "p2"), pod("a", "p3"), pod("a", "p4"), pod("b", "p2"),
		del("resourcequotas", "a", "q"),
		pod("a", "p5"), pod("a", "p6"),
		del("namespaces", "", "b"),
		pod("b", "p3"),
		del("pods", "b", "p1"), del("pods", "b", "p2"),
		pod("b", "p4"), ns("b"), pod("b", "p5"),
		pod("c", "p1"), ns("c"), pod("c", "p1"), pod("c", "p1"),
	}
	for _, size := range []int{1, 2, 3, 5, len(cmds)} {
		t.Run(fmt.Sprintf("batch=%d", size), func(t *testing.T) {
			cached, fresh := NewTestFSM(t), NewTestFSM(t)
			for i := 0; i < len(cmds); i += size {
				var logs []*raft.Log
				for j := i; j < i+size && j < len(cmds); j++ {
					logs = append(logs, &raft.Log{Index: uint64(j + 1), Type: raft.LogCommand, Data: cmds[j]})
				}
				fresh.Store().cache = applyCache{}
				got, want := cached.ApplyBatch(logs), fresh.ApplyBatch(logs)
				for j := range logs {
					if g, w := resultString(got[j]), resultString(want[j]); g != w {
						t.Errorf("entry %d: %s with the cache, %s without", logs[j].Index, g, w)
					}
				}
			}
			var got, want bytes.Buffer
			if err := cached.Store().writeSnapshot(&got); err != nil {
				t.Fatal(err)
			}
			if err := fresh.Store().writeSnapshot(&want); err != nil {
				t.Fatal(err)
			}
			if got.String() != want.String() {
				t.Errorf("state with the cache:\n%s\nwithout:\n%s", got.String(), want.String())
			}
			// The entries were refused and admitted as their reads say.
			if res, _ := fresh.Store().List("pods", ListOptions{Namespace: "a"}); len(res.Items) != 4 {
				t.Errorf("%d pods in a, want 4 (p1, p2, then p5, p6 once the quota is gone)", len(res.Items))
			}
		})
	}
}

// resultString is an apply's answer as text: its error or its record.
func resultString(r any) string {
	res, ok := r.(Result)
	if !ok {
		return fmt.Sprintf("%T %v", r, r)
	}
	if res.Err != nil {
		return "error: " + res.Err.Error()
	}
	if res.Record == nil {
		return "no record"
	}
	b, err := res.Record.JSON()
	if err != nil {
		return "record error: " + err.Error()
	}
	return string(b)
}
