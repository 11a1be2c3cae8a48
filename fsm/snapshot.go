package fsm

import (
	"bufio"
	"encoding/json"
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
// of the last command applied to what txn reads. The lines are those a
// json.Encoder writes for snapshotHeader and snapshotLine values; an
// object whose stored bytes encoding/json would write as they are (almost
// all: see Record.compactJSON) has its line written without encoding/json,
// which would scan and copy every byte of it.
func WriteSnapshot(txn *memdb.Txn, index uint64, w io.Writer) error {
	sw := newSnapshotWriter(w)
	sw.buf = appendSnapshotHeader(sw.buf, index)
	for _, r := range v1.Resources() {
		it, err := txn.Get(r.Name, indexID)
		if err != nil {
			return fmt.Errorf("snapshot %s: %w", r.Name, err)
		}
		prefix := resourcePrefix(r.Name)
		for raw := it.Next(); raw != nil; raw = it.Next() {
			if err := sw.object(prefix, r.Name, raw.(*Record)); err != nil {
				return err
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
		if err := sw.encode(snapshotLine{Resource: tableMasters, Object: b}); err != nil {
			return err
		}
	}
	return sw.flush()
}

// restoreInto loads a snapshot into an empty store and returns its index.
func restoreInto(s *Store, r io.Reader) (uint64, error) {
	lr := &lineReader{br: bufio.NewReaderSize(r, 1<<16)}
	line, err := lr.next()
	index, ok := readHeaderLine(line)
	if err != nil || !ok {
		return decodeSnapshot(s, lr.rest(line, err))
	}
	txn := s.db.Txn(true)
	defer txn.Abort()
	if err := (&restorer{s: s, txn: txn}).restoreLines(lr); err != nil {
		return 0, err
	}
	txn.Commit()
	s.publish(index)
	return index, nil
}

// decodeSnapshot loads a snapshot into an empty store with a json.Decoder
// and returns its index.
func decodeSnapshot(s *Store, r io.Reader) (uint64, error) {
	dec := json.NewDecoder(r)
	var h snapshotHeader
	if err := dec.Decode(&h); err != nil {
		return 0, fmt.Errorf("read header: %w", err)
	}
	if h.Version != snapshotVersion {
		return 0, fmt.Errorf("snapshot version %d, want %d", h.Version, snapshotVersion)
	}
	txn := s.db.Txn(true)
	defer txn.Abort()
	if err := (&restorer{s: s, txn: txn}).decodeRest(dec); err != nil {
		return 0, err
	}
	txn.Commit()
	s.publish(h.Index)
	return h.Index, nil
}
