package sched

import (
	"context"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// fakeProposer applies commands straight to a real FSM, as the leader's
// raft.Apply would once committed.
type fakeProposer struct {
	mu    sync.Mutex
	f     *fsm.FSM
	index uint64
}

func newFakeProposer(t testing.TB) *fakeProposer {
	f := fsm.NewTestFSM(t)
	p := &fakeProposer{f: f, index: 1}
	if _, err := p.Apply(context.Background(), mustCreate(t, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default", UID: "ns-default"}})); err != nil {
		t.Fatal(err)
	}
	// The account the service account controller gives every namespace.
	if _, err := p.Apply(context.Background(), mustCreate(t, &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "default", Namespace: "default", UID: "sa-default"}})); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *fakeProposer) Apply(_ context.Context, cmd []byte) (any, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.index++
	res := p.f.Apply(&raft.Log{Index: p.index, Type: raft.LogCommand, Data: cmd})
	if r, ok := res.(fsm.Result); ok && r.Err != nil {
		return nil, r.Err
	}
	return res, nil
}

func (p *fakeProposer) store() *fsm.Store { return p.f.Store() }

func mustCreate(t testing.TB, obj v1.Object) []byte {
	t.Helper()
	cmd, err := fsm.NewCreate(obj)
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

func (p *fakeProposer) create(t *testing.T, obj v1.Object) {
	t.Helper()
	if _, err := p.Apply(context.Background(), mustCreate(t, obj)); err != nil {
		t.Fatalf("create %s: %v", obj.GetObjectMeta().Name, err)
	}
}

func (p *fakeProposer) pod(t *testing.T, name string) *v1.Pod {
	t.Helper()
	rec, err := p.store().Get("pods", "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return rec.Object().(*v1.Pod)
}
