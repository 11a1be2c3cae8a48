package cluster

import (
	"fmt"

	"github.com/hashicorp/raft"
)

// Member describes one master as `cluster members` shows it.
type Member struct {
	Name     string `json:"name"`
	RaftAddr string `json:"raftAddr"`
	APIAddr  string `json:"apiAddr"`
	// State is leader, follower or unknown (as seen by the answering master).
	State string `json:"state"`
	Voter bool   `json:"voter"`
	// LastIndex and AppliedIndex are known for the answering master only;
	// AppliedIndex is the highest entry its store reflects (entries queued
	// for the FSM but not yet applied do not count).
	LastIndex    uint64 `json:"lastIndex"`
	AppliedIndex uint64 `json:"appliedIndex"`
}

// Members lists the Raft configuration joined with the registered addresses.
func (c *Cluster) Members() (leader string, out []Member, err error) {
	f := c.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return "", nil, fmt.Errorf("read raft configuration: %w", err)
	}
	leader, _ = c.Leader()
	store := c.Store()
	for _, s := range f.Configuration().Servers {
		m := Member{Name: string(s.ID), RaftAddr: string(s.Address), Voter: s.Suffrage == raft.Voter, State: "unknown"}
		if info, ok := store.Master(m.Name); ok {
			m.APIAddr = info.APIAddr
		}
		switch {
		case m.Name == leader:
			m.State = "leader"
		case leader != "":
			m.State = "follower"
		}
		if m.Name == c.cfg.ID {
			m.LastIndex = c.raft.LastIndex()
			m.AppliedIndex = c.fsm.AppliedIndex()
			if m.State == "unknown" {
				m.State = c.raft.State().String()
			}
		}
		out = append(out, m)
	}
	return leader, out, nil
}
