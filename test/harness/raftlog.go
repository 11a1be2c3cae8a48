package harness

import (
	"fmt"
	"time"

	"github.com/hashicorp/raft"

	"orch.io/orch/cluster"
)

// RaftLogTail is the last entry of a master's Raft log.
type RaftLogTail struct {
	Index, Term uint64
}

// openRaftLog opens the Raft log of a stopped master (raft-wal/ or
// raft.db), as orchd does (cluster.New).
func openRaftLog(m *Master) (cluster.RaftLog, error) {
	if m.Running() {
		return nil, fmt.Errorf("master %s is running: stop it before touching its raft log", m.Name)
	}
	s, err := cluster.OpenRaftLog(m.DataDir)
	if err != nil {
		return nil, fmt.Errorf("open the raft log of %s: %w", m.Name, err)
	}
	return s, nil
}

// RaftLogLast returns the index and term of the last entry in the Raft log
// of master i, which must be stopped.
func (c *Cluster) RaftLogLast(i int) (RaftLogTail, error) {
	s, err := openRaftLog(c.Masters[i])
	if err != nil {
		return RaftLogTail{}, err
	}
	defer s.Close()
	return raftLogLast(s)
}

func raftLogLast(s cluster.RaftLog) (RaftLogTail, error) {
	last, err := s.LastIndex()
	if err != nil {
		return RaftLogTail{}, fmt.Errorf("read last index: %w", err)
	}
	var l raft.Log
	if err := s.GetLog(last, &l); err != nil {
		return RaftLogTail{}, fmt.Errorf("read entry %d: %w", last, err)
	}
	return RaftLogTail{Index: last, Term: l.Term}, nil
}

// AppendRaftCommand appends data as a command entry to the Raft log of
// master i, which must be stopped: at the index after the last one, with the
// last entry's term, as the leader of that term would have written it. It
// returns the new entry's index. Appended identically to every master, the
// entry is committed by whichever master leads next, and applied by every
// master's FSM: a test's way to put in the log what an older or faulty
// proposer once wrote.
func (c *Cluster) AppendRaftCommand(i int, data []byte) (uint64, error) {
	s, err := openRaftLog(c.Masters[i])
	if err != nil {
		return 0, err
	}
	defer s.Close()
	tail, err := raftLogLast(s)
	if err != nil {
		return 0, err
	}
	l := &raft.Log{Index: tail.Index + 1, Term: tail.Term, Type: raft.LogCommand, Data: data, AppendedAt: time.Now()}
	if err := s.StoreLog(l); err != nil {
		return 0, fmt.Errorf("append entry %d to the raft log of %s: %w", l.Index, c.Masters[i].Name, err)
	}
	return l.Index, nil
}

// CatchUpRaftLogs makes the Raft logs of the stopped masters identical, as
// the leader's replication would have: the entries a master lacks at the
// end of its log are copied from the longest log. Masters stopped one after
// another may differ by the last entries the leader wrote after a follower
// stopped. The logs must agree where they overlap (same term at a lagging
// master's last index), or it fails. It returns the common last entry.
func (c *Cluster) CatchUpRaftLogs() (RaftLogTail, error) {
	tails := make([]RaftLogTail, len(c.Masters))
	longest := 0
	for i := range c.Masters {
		t, err := c.RaftLogLast(i)
		if err != nil {
			return RaftLogTail{}, err
		}
		tails[i] = t
		if t.Index > tails[longest].Index {
			longest = i
		}
	}
	src, err := openRaftLog(c.Masters[longest])
	if err != nil {
		return RaftLogTail{}, err
	}
	defer src.Close()
	for i := range c.Masters {
		if tails[i].Index == tails[longest].Index {
			if tails[i] != tails[longest] {
				return RaftLogTail{}, fmt.Errorf("the raft logs of %s and %s diverge: %+v and %+v", c.Masters[i].Name, c.Masters[longest].Name, tails[i], tails[longest])
			}
			continue
		}
		var at raft.Log
		if err := src.GetLog(tails[i].Index, &at); err != nil {
			return RaftLogTail{}, fmt.Errorf("read entry %d of %s: %w", tails[i].Index, c.Masters[longest].Name, err)
		}
		if at.Term != tails[i].Term {
			return RaftLogTail{}, fmt.Errorf("the raft logs of %s and %s diverge at %d: terms %d and %d", c.Masters[i].Name, c.Masters[longest].Name, at.Index, tails[i].Term, at.Term)
		}
		var missing []*raft.Log
		for idx := tails[i].Index + 1; idx <= tails[longest].Index; idx++ {
			l := new(raft.Log)
			if err := src.GetLog(idx, l); err != nil {
				return RaftLogTail{}, fmt.Errorf("read entry %d of %s: %w", idx, c.Masters[longest].Name, err)
			}
			missing = append(missing, l)
		}
		if err := c.storeRaftLogs(i, missing); err != nil {
			return RaftLogTail{}, err
		}
	}
	return tails[longest], nil
}

func (c *Cluster) storeRaftLogs(i int, logs []*raft.Log) error {
	s, err := openRaftLog(c.Masters[i])
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.StoreLogs(logs); err != nil {
		return fmt.Errorf("copy %d entries to the raft log of %s: %w", len(logs), c.Masters[i].Name, err)
	}
	return nil
}
