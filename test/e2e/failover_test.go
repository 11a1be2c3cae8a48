package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"orch.io/orch/test/harness"
)

// Done-when 1: 100 objects created through orchctl survive a leader
// SIGKILL; the new leader takes writes; both survivors serve all 100; the
// killed master restarts from its data dir and catches up.
func TestLeaderKillKeepsAcknowledgedObjects(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	out, errOut, err := c.Orchctl(podsManifest("obj", 100), "create", "-f", "-")
	if err != nil {
		t.Fatalf("orchctl create: %v\n%s%s", err, out, errOut)
	}
	if n := strings.Count(out, " created"); n != 100 {
		t.Fatalf("orchctl reported %d created, want 100:\n%s", n, out)
	}
	leader := c.WaitLeader(10 * time.Second)
	c.Kill(leader)
	start := time.Now()
	newLeader := c.WaitLeader(15 * time.Second)
	if newLeader == leader {
		t.Fatalf("the killed master %d is still the leader", leader)
	}
	t.Logf("new leader %s after %v", c.Masters[newLeader].Name, time.Since(start))
	var survivors []int
	for i := range c.Masters {
		if i != leader {
			survivors = append(survivors, i)
		}
	}
	if err := c.Client(survivors...).Create(ctxT(t, 10*time.Second), testPod("after-kill")); err != nil {
		t.Fatalf("write after leader kill: %v", err)
	}
	want := listKeys(t, c.Client(newLeader), "pods", false)
	if len(want) != 101 {
		t.Fatalf("leader has %d pods, want 101", len(want))
	}
	for _, i := range survivors {
		i := i
		eventually(t, 10*time.Second, fmt.Sprintf("survivor %s has every pod", c.Masters[i].Name), func() error {
			return equalStrings(listKeys(t, c.Client(i), "pods", true), want)
		})
	}
	c.Start(leader)
	eventually(t, 20*time.Second, "restarted master catches up", func() error {
		return equalStrings(listKeys(t, c.Client(leader), "pods", true), want)
	})
}

// Done-when 2: all three masters stopped and restarted: identical state.
func TestFullRestartKeepsState(t *testing.T) {
	parallel(t)
	c := startCluster(t, harness.Options{})
	if out, errOut, err := c.Orchctl(podsManifest("keep", 30), "create", "-f", "-"); err != nil {
		t.Fatalf("orchctl create: %v\n%s%s", err, out, errOut)
	}
	before := map[string][]string{}
	for _, r := range []string{"pods", "namespaces"} {
		before[r] = listKeys(t, c.Client(), r, false)
	}
	for i := range c.Masters {
		c.Stop(i)
	}
	for i := range c.Masters {
		c.Start(i)
	}
	c.WaitLeader(30 * time.Second)
	for i := range c.Masters {
		for _, r := range []string{"pods", "namespaces"} {
			i, r := i, r
			eventually(t, 15*time.Second, fmt.Sprintf("%s on %s after restart", r, c.Masters[i].Name), func() error {
				return equalStrings(listKeys(t, c.Client(i), r, true), before[r])
			})
		}
	}
}
