package cluster

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// TestFollowerCatchesUpAfterRejectedAppends: a follower whose disk fills
// for a moment, again and again, while the leader writes, rejects the
// appends in flight to it (Success=false); each time space returns it must
// catch up. With raft's pipelined replication such a rejection could wedge
// the leader's replication to that follower for good (hashicorp/raft#612):
// heartbeats still went out, so there was no election to heal it, but no
// entry ever did.
func TestFollowerCatchesUpAfterRejectedAppends(t *testing.T) {
	g := NewTestGroup(t, 3, TestOptions{})
	leader := g.WaitLeader(t)
	f := g.Followers(leader)[0]
	disk := newFakeDisk(f)

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ctx.Err() == nil; i++ {
				actx, acancel := context.WithTimeout(ctx, 5*time.Second)
				leader.Apply(actx, createCmd(t, newNamespace(fmt.Sprintf("w%d-%d", w, i))))
				acancel()
			}
		}()
	}

	for round := range 30 {
		disk.fill()
		time.Sleep(time.Duration(5+rand.IntN(25)) * time.Millisecond)
		disk.release()
		target := leader.raft.LastIndex()
		waitFor(t, 5*time.Second, func() bool { return f.raft.LastIndex() >= target },
			func() string {
				return fmt.Sprintf("round %d: %s catches up to index %d after its disk emptied (at %d)", round, f.ID(), target, f.raft.LastIndex())
			})
	}
}

// TestRaftTransportDoesNotPipeline: raft's pipelined replication can wedge
// (see above), so the transport declines it and raft replicates with one
// AppendEntries at a time.
func TestRaftTransportDoesNotPipeline(t *testing.T) {
	g := NewTestGroup(t, 1, TestOptions{})
	m := g.Members[0]
	p, err := m.trans.AppendEntriesPipeline("m2", raft.ServerAddress(m.cfg.RaftAddr))
	if p != nil {
		p.Close()
	}
	if !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatalf("AppendEntriesPipeline = %v, want raft.ErrPipelineReplicationNotSupported", err)
	}
}
