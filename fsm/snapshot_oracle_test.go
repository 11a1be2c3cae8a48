package fsm

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	memdb "github.com/hashicorp/go-memdb"

	v1 "orch.io/orch/api/v1"
)

// The snapshot writer and reader as they were before the fast paths
// (commit 19e8fc8): the oracles the equivalence tests compare the current
// ones with. They are kept as they were, only renamed.

// oldWriteSnapshot is WriteSnapshot through a json.Encoder.
func oldWriteSnapshot(txn *memdb.Txn, index uint64, w io.Writer) error {
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

// oldRestoreInto is restoreInto through a json.Decoder.
func oldRestoreInto(s *Store, r io.Reader) (uint64, error) {
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
