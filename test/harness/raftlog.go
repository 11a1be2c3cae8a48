package harness

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// RaftLogTail is the last entry of a master's Raft log.
type RaftLogTail struct {
	Index, Term uint64
}

// openRaftLog opens the raft.db of a stopped master, as orchd does
// (cluster.New); it fails instead of waiting if the master still holds it.
func openRaftLog(m *Master) (*raftboltdb.BoltStore, error) {
	if m.Running() {
		return nil, fmt.Errorf("master %s is running: stop it before touching its raft log", m.Name)
	}
	path := filepath.Join(m.DataDir, "raft.db")
	s, err := raftboltdb.New(raftboltdb.Options{Path: path, BoltOptions: &bbolt.Options{Timeout: 5 * time.Second}})
	if err != nil {
		return nil, fmt.Errorf("open raft log %s: %w", path, err)
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

func raftLogLast(s *raftboltdb.BoltStore) (RaftLogTail, error) {
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
