package cluster

import (
	"fmt"
	"os"

	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// seedFromBackup writes a backup into the snapshot store as the Raft
// snapshot a new cluster starts from: at the backup's index, term 1, with
// the initial cluster as its configuration. Every master of the new cluster
// seeds the same file, so they start identical and the objects keep their
// resourceVersions (the new log continues after the backup's index).
func seedFromBackup(snaps raft.SnapshotStore, trans raft.Transport, cfg Config) (uint64, error) {
	if len(cfg.InitialCluster) == 0 {
		return 0, fmt.Errorf("restore %s: an initial cluster is required", cfg.RestoreFrom)
	}
	f, err := os.Open(cfg.RestoreFrom)
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	info, body, err := v1.ReadBackup(f)
	if err != nil {
		return 0, fmt.Errorf("restore %s: %w", cfg.RestoreFrom, err)
	}
	var conf raft.Configuration
	for _, p := range cfg.InitialCluster {
		conf.Servers = append(conf.Servers, raft.Server{Suffrage: raft.Voter, ID: raft.ServerID(p.ID), Address: raft.ServerAddress(p.RaftAddr)})
	}
	sink, err := snaps.Create(raft.SnapshotVersionMax, info.Index, 1, conf, 1, trans)
	if err != nil {
		return 0, fmt.Errorf("restore %s: create snapshot: %w", cfg.RestoreFrom, err)
	}
	if _, err := sink.Write(body); err != nil {
		sink.Cancel()
		return 0, fmt.Errorf("restore %s: write snapshot: %w", cfg.RestoreFrom, err)
	}
	if err := sink.Close(); err != nil {
		return 0, fmt.Errorf("restore %s: %w", cfg.RestoreFrom, err)
	}
	return info.Index, nil
}
