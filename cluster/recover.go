package cluster

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"orch.io/orch/fsm"
)

// Recover rewrites the Raft configuration kept in a stopped master's data
// directory to exactly peers (raft's RecoverCluster), so that survivors can
// elect a leader after the others are lost for good. It must run with every
// listed master stopped, on each of them, with the same peers; entries that
// only the lost masters held are gone, and a lost master must never return
// with its old data (wipe it and add it again with --join).
func Recover(dataDir, name string, peers []Peer, logger *slog.Logger) error {
	if len(peers) == 0 {
		return fmt.Errorf("recover: no peers given")
	}
	self := false
	var conf raft.Configuration
	for _, p := range peers {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr)})
		self = self || p.ID == name
	}
	if !self {
		return fmt.Errorf("recover: %s is not among the peers: a master recovers only a configuration it belongs to", name)
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{logger}})
	// The log store the data dir holds, whichever kind (none: bolt, as a
	// master would create).
	kind, err := dataDirLogStore(dataDir)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	store, err := openRaftStore(dataDir, kind)
	if err != nil {
		return fmt.Errorf("recover: %w", err)
	}
	defer store.Close()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dataDir, 3, hlog)
	if err != nil {
		return fmt.Errorf("recover: open snapshots: %w", err)
	}
	f, err := fsm.New(fsm.DefaultFeedSize)
	if err != nil {
		return err
	}
	_, trans := raft.NewInmemTransport(raft.ServerAddress(peers[0].RaftAddr))
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(name)
	rc.Logger = hlog
	if err := raft.RecoverCluster(rc, f, store, store, snaps, trans, conf); err != nil {
		return fmt.Errorf("recover %s: %w", dataDir, err)
	}
	return nil
}
