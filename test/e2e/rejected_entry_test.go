package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
	"orch.io/orch/test/harness"
)

// rejectedLogLine is what a master logs for a committed entry its FSM could
// not apply (cluster/rejections.go).
const rejectedLogLine = `msg="a committed entry could not be applied; it changed nothing"`

// TestMastersStartOnUnappliableEntries: a committed Raft entry that no FSM
// can apply once took every master down, on every restart. Here such
// entries are appended to each stopped master's raft.db, identical on all
// three (the next index, the last entry's term), so whichever master leads
// next commits them and every master replays them at start. Each round the
// masters start, elect a leader and answer; each master's FSM applied the
// entry (raft's applied index passed it, orch_fsm_rejected_entries_total
// counts it) and logged it by index; the pod the entry names is unchanged;
// a new write succeeds. The log is replayed from its start at every start
// (no snapshot is due), so the second round meets both entries again.
func TestMastersStartOnUnappliableEntries(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	cl := c.Client()
	pod := testPod("victim")
	if err := cl.Create(ctxT(t, 10*time.Second), pod); err != nil {
		t.Fatalf("create pod: %v", err)
	}
	podPath := "/api/v1/namespaces/default/pods/victim"
	var before json.RawMessage
	if err := cl.Do(ctxT(t, 10*time.Second), "GET", podPath, nil, nil, &before); err != nil {
		t.Fatalf("get pod: %v", err)
	}

	entries := []struct {
		name string
		data []byte
	}{
		{"a status update of the pod whose lastTransitionTime is in the year 10000", farFutureStatus(t, before)},
		{"a delete whose body is not JSON", append([]byte{byte(fsm.DeleteCommand)}, "\xff\xfe{this is not JSON"...)},
	}
	var appended []uint64
	for round, e := range entries {
		// Today's API refuses such a command before it reaches the log.
		if err := fsm.Verify(e.data); err == nil {
			t.Fatalf("%s: fsm.Verify accepts it; the test needs an entry only an older proposer could have written", e.name)
		}
		leader := c.WaitLeader(30 * time.Second)
		c.WaitCaughtUp(30 * time.Second)
		stopAll(c, leader)
		index := appendEverywhere(t, c, e.data)
		appended = append(appended, index)
		t.Logf("round %d: appended %s at index %d to every master's raft log", round+1, e.name, index)

		start := time.Now()
		for i := range c.Masters {
			c.Start(i)
		}
		leader = c.WaitLeader(60 * time.Second)
		t.Logf("round %d: %s leads, %v after the start", round+1, c.Masters[leader].Name, time.Since(start).Round(time.Millisecond))

		for i, m := range c.Masters {
			mc := c.Client(i)
			eventually(t, 30*time.Second, fmt.Sprintf("master %s applied and rejected the entry at %d", m.Name, index), func() error {
				var ready []byte
				if err := mc.Do(ctxT(t, 5*time.Second), "GET", "/readyz", nil, nil, &ready); err != nil {
					return fmt.Errorf("readyz: %w", err)
				}
				mem, err := mc.Members(ctxT(t, 5*time.Second))
				if err != nil {
					return err
				}
				for _, mm := range mem.Members {
					if mm.Name == m.Name && mm.AppliedIndex < index {
						return fmt.Errorf("applied index %d", mm.AppliedIndex)
					}
				}
				// Every entry appended so far was applied (and refused)
				// again by this process: the log replays from its start.
				if n := rejectedEntries(t, c, i); n < float64(len(appended)) {
					return fmt.Errorf("orch_fsm_rejected_entries_total = %v, want >= %d", n, len(appended))
				}
				for k, idx := range appended {
					// One line per start since the entry was appended.
					if n, want := rejectedLines(t, m.LogPath, idx), round-k+1; n != want {
						return fmt.Errorf("%d log lines for index %d, want %d", n, idx, want)
					}
				}
				return nil
			})
		}

		t.Logf("round %d: %s logged: %s", round+1, c.Masters[leader].Name, rejectedLine(t, c.Masters[leader].LogPath, index))
		var after json.RawMessage
		if err := cl.Do(ctxT(t, 10*time.Second), "GET", podPath, nil, nil, &after); err != nil {
			t.Fatalf("round %d: get pod: %v", round+1, err)
		}
		if !v1.JSONEqual(after, before) {
			t.Errorf("round %d: the pod changed:\n got %s\nwant %s", round+1, after, before)
		}
		fresh := testPod(fmt.Sprintf("after-round-%d", round+1))
		if err := cl.Create(ctxT(t, 10*time.Second), fresh); err != nil {
			t.Fatalf("round %d: a write after the restart: %v", round+1, err)
		}
		if rv, _ := strconv.ParseUint(fresh.ResourceVersion, 10, 64); rv <= index {
			t.Errorf("round %d: the new pod's resourceVersion %s is not above the appended entry's index %d", round+1, fresh.ResourceVersion, index)
		}
		if keys := listKeys(t, cl, "pods", false); len(keys) != round+2 {
			t.Errorf("round %d: pods %v, want victim and %d new ones", round+1, keys, round+1)
		}
	}
}

