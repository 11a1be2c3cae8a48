package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	wal "github.com/hashicorp/raft-wal"
	"github.com/hashicorp/raft-wal/metadb"
)

// The Raft log store: raft-boltdb (the default, in raft.db) or raft-wal
// (segment files and a small meta database in raft-wal/), the store
// Consul offers beside bolt. Both keep the log and raft's stable store
// (term, vote) and make a batch of entries durable before StoreLogs
// returns; bolt does it by a transaction commit, which writes the
// entries' B+tree pages, syncs, writes the meta page and syncs again,
// raft-wal by appending the batch to a preallocated segment and syncing
// it once. BenchmarkLogStore measures both: at 64 entries of ~1 KiB per
// batch bolt spends about four times the CPU and the allocations.
//
// A data dir holds one kind, chosen when it is first used: a master is
// refused a store kind its data dir does not hold, rather than start
// empty beside its log (there is no conversion between them).
//
// The full-disk handling (disk.go) was shown on bolt (TestBoltOnFullDisk,
// the e2e disk-full tests); raft-wal's errors pass through the same watch.

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

// validLogStore checks a Config.LogStore value ("" is the default, bolt).
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

// openRaftStore opens the log store of kind ("" is bolt) in dir, refusing
// a dir that holds the other kind.
func openRaftStore(dir, kind string) (raftStore, error) {
	if err := validLogStore(kind); err != nil {
		return nil, err
	}
	if kind == "" {
		kind = LogStoreBoltDB
	}
	has, err := dataDirLogStore(dir)
	if err != nil {
		return nil, err
	}
	if has != "" && has != kind {
		return nil, fmt.Errorf("data dir %s holds a %s raft log, not %s: start the master with the log store it was created with", dir, has, kind)
	}
	if kind == LogStoreWAL {
		path := filepath.Join(dir, walDir)
		if err := os.MkdirAll(path, 0o700); err != nil {
			return nil, fmt.Errorf("create raft log dir %s: %w", path, err)
		}
		meta := &metadb.BoltMetaDB{}
		s, err := wal.Open(path, wal.WithMetaStore(meta))
		if err != nil {
			meta.Close()
			return nil, fmt.Errorf("open raft log %s: %w", path, err)
		}
		return walStore{WAL: s, meta: meta}, nil
	}
	path := filepath.Join(dir, boltFile)
	s, err := raftboltdb.New(raftboltdb.Options{Path: path})
	if err != nil {
		return nil, fmt.Errorf("open raft log %s: %w", path, err)
	}
	return s, nil
}

// walStore is a raft-wal log store that closes its meta database too:
// raft-wal's Close leaves it open, and with it bolt's lock on the file, so
// the data dir could not be opened again in the same process (a Recover
// after a stop, the tests).
type walStore struct {
	*wal.WAL
	meta *metadb.BoltMetaDB
}

// Close closes the log, then its meta database.
func (s walStore) Close() error {
	return errors.Join(s.WAL.Close(), s.meta.Close())
}
