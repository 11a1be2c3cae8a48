package fsm

import (
	"crypto/sha256"
	"io"

	v1 "orch.io/orch/api/v1"
)

// WriteBackup writes a point-in-time backup of the store to w: the snapshot
// of one read transaction and the checksum trailer v1.ReadBackup checks.
func (s *Store) WriteBackup(w io.Writer) error {
	txn, index := s.read()
	h := sha256.New()
	if err := WriteSnapshot(txn, index, io.MultiWriter(w, h)); err != nil {
		return err
	}
	_, err := w.Write(v1.BackupTrailer(h.Sum(nil)))
	return err
}
