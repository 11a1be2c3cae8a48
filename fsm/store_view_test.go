package fsm

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// TestStoreViewIndexMatchesTables holds a reader's index to the tables it
// reads while batches commit: every entry after the namespace's creates one
// pod, so a list, a snapshot and a backup at index i hold i-1 pods.
func TestStoreViewIndexMatchesTables(t *testing.T) {
	f := NewTestFSM(t)
	MustCreate(t, f, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
	const pods = 300
	cmds := make([][]byte, pods)
	for i := range cmds {
		cmd, err := NewCreate(&v1.Pod{ObjectMeta: testMeta("default", fmt.Sprintf("p%04d", i)),
			Spec: v1.PodSpec{Containers: []v1.Container{{Name: "c", Image: "busybox"}}}})
		if err != nil {
			t.Fatal(err)
		}
		cmds[i] = cmd
	}
	s := f.Store()
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	check := func(read func() (index uint64, n int, err error)) {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			index, n, err := read()
			if err == nil && uint64(n) != index-1 {
				err = fmt.Errorf("%d pods at index %d, want %d", n, index, index-1)
			}
			if err != nil {
				errs <- err
				return
			}
		}
	}
	wg.Add(3)
	go check(func() (uint64, int, error) {
		res, err := s.List("pods", ListOptions{})
		return res.Index, len(res.Items), err
	})
	go check(func() (uint64, int, error) {
		var buf bytes.Buffer
		if err := s.writeSnapshot(&buf); err != nil {
			return 0, 0, err
		}
		return snapshotCounts(&buf)
	})
	go check(func() (uint64, int, error) {
		snap, err := f.Snapshot()
		if err != nil {
			return 0, 0, err
		}
		var buf bytes.Buffer
		if err := WriteSnapshot(snap.(*snapshot).txn, snap.(*snapshot).index, &buf); err != nil {
			return 0, 0, err
		}
		return snapshotCounts(&buf)
	})
	index := uint64(2)
	for i, size := 0, 1; i < pods; i, size = i+size, size%7+1 {
		var logs []*raft.Log
		for j := i; j < i+size && j < pods; j++ {
			logs = append(logs, &raft.Log{Index: index, Type: raft.LogCommand, Data: cmds[j]})
			index++
		}
		for _, r := range f.ApplyBatch(logs) {
			if res, ok := r.(Result); !ok || res.Err != nil {
				t.Fatalf("apply: %+v", r)
			}
		}
		if got, want := s.Index(), index-1; got != want {
			t.Fatalf("Index() = %d after the batch, want %d", got, want)
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := s.Count("pods"); got != pods {
		t.Fatalf("Count = %d, want %d", got, pods)
	}
}

// snapshotCounts returns a snapshot's index and how many pods it holds.
func snapshotCounts(r *bytes.Buffer) (uint64, int, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, 1<<20)
	if !sc.Scan() {
		return 0, 0, fmt.Errorf("no snapshot header")
	}
	var h snapshotHeader
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
		return 0, 0, fmt.Errorf("snapshot header: %w", err)
	}
	n := 0
	for sc.Scan() {
		var line snapshotLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return 0, 0, fmt.Errorf("snapshot line: %w", err)
		}
		if line.Resource == "pods" {
			n++
		}
	}
	return h.Index, n, sc.Err()
}

// TestStoreViewAfterRestore: a restored store answers with the snapshot's
// index, and applies go on from it.
func TestStoreViewAfterRestore(t *testing.T) {
	src := NewTestFSM(t)
	MustCreate(t, src, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "default"}})
	MustCreate(t, src, 7, &v1.ConfigMap{ObjectMeta: testMeta("default", "a")})
	var buf bytes.Buffer
	if err := src.Store().writeSnapshot(&buf); err != nil {
		t.Fatal(err)
	}
	dst := NewTestFSM(t)
	MustCreate(t, dst, 1, &v1.Namespace{ObjectMeta: v1.ObjectMeta{Name: "other"}})
	if err := dst.Restore(io.NopCloser(&buf)); err != nil {
		t.Fatal(err)
	}
	s := dst.Store()
	res, err := s.List("configmaps", ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Index() != 7 || res.Index != 7 || len(res.Items) != 1 {
		t.Fatalf("after restore: Index() = %d, list at %d with %d items; want 7, 7, 1", s.Index(), res.Index, len(res.Items))
	}
	MustCreate(t, dst, 8, &v1.ConfigMap{ObjectMeta: testMeta("default", "b")})
	if res, _ := s.List("configmaps", ListOptions{}); s.Index() != 8 || res.Index != 8 || len(res.Items) != 2 {
		t.Fatalf("after a create: Index() = %d, list at %d with %d items; want 8, 8, 2", s.Index(), res.Index, len(res.Items))
	}
}
