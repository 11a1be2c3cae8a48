package cluster

import (
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

func TestMembershipChanges(t *testing.T) {
	g := NewTestGroup(t, 3, TestOptions{RaftTimeout: time.Second})
	leader := g.WaitLeader(t)
	followers := g.Followers(leader)
	asker, target := followers[0], followers[1]

	// Errors first: nothing changes.
	for _, tc := range []struct {
		name string
		req  MembershipRequest
		code int32
	}{
		{"unknown op", MembershipRequest{Op: "rename"}, 400},
		{"add without address", MembershipRequest{Op: MembershipAdd, Name: "m9"}, 400},
		{"add an existing name", MembershipRequest{Op: MembershipAdd, Name: target.Cluster.cfg.ID, RaftAddr: "127.0.0.1:1"}, 409},
		{"remove an unknown master", MembershipRequest{Op: MembershipRemove, Name: "nobody"}, 404},
		{"transfer to an unknown master", MembershipRequest{Op: MembershipTransfer, Name: "nobody"}, 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Asked on a follower: forwarded to the leader, its error relayed.
			err := asker.Cluster.ChangeMembership(testCtx(t, 10*time.Second), tc.req)
			if v1.CodeOf(err) != int(tc.code) {
				t.Fatalf("err = %v (code %d), want %d", err, v1.CodeOf(err), tc.code)
			}
		})
	}

	// Transfer leadership to a named follower, asked on the other follower.
	if err := asker.Cluster.ChangeMembership(testCtx(t, 10*time.Second), MembershipRequest{Op: MembershipTransfer, Name: target.Cluster.cfg.ID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return target.Cluster.IsLeader() }, func() string { return "target is not the leader" })

	// Remove the old leader, asked on a follower that is not the leader.
	if err := asker.Cluster.ChangeMembership(testCtx(t, 10*time.Second), MembershipRequest{Op: MembershipRemove, Name: leader.Cluster.cfg.ID}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		_, ms, err := asker.Cluster.Members()
		return err == nil && len(ms) == 2
	}, func() string { _, ms, _ := asker.Cluster.Members(); return "members: " + memberNames(ms) })
	// The two that remain still commit writes.
	if _, err := asker.Cluster.Apply(testCtx(t, 10*time.Second), createCmd(t, newNamespace("after-remove"))); err != nil {
		t.Fatalf("write after removing a master: %v", err)
	}
}

func memberNames(ms []Member) string {
	s := ""
	for _, m := range ms {
		s += m.Name + "(" + m.State + ") "
	}
	return s
}
