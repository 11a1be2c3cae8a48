package cluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// TestOpenRaftStore checks that each log store keeps entries and raft's
// stable values across a close and a reopen, and that a data dir is
// refused a kind it does not hold, as are unknown kinds and a dir holding
// both.
func TestOpenRaftStore(t *testing.T) {
	for _, kind := range []string{"", LogStoreBoltDB, LogStoreWAL} {
		t.Run("kind="+kind, func(t *testing.T) {
			dir := t.TempDir()
			s, err := openRaftStore(dir, kind)
			if err != nil {
				t.Fatal(err)
			}
			logs := make([]*raft.Log, 64)
			for i := range logs {
				logs[i] = &raft.Log{Index: uint64(i + 1), Term: 3, Type: raft.LogCommand, Data: []byte(fmt.Sprintf("entry %d", i+1))}
			}
			if err := s.StoreLogs(logs); err != nil {
				t.Fatal(err)
			}
			if err := s.SetUint64([]byte("CurrentTerm"), 3); err != nil {
				t.Fatal(err)
			}
			if err := s.Set([]byte("LastVoteCand"), []byte("m2")); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s, err = openRaftStore(dir, kind)
			if err != nil {
				t.Fatalf("reopen: %v", err)
			}
			defer s.Close()
			if first, _ := s.FirstIndex(); first != 1 {
				t.Errorf("first index %d after reopening, want 1", first)
			}
			if last, _ := s.LastIndex(); last != 64 {
				t.Errorf("last index %d after reopening, want 64", last)
			}
			var got raft.Log
			if err := s.GetLog(40, &got); err != nil || got.Term != 3 || !bytes.Equal(got.Data, []byte("entry 40")) {
				t.Errorf("entry 40 after reopening: %+v, %v", got, err)
			}
			if term, err := s.GetUint64([]byte("CurrentTerm")); err != nil || term != 3 {
				t.Errorf("term after reopening: %d, %v", term, err)
			}
			if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "m2" {
				t.Errorf("vote after reopening: %q, %v", v, err)
			}

			other := LogStoreWAL
			if kind != LogStoreBoltDB { // "": a new data dir gets raft-wal
				other = LogStoreBoltDB
			}
			if _, err := openRaftStore(dir, other); err == nil || !strings.Contains(err.Error(), "start the master with the log store it was created with") {
				t.Errorf("opening a %q data dir as %s: %v, want a refusal", kind, other, err)
			}
		})
	}
	t.Run("a data dir keeps its kind", func(t *testing.T) {
		for _, kind := range []string{LogStoreBoltDB, LogStoreWAL} {
			dir := t.TempDir()
			s, err := openRaftStore(dir, kind)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.StoreLogs([]*raft.Log{{Index: 1, Term: 1, Type: raft.LogCommand, Data: []byte("x")}}); err != nil {
				t.Fatal(err)
			}
			s.Close()
			// Started without a kind (orchd master without --raft-log-store).
			s, err = openRaftStore(dir, "")
			if err != nil {
				t.Fatalf("%s data dir opened without a kind: %v", kind, err)
			}
			if last, err := s.LastIndex(); err != nil || last != 1 {
				t.Errorf("%s data dir opened without a kind: last index %d, %v; want its entry", kind, last, err)
			}
			if has, _ := dataDirLogStore(dir); has != kind {
				t.Errorf("%s data dir holds %q after opening without a kind", kind, has)
			}
			s.Close()
		}
	})
	t.Run("unknown kind", func(t *testing.T) {
		if _, err := openRaftStore(t.TempDir(), "etcd"); err == nil || !strings.Contains(err.Error(), `unknown log store "etcd"`) {
			t.Errorf("err %v, want an unknown log store", err)
		}
	})
	t.Run("both kinds in one dir", func(t *testing.T) {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, boltFile), nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, walDir), 0o700); err != nil {
			t.Fatal(err)
		}
		for _, kind := range []string{LogStoreBoltDB, LogStoreWAL} {
			if _, err := openRaftStore(dir, kind); err == nil || !strings.Contains(err.Error(), "holds both") {
				t.Errorf("%s: err %v, want a refusal", kind, err)
			}
		}
	})
}

// TestGroupOnEachLogStore runs a three-master group on each log store:
// concurrent writes through a follower are committed, and every master
// holds them, from the store its data dir holds.
func TestGroupOnEachLogStore(t *testing.T) {
	for _, kind := range []string{LogStoreBoltDB, LogStoreWAL} {
		t.Run(kind, func(t *testing.T) {
			g := NewTestGroup(t, 3, TestOptions{LogStore: kind, RaftTimeout: steadyRaftTimeout})
			leader := g.WaitLeader(t)
			f := g.Followers(leader)[0]
			ctx := testCtx(t, 30*time.Second)
			const n = 50
			nss := make([]*v1.Namespace, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range nss {
				nss[i] = newNamespace(fmt.Sprintf("ls-%02d", i))
				cmd := createCmd(t, nss[i])
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, errs[i] = f.Apply(ctx, cmd)
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("create %s: %v", nss[i].Name, err)
				}
			}
			want, notWant := walDir, boltFile
			if kind == LogStoreBoltDB {
				want, notWant = boltFile, walDir
			}
			for _, m := range g.Members {
				if _, err := m.ReadBarrier(ctx); err != nil {
					t.Fatalf("read barrier on %s: %v", m.ID(), err)
				}
				for _, ns := range nss {
					if _, err := m.Store().Get("namespaces", "", ns.Name); err != nil {
						t.Fatalf("%s: %s: %v", m.ID(), ns.Name, err)
					}
				}
				if _, err := os.Stat(filepath.Join(m.cfg.DataDir, want)); err != nil {
					t.Errorf("%s: %v", m.ID(), err)
				}
				if _, err := os.Stat(filepath.Join(m.cfg.DataDir, notWant)); err == nil {
					t.Errorf("%s: the data dir holds %s too", m.ID(), notWant)
				}
			}
		})
	}
}
