package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// TestMasterDiskFull fills one master's data dir (a tmpfs), first the
// leader's, then a follower's, while a client writes pods through that
// master first, on each log store: raft-wal (the default, in a 96 MiB
// tmpfs: its segments and reserve) and raft-boltdb (32 MiB). Every write
// succeeds (the other two masters are a quorum) or fails with a 503 naming
// the full disk, in bounded time; the full master stays up and does not
// lead; once space returns it catches up by itself with every object
// equal to the leader's, its bolt file (raft.db, or raft-wal's meta
// database) passes bolt's consistency check, and it restarts from its data
// dir with the same objects. It runs alone (no t.Parallel): its bounds on
// a write's time are a leader's, and a loaded machine delays elections
// past them.
func TestMasterDiskFull(t *testing.T) {
	for _, tc := range []struct {
		store string
		args  []string
		size  int64
		bolt  string // the bolt file checked after a stop
	}{
		{"wal", nil, 96 << 20, filepath.Join("raft-wal", "wal-meta.db")},
		{"boltdb", []string{"--raft-log-store", "boltdb"}, 32 << 20, "raft.db"},
	} {
		t.Run(tc.store, func(t *testing.T) {
			c := startCluster(t, harness.Options{DataDirSize: tc.size, MasterArgs: tc.args})
			var acked []string
			cl := c.Client()
			for i := range 20 {
				name := fmt.Sprintf("seed-%02d", i)
				if err := cl.Create(ctxT(t, 10*time.Second), testPod(name)); err != nil {
					t.Fatalf("seed %s: %v", name, err)
				}
				acked = append(acked, name)
			}
			t.Run("leader", func(t *testing.T) {
				leader := c.WaitLeader(10 * time.Second)
				acked = diskFull(t, c, leader, true, acked, tc.bolt)
			})
			t.Run("follower", func(t *testing.T) {
				leader := c.WaitLeader(10 * time.Second)
				acked = diskFull(t, c, (leader+1)%len(c.Masters), false, acked, tc.bolt)
			})
		})
	}
}

// Bounds of the disk-full test.
const (
	fullFor    = 3 * time.Second  // writes go on this long with the disk full
	writeBound = 10 * time.Second // no write may take longer
)

// diskFull fills master i's disk and checks the cluster through it; it
// returns acked with the writes acknowledged meanwhile. boltFile is the
// bolt file of the log store in the data dir, checked after a stop.
func diskFull(t *testing.T, c *harness.Cluster, i int, wasLeader bool, acked []string, boltFile string) []string {
	m := c.Masters[i]
	var others []int
	for j := range c.Masters {
		if j != i {
			others = append(others, j)
		}
	}
	release, err := c.FillDisk(i)
	if err != nil {
		t.Fatalf("fill the disk of %s: %v", m.Name, err)
	}
	t.Cleanup(release)
	if free, err := c.DiskFree(i); err != nil || free > 64<<10 {
		t.Fatalf("%s has %d bytes free after FillDisk (%v)", m.Name, free, err)
	}
	t.Logf("filled the data dir of %s (leader: %v)", m.Name, wasLeader)
	prefix := "full-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-"))

	// Writes through the full master first (it answers, so the client keeps
	// sending to it).
	cl := c.Client(append([]int{i}, others...)...)
	var failed int
	var slowest time.Duration
	leaders := map[string]bool{}
	storeFailed := false
	start := time.Now()
	for n := 0; time.Since(start) < fullFor; n++ {
		name := fmt.Sprintf("%s-%04d", prefix, n)
		t0 := time.Now()
		err := cl.Create(ctxT(t, writeBound+5*time.Second), testPod(name))
		took := time.Since(t0)
		slowest = max(slowest, took)
		if took > writeBound {
			t.Errorf("write %s took %v, over the %v bound", name, took, writeBound)
		}
		switch {
		case err == nil:
			acked = append(acked, name)
		case wasLeader && v1.CodeOf(err) == http.StatusServiceUnavailable && strings.Contains(err.Error(), "is full"):
			failed++
			t.Logf("write %s refused after %v: %v", name, took, err)
		default:
			t.Fatalf("write %s through %s with its disk full: %v (code %d) after %v, want success or a 503 naming the full disk", name, m.Name, err, v1.CodeOf(err), took)
		}
		// Who leads, as the full master itself sees it, counted from the
		// first write after it reported a failed store (bolt may place the
		// first entries into pages freed earlier, so a full data dir does
		// not stop a leader until a store fails; after that it must not
		// lead, nor win an election).
		mem, err := c.Client(i).Members(ctxT(t, 5*time.Second))
		if err != nil {
			t.Fatalf("members of %s: %v", m.Name, err)
		}
		if storeFailed {
			leaders[mem.Leader] = true
		}
		storeFailed = storeFailed || metricValue(t, c, i, "orch_raft_disk_full") == 1
		if !m.Running() {
			t.Fatalf("%s exited with its disk full:\n%s", m.Name, tail(m.LogPath))
		}
	}
	written := len(acked)
	t.Logf("with %s full for %v: %d writes failed, slowest write %v; a store failed: %v; leaders seen after that %v", m.Name, fullFor, failed, slowest.Round(time.Millisecond), storeFailed, keys(leaders))
	if leaders[m.Name] {
		t.Errorf("%s led with its disk full (leaders seen after writes: %v)", m.Name, keys(leaders))
	}
	if !slices.ContainsFunc(acked, func(s string) bool { return strings.HasPrefix(s, prefix) }) {
		t.Fatalf("no write succeeded with %s full: the other two masters are a quorum", m.Name)
	}

	// It lacks the latest writes: a linearizable read on it fails at once
	// with 503 (clients go to the next master); its own copy is readable.
	cfg := c.Config(i)
	cfg.FailoverRounds = 1
	one, err := client.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer one.CloseIdleConnections()
	t0 := time.Now()
	_, err = one.List(ctxT(t, writeBound), "pods", "default", client.ListOptions{})
	took := time.Since(t0)
	if v1.CodeOf(err) != http.StatusServiceUnavailable || !strings.Contains(err.Error(), "data dir is full") {
		t.Errorf("linearizable list on %s with its disk full: %v, want 503 naming the full data dir", m.Name, err)
	} else if took > 2*time.Second {
		t.Errorf("linearizable list on %s took %v to fail, want at once", m.Name, took)
	}
	t.Logf("linearizable list on %s: %v after %v", m.Name, err, took.Round(time.Millisecond))
	if _, err := c.Client(i).List(ctxT(t, 5*time.Second), "pods", "default", client.ListOptions{Stale: true}); err != nil {
		t.Errorf("stale list on %s with its disk full: %v", m.Name, err)
	}

	release()
	t0 = time.Now()
	c.WaitCaughtUp(30 * time.Second)
	t.Logf("%s caught up %v after space returned", m.Name, time.Since(t0).Round(time.Millisecond))
	if !m.Running() {
		t.Fatalf("%s exited:\n%s", m.Name, tail(m.LogPath))
	}
	sameAsLeader(t, c, i, acked[:written])

	// A restart from its data dir: the bolt file is sound and the objects
	// come back the same.
	c.Stop(i)
	checkBolt(t, filepath.Join(m.DataDir, boltFile))
	c.Start(i)
	c.WaitLeader(30 * time.Second)
	c.WaitCaughtUp(30 * time.Second)
	sameAsLeader(t, c, i, acked)
	return acked
}

