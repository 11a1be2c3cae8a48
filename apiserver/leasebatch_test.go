package apiserver

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// batchFSM is a real FSM behind a proposer that counts its entries.
type batchFSM struct {
	mu      sync.Mutex
	f       *fsm.FSM
	index   uint64
	entries int
}

func (b *batchFSM) Apply(_ context.Context, cmd []byte) (any, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.index++
	b.entries++
	return b.f.Apply(&raft.Log{Index: b.index, Type: raft.LogCommand, Data: cmd}), nil
}

// newBatchFSM returns an FSM holding namespace kube-node-lease and n leases
// node-0..node-n-1.
func newBatchFSM(t *testing.T, n int) *batchFSM {
	b := &batchFSM{f: fsm.NewTestFSM(t)}
	create := func(obj v1.Object) {
		cmd, err := fsm.NewCreate(obj)
		if err != nil {
			t.Fatal(err)
		}
		if r, _ := b.Apply(context.Background(), cmd); r.(fsm.Result).Err != nil {
			t.Fatal(r.(fsm.Result).Err)
		}
	}
	create(&v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: v1.NodeLeaseNamespace, UID: "ns"}})
	for i := range n {
		create(&v1.Lease{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("node-%d", i), Namespace: v1.NodeLeaseNamespace, UID: fmt.Sprintf("uid-%d", i)}})
	}
	b.entries = 0
	return b
}

// renewal is the update command of lease node-i renewed at sec, with
// resourceVersion rv as precondition.
func renewal(t *testing.T, b *batchFSM, i int, sec int64) []byte {
	t.Helper()
	rec, err := b.f.Store().Get("leases", v1.NodeLeaseNamespace, fmt.Sprintf("node-%d", i))
	if err != nil {
		t.Fatal(err)
	}
	l := v1.DeepCopy(rec.Object().(*v1.Lease))
	now := v1.NewMicroTime(time.Unix(sec, 0))
	l.Spec.RenewTime = &now
	cmd, err := fsm.NewUpdate(l, false)
	if err != nil {
		t.Fatal(err)
	}
	return cmd
}

func TestLeaseBatcherOneEntryForManyUpdates(t *testing.T) {
	const n = 40
	b := newBatchFSM(t, n)
	// A window that never ends: the batch goes when it is full.
	lb := newLeaseBatcher(b.Apply, time.Hour, n)
	reg := prometheus.NewRegistry()
	lb.sizes = leaseBatchSizes(reg)
	cmds := make([][]byte, n)
	for i := range n {
		cmds[i] = renewal(t, b, i, 100)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec, err := lb.Apply(context.Background(), cmds[i])
			if err == nil && rec.Object().(*v1.Lease).Spec.RenewTime.Unix() != 100 {
				err = fmt.Errorf("lease %d: renewTime %v", i, rec.Object().(*v1.Lease).Spec.RenewTime)
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	if b.entries != 1 {
		t.Fatalf("%d raft entries for %d lease updates, want 1", b.entries, n)
	}
	mfs, err := reg.Gather()
	if err != nil || len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 {
		t.Fatalf("gather: %v, %d families", err, len(mfs))
	}
	if h := mfs[0].GetMetric()[0].GetHistogram(); h.GetSampleCount() != 1 || h.GetSampleSum() != n {
		t.Fatalf("batch size histogram: %d batches, %v updates; want 1 and %d", h.GetSampleCount(), h.GetSampleSum(), n)
	}
}

func TestLeaseBatcherEachUpdateOnItsOwn(t *testing.T) {
	b := newBatchFSM(t, 2)
	lb := newLeaseBatcher(b.Apply, time.Hour, 3)
	// Two renewals of node-0 from the same resourceVersion and one of node-1.
	cmds := [][]byte{renewal(t, b, 0, 100), renewal(t, b, 0, 101), renewal(t, b, 1, 100)}
	errs := make([]error, len(cmds))
	var wg sync.WaitGroup
	for i := range cmds {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = lb.Apply(context.Background(), cmds[i]) }()
	}
	wg.Wait()
	conflicts := 0
	for _, err := range errs[:2] {
		if v1.IsConflict(err) {
			conflicts++
		} else if err != nil {
			t.Fatalf("unexpected error %v", err)
		}
	}
	if conflicts != 1 || errs[2] != nil {
		t.Fatalf("errors %v: want one conflict among node-0's renewals and node-1's applied", errs)
	}
}

func TestLeaseBatcherWindowEnds(t *testing.T) {
	b := newBatchFSM(t, 1)
	lb := newLeaseBatcher(b.Apply, 5*time.Millisecond, 100)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := lb.Apply(ctx, renewal(t, b, 0, 100)); err != nil {
		t.Fatalf("a lone update: %v", err)
	}
	if b.entries != 1 {
		t.Fatalf("%d entries, want 1", b.entries)
	}
}

func TestLeaseBatcherCallerGivesUp(t *testing.T) {
	b := newBatchFSM(t, 1)
	lb := newLeaseBatcher(b.Apply, time.Hour, 100)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := lb.Apply(ctx, renewal(t, b, 0, 100))
	if v1.CodeOf(err) != 504 {
		t.Fatalf("error %v (code %d), want 504", err, v1.CodeOf(err))
	}
}
