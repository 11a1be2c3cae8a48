package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/test/harness"
)

// The masters can be changed while the cluster serves: leadership moves to
// a named master, a master is removed, a fresh one joins and catches up, and
// the new three survive losing one of the old ones.
func TestMasterMembershipChanges(t *testing.T) {
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network, Spare: 1})
	cl := c.Client()
	for i := 0; i < 20; i++ {
		if err := cl.Create(ctxT(t, 10*time.Second), testPod(fmt.Sprintf("before-%02d", i))); err != nil {
			t.Fatal(err)
		}
	}
	members := func() (leader string, names []string) {
		out, stderr, err := c.Orchctl("", "cluster", "members", "-o", "json")
		if err != nil {
			t.Fatalf("cluster members: %v %s", err, stderr)
		}
		var m client.Members
		if err := jsonUnmarshal(out, &m); err != nil {
			t.Fatal(err)
		}
		for _, mb := range m.Members {
			names = append(names, mb.Name)
		}
		return m.Leader, names
	}

	// Hand leadership to m2.
	if out, stderr, err := c.Orchctl("", "cluster", "transfer-leader", "m2"); err != nil {
		t.Fatalf("transfer-leader: %v\n%s%s", err, out, stderr)
	}
	waitFor(t, 10*time.Second, "m2 leading", func() (bool, string) {
		l, _ := members()
		return l == "m2", l
	})

	// Remove m3 and stop it; two masters still commit writes.
	if out, stderr, err := c.Orchctl("", "cluster", "remove-master", "m3"); err != nil {
		t.Fatalf("remove-master: %v\n%s%s", err, out, stderr)
	}
	c.Stop(2)
	if _, names := members(); strings.Join(names, ",") != "m1,m2" {
		t.Fatalf("members after the removal: %v", names)
	}
	if err := cl.Create(ctxT(t, 10*time.Second), testPod("after-remove")); err != nil {
		t.Fatalf("write with two masters: %v", err)
	}
	// Removing a master that is not there is a clear 404.
	if _, stderr, err := c.Orchctl("", "cluster", "remove-master", "m3"); err == nil || !strings.Contains(stderr, "not found") {
		t.Errorf("removing m3 twice: %v %s", err, stderr)
	}

	// A fresh master joins: started with --join, then added.
	i := c.AddMaster()
	m4 := c.Masters[i]
	if out, stderr, err := c.Orchctl("", "cluster", "add-master", m4.Name, m4.RaftAddr); err != nil {
		t.Fatalf("add-master: %v\n%s%s", err, out, stderr)
	}
	c.WaitCaughtUp(30 * time.Second)
	// m4's own copy holds every object written before it joined.
	pods, _, err := client.ListTyped[v1.Pod](ctxT(t, 10*time.Second), c.Client(i), "pods", "default", client.ListOptions{Stale: true})
	if err != nil || len(pods) != 21 {
		t.Fatalf("m4 holds %d pods (%v), want 21", len(pods), err)
	}

	// The new three survive losing the old m1.
	c.Kill(0)
	waitFor(t, 30*time.Second, "a write with m2 and m4", func() (bool, string) {
		err := c.Client(1, i).Create(ctxT(t, 5*time.Second), testPod("after-kill"))
		return err == nil || v1.IsAlreadyExists(err), fmt.Sprint(err)
	})
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
