package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// TestRaftWALLogStore runs three masters on the raft-wal log store
// (orchd master --raft-log-store wal): writes are kept across a leader
// kill and the killed master's restart, and every data dir holds
// raft-wal/ and no raft.db (TestOpenRaftStore in cluster has a data dir
// refused the store it does not hold).
func TestRaftWALLogStore(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{MasterArgs: []string{"--raft-log-store", "wal"}})
	leader := c.WaitLeader(30 * time.Second)
	survivor := (leader + 1) % len(c.Masters)
	cl := c.Client(survivor)
	create := func(from, to int) {
		t.Helper()
		for i := from; i < to; i++ {
			cm := &v1.ConfigMap{ObjectMeta: v1.ObjectMeta{Name: fmt.Sprintf("wal-%02d", i), Namespace: "default"},
				Data: map[string]string{"i": fmt.Sprint(i)}}
			if err := cl.Create(ctxT(t, 30*time.Second), cm); err != nil {
				t.Fatalf("create %s: %v", cm.Name, err)
			}
		}
	}
	create(0, 20)
	c.Kill(leader)
	c.WaitLeader(30 * time.Second)
	create(20, 25)
	c.Start(leader)
	c.WaitCaughtUp(30 * time.Second)

	restarted := c.Client(leader)
	for i := range 25 {
		var cm v1.ConfigMap
		if err := restarted.Get(ctxT(t, 10*time.Second), "configmaps", "default", fmt.Sprintf("wal-%02d", i), &cm, client.Stale()); err != nil {
			t.Fatalf("the restarted master %d: wal-%02d: %v", leader, i, err)
		}
		if cm.Data["i"] != fmt.Sprint(i) {
			t.Fatalf("the restarted master %d: wal-%02d holds %v", leader, i, cm.Data)
		}
	}
	for i, m := range c.Masters {
		if _, err := os.Stat(filepath.Join(m.DataDir, "raft-wal")); err != nil {
			t.Errorf("master %d: %v", i, err)
		}
		if _, err := os.Stat(filepath.Join(m.DataDir, "raft.db")); err == nil {
			t.Errorf("master %d: the data dir holds raft.db beside raft-wal/", i)
		}
	}
}