// sameAsLeader waits until master i's own copy equals the leader's
// linearizable one, object by object, for pods and namespaces, and checks
// that every acknowledged pod is there.
func sameAsLeader(t *testing.T, c *harness.Cluster, i int, acked []string) {
	t.Helper()
	for _, resource := range []string{"pods", "namespaces"} {
		var mine, want map[string]string
		eventually(t, 15*time.Second, fmt.Sprintf("%s on %s equal to the leader's", resource, c.Masters[i].Name), func() error {
			want = objects(t, c.Client(c.WaitLeader(10*time.Second)), resource, false)
			mine = objects(t, c.Client(i), resource, true)
			return equalObjects(mine, want)
		})
		if resource != "pods" {
			continue
		}
		for _, name := range acked {
			if _, ok := mine["default/"+name]; !ok {
				t.Errorf("%s lost the acknowledged pod %s", c.Masters[i].Name, name)
			}
		}
	}
}

// objects lists a resource and returns each object's JSON, re-encoded so
// that equal objects compare equal, by namespace/name.
func objects(t *testing.T, cl *client.Client, resource string, stale bool) map[string]string {
	t.Helper()
	l, err := cl.List(ctxT(t, 10*time.Second), resource, "", client.ListOptions{Stale: stale})
	if err != nil {
		t.Fatalf("list %s: %v", resource, err)
	}
	out := map[string]string{}
	for _, raw := range l.Items {
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		var meta struct {
			Metadata v1.ObjectMeta `json:"metadata"`
		}
		if err := json.Unmarshal(raw, &meta); err != nil {
			t.Fatal(err)
		}
		canon, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		out[meta.Metadata.Namespace+"/"+meta.Metadata.Name] = string(canon)
	}
	return out
}

func equalObjects(got, want map[string]string) error {
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return fmt.Errorf("%s missing (%d objects, want %d)", k, len(got), len(want))
		}
		if !bytes.Equal([]byte(g), []byte(w)) {
			return fmt.Errorf("%s differs:\n got %s\nwant %s", k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			return fmt.Errorf("%s is extra (%d objects, want %d)", k, len(got), len(want))
		}
	}
	return nil
}

// checkBolt runs bolt's consistency check on a stopped master's raft.db.
func checkBolt(t *testing.T, path string) {
	t.Helper()
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		var errs []string
		for err := range tx.Check() {
			errs = append(errs, err.Error())
		}
		if len(errs) > 0 {
			return fmt.Errorf("%d problems: %s", len(errs), strings.Join(errs, "; "))
		}
		return nil
	})
	if err != nil {
		t.Fatalf("bolt check of %s: %v", path, err)
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// tail returns the last lines of a log file.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-40):], "\n")
}
