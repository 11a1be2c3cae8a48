package fsm

import (
	"testing"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// This file holds helpers for tests of this and other packages.

// NewTestFSM returns an empty FSM with the default feed size.
func NewTestFSM(t testing.TB) *FSM {
	t.Helper()
	f, err := New(DefaultFeedSize)
	if err != nil {
		t.Fatalf("new FSM: %v", err)
	}
	return f
}

// ApplyCommand applies cmd as the committed log entry at index, as raft
// would, and returns what Apply returned. Indexes must increase, as in raft.
func ApplyCommand(t testing.TB, f *FSM, index uint64, cmd []byte) any {
	t.Helper()
	if last := f.Store().Index(); index <= last {
		t.Fatalf("apply at index %d: the store is already at %d", index, last)
	}
	return f.Apply(&raft.Log{Index: index, Term: 1, Type: raft.LogCommand, Data: cmd})
}

// MustCreate creates obj at index and returns the stored record; it fails the
// test if the create is refused.
func MustCreate(t testing.TB, f *FSM, index uint64, obj v1.Object) *Record {
	t.Helper()
	cmd, err := NewCreate(obj)
	if err != nil {
		t.Fatalf("encode create: %v", err)
	}
	res, ok := ApplyCommand(t, f, index, cmd).(Result)
	if !ok || res.Err != nil || res.Record == nil {
		t.Fatalf("create %s %s at %d: %v", v1.KindOf(obj), v1.Key(obj.GetObjectMeta().Namespace, obj.GetObjectMeta().Name), index, res.Err)
	}
	return res.Record
}
