package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
)

// The Raft log store: raft-wal (the default for a new data dir: segment
// files and a small meta database in raft-wal/, walstore.go) or
// raft-boltdb (raft.db), the stores Consul offers. Both keep the log and
// raft's stable store (term, vote) and make a batch of entries durable
// before StoreLogs returns; bolt does it by a transaction commit, which
// writes the entries' B+tree pages, syncs, writes the meta page and syncs
// again, raft-wal by appending the batch to a preallocated segment and
// syncing it once. BenchmarkLogStore measures both: at 64 entries of
// ~1 KiB per batch bolt spends about four times the CPU and the
// allocations.
//
// A data dir holds one kind, chosen when it is first used, and keeps it:
// a master started without a kind uses the one its data dir holds (bolt
// for the data dirs of earlier orch), and one started with a kind its
// data dir does not hold is refused rather than start empty beside its
// log (there is no conversion between them).
//
// Both handle a full disk (disk.go, walstore.go): TestBoltOnFullDisk and
// TestWALOnFullDisk on a real full file system, the e2e and chaos
// disk-full tests through orchd.

// Log store kinds (Config.LogStore).
const (
	LogStoreBoltDB = "boltdb"
	LogStoreWAL    = "wal"
)

const (
	boltFile = "raft.db"
	walDir   = "raft-wal"
)

// raftStore is a log store that is also raft's stable store.
type raftStore interface {
	raft.LogStore
	raft.StableStore
	Close() error
}

// RaftLog is a data dir's Raft log store (also raft's stable store).
type RaftLog = raftStore

// OpenRaftLog opens the Raft log a stopped master's data dir holds, of
// whichever kind, as the master would; for tools and tests. The master
// must not be running: the store's lock would block the open.
func OpenRaftLog(dataDir string) (RaftLog, error) {
	kind, err := dataDirLogStore(dataDir)
	if err != nil {
		return nil, err
	}
	if kind == "" {
		return nil, fmt.Errorf("data dir %s holds no raft log", dataDir)
	}
	return openRaftStore(dataDir, kind)
}

// validLogStore checks a Config.LogStore value ("": the data dir's, else
// raft-wal).
func validLogStore(kind string) error {
	switch kind {
	case "", LogStoreBoltDB, LogStoreWAL:
		return nil
	}
	return fmt.Errorf("cluster config: unknown log store %q (want %q or %q)", kind, LogStoreBoltDB, LogStoreWAL)
}

// dataDirLogStore is the kind of log store dir already holds ("" if none).
func dataDirLogStore(dir string) (string, error) {
	var kinds []string
	for kind, name := range map[string]string{LogStoreBoltDB: boltFile, LogStoreWAL: walDir} {
		_, err := os.Stat(filepath.Join(dir, name))
		switch {
		case err == nil:
			kinds = append(kinds, kind)
		case !errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("look for the raft log in %s: %w", dir, err)
		}
	}
	switch len(kinds) {
	case 0:
		return "", nil
	case 1:
		return kinds[0], nil
	}
	return "", fmt.Errorf("data dir %s holds both %s and %s/: which is the raft log is unclear", dir, boltFile, walDir)
}

// openRaftStore opens the log store of kind in dir, refusing a dir that
// holds the other kind. Kind "" is the kind dir holds, or raft-wal for a
// dir without a log.
func openRaftStore(dir, kind string) (raftStore, error) {
	if err := validLogStore(kind); err != nil {
		return nil, err
	}
	has, err := dataDirLogStore(dir)
	if err != nil {
		return nil, err
	}
	switch {
	case kind == "" && has != "":
		kind = has
	case kind == "":
		kind = LogStoreWAL
	case has != "" && has != kind:
		return nil, fmt.Errorf("data dir %s holds a %s raft log, not %s: start the master with the log store it was created with", dir, has, kind)
	}
	if kind == LogStoreWAL {
		s, err := openWAL(filepath.Join(dir, walDir))
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	path := filepath.Join(dir, boltFile)
	s, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		return nil, fmt.Errorf("open raft log %s: %w", path, err)
	}
	return s, nil
}