// farFutureStatus returns the UpdateStatusCommand an older orch wrote for
// the pod: its stored JSON with a condition whose lastTransitionTime is in
// the year 10000, framed "pods NUL object" after the type byte, by hand.
func farFutureStatus(t *testing.T, podJSON []byte) []byte {
	t.Helper()
	var obj map[string]any
	if err := json.Unmarshal(podJSON, &obj); err != nil {
		t.Fatal(err)
	}
	status, _ := obj["status"].(map[string]any)
	if status == nil {
		status = map[string]any{}
	}
	status["conditions"] = []any{map[string]any{"type": "Ready", "status": "False", "lastTransitionTime": "10000-01-01T00:00:00Z"}}
	obj["status"] = status
	b, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	cmd := append([]byte{byte(fsm.UpdateStatusCommand)}, "pods\x00"...)
	return append(cmd, b...)
}

// stopAll stops every master gracefully, the leader last (a leader stopped
// first hands over, and its successor's first entries would reach only the
// others).
func stopAll(c *harness.Cluster, leader int) {
	for i := range c.Masters {
		if i != leader {
			c.Stop(i)
		}
	}
	c.Stop(leader)
}

// appendEverywhere appends data to every stopped master's raft log at the
// same index and term and returns the index. The logs are made identical
// first: a master stopped before the others may lack the last entries.
func appendEverywhere(t *testing.T, c *harness.Cluster, data []byte) uint64 {
	t.Helper()
	var tails []string
	for i, m := range c.Masters {
		tail, err := c.RaftLogLast(i)
		if err != nil {
			t.Fatal(err)
		}
		tails = append(tails, fmt.Sprintf("%s %d/%d", m.Name, tail.Index, tail.Term))
	}
	t.Logf("the raft logs end at (index/term): %s", strings.Join(tails, ", "))
	tail, err := c.CatchUpRaftLogs()
	if err != nil {
		t.Fatal(err)
	}
	for i := range c.Masters {
		index, err := c.AppendRaftCommand(i, data)
		if err != nil {
			t.Fatal(err)
		}
		if index != tail.Index+1 {
			t.Fatalf("appended at %d on %s, want %d", index, c.Masters[i].Name, tail.Index+1)
		}
	}
	return tail.Index + 1
}

// rejectedEntries reads orch_fsm_rejected_entries_total from master i.
func rejectedEntries(t *testing.T, c *harness.Cluster, i int) float64 {
	t.Helper()
	return metricValue(t, c, i, "orch_fsm_rejected_entries_total")
}

// rejectedLine returns the last line of a master's log that reports the
// entry at index as not applied.
func rejectedLine(t *testing.T, logPath string, index uint64) string {
	t.Helper()
	lines := matchingLines(t, logPath, index)
	if len(lines) == 0 {
		return ""
	}
	return lines[len(lines)-1]
}

// rejectedLines counts the lines of a master's log that report the entry
// at index as not applied.
func rejectedLines(t *testing.T, logPath string, index uint64) int {
	t.Helper()
	return len(matchingLines(t, logPath, index))
}

func matchingLines(t *testing.T, logPath string, index uint64) []string {
	t.Helper()
	b, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	want := fmt.Sprintf(" index=%d ", index)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, rejectedLogLine) && strings.Contains(line, want) {
			out = append(out, line)
		}
	}
	return out
}
