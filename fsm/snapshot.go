package fsm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"
	"github.com/hashicorp/raft"

	v1 "orch.io/orch/api/v1"
)

// snapshotVersion is the format of a persisted snapshot.
const snapshotVersion = v1.BackupVersion

// snapshotHeader is the first line of a snapshot.
type snapshotHeader struct {
	Version int    `json:"version"`
	Index   uint64 `json:"index"`
}

// snapshotLine is every other line: one object or one master. Key, UID and
// Node repeat the object's index fields so a restore needs no decode.
type snapshotLine struct {
	Resource string          `json:"r"`
	Key      string          `json:"k,omitempty"`
	UID      string          `json:"u,omitempty"`
	Node     string          `json:"n,omitempty"`
	Object   json.RawMessage `json:"o"`
}

type snapshot struct {
	txn   *memdb.Txn
	index uint64 // of the last command applied to what txn reads
}

// Persist writes the snapshot as JSON lines: a header, then every object.
func (s *snapshot) Persist(sink raft.SnapshotSink) error {
	if err := WriteSnapshot(s.txn, s.index, sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *snapshot) Release() {}

// WriteSnapshot writes every object visible in txn to w, with index: that
// of the last command applied to what txn reads.
func WriteSnapshot(txn *memdb.Txn, index uint64, w io.Writer) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	if err := enc.Encode(snapshotHeader{Version: snapshotVersion, Index: index}); err != nil {
		return fmt.Errorf("write snapshot header: %w", err)
	}
	for _, r := range v1.Resources() {
		it, err := txn.Get(r.Name, indexID)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", r.Name, err)
		}
		for raw := it.Next(); raw != nil; raw = it.Next() {
			rec := raw.(*Record)
			b, err := rec.JSON()
			if err != nil {
				return fmt.Errorf("snapshot %s: %w", r.Name, err)
			}
			line := snapshotLine{Resource: r.Name, Key: rec.Key(), UID: rec.UID(), Node: rec.NodeName(), Object: b}
			if err := enc.Encode(line); err != nil {
				return fmt.Errorf("write snapshot: %w", err)
			}
		}
	}
	it, err := txn.Get(tableMasters, indexID)
	if err != nil {
		return fmt.Errorf("snapshot masters: %w", err)
	}
	for raw := it.Next(); raw != nil; raw = it.Next() {
		b, err := json.Marshal(raw.(*MasterInfo))
		if err != nil {
			return err
		}
		if err := enc.Encode(snapshotLine{Resource: tableMasters, Object: b}); err != nil {
			return fmt.Errorf("write snapshot: %w", err)
		}
	}
	return bw.Flush()
}

// restoreInto loads a snapshot into an empty store and returns its index.
func restoreInto(s *Store, r io.Reader) (uint64, error) {
	dec := json.NewDecoder(bufio.NewReaderSize(r, 1<<16))
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return 0, fmt.Errorf("read header: %w", err)
	}
	if h.Version != snapshotVersion {
		return 0, fmt.Errorf("snapshot version %d, want %d", h.Version, snapshotVersion)
	}
	txn := s.db.Txn(true)
	defer txn.Abort()
	for {
		var line snapshotLine
		err := dec.Decode(&line)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("read object: %w", err)
		}
		if line.Resource == tableMasters {
			var m MasterInfo
			if err := json.Unmarshal(line.Object, &m); err != nil {
				return 0, fmt.Errorf("decode master: %w", err)
			}
			if err := txn.Insert(tableMasters, &m); err != nil {
				return 0, err
			}
			continue
		}
		res, ok := v1.ResourceByName(line.Resource)
		if !ok {
			return 0, fmt.Errorf("unknown resource %q in snapshot", line.Resource)
		}
		var rec *Record
		if line.Key != "" {
			rec = newKeyedRecord(res, line.Object, line.Key, line.UID, line.Node)
		} else {
			obj := res.New()
			if err := json.Unmarshal(line.Object, obj); err != nil {
				return 0, fmt.Errorf("decode %s: %w", res.Kind, err)
			}
			rec = NewRecord(obj, line.Object)
		}
		if err := txn.Insert(res.Name, rec); err != nil {
			return 0, fmt.Errorf("insert %s: %w", res.Kind, err)
		}
		if uid := rec.UID(); uid != "" {
			// The store is not in use yet: no reader waits for the commit.
			s.uids.m[rowKey{res.Name, uid}] = rec
		}
	}
	txn.Commit()
	s.publish(h.Index)
	return h.Index, nil
}
