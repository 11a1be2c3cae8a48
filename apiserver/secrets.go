package apiserver

import (
	"context"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// SecretKeys encrypts and decrypts the values of Secrets (encryption.Keys).
// Secrets are stored sealed: the raft log, snapshots and backups hold only
// envelopes, and the FSM never sees a key. Admission, validation and every
// answer see the clear form.
type SecretKeys interface {
	// Seal replaces s's values with envelopes under the primary key;
	// old, the stored Secret s replaces (nil for a create), lends the
	// envelopes of values whose clear text did not change.
	Seal(ctx context.Context, s, old *v1.Secret) error
	// Open replaces the envelopes of s, a copy the caller owns, with
	// their clear text.
	Open(ctx context.Context, s *v1.Secret) error
}

// sealed returns the object to propose for obj: obj itself, or for a
// Secret a copy with its values sealed, so obj (which a create may
// validate again with another generated name) stays clear. old is the
// stored record obj replaces (nil: a create).
func (s *Server) sealed(ctx context.Context, obj v1.Object, old *fsm.Record) (v1.Object, error) {
	sec, ok := obj.(*v1.Secret)
	if !ok || s.cfg.Secrets == nil {
		return obj, nil
	}
	cp := *sec
	var prev *v1.Secret
	if old != nil {
		prev, _ = old.Object().(*v1.Secret)
	}
	if err := s.cfg.Secrets.Seal(ctx, &cp, prev); err != nil {
		return nil, v1.NewInternalError(err)
	}
	return &cp, nil
}

// reveal returns a stored record as clients see it: rec itself, or for a
// Secret a record of a copy with its values opened. A value that does not
// decrypt (its key was removed from the encryption configuration) is a
// 500 naming the Secret and the key, never the envelope.
func (s *Server) reveal(r v1.Resource, rec *fsm.Record) (*fsm.Record, error) {
	if r.Name != "secrets" || s.cfg.Secrets == nil || rec == nil {
		return rec, nil
	}
	sec, ok := rec.Object().(*v1.Secret)
	if !ok || len(sec.Data) == 0 {
		return rec, nil
	}
	cp := *sec
	// Decryption does no I/O: no request context is needed.
	if err := s.cfg.Secrets.Open(context.Background(), &cp); err != nil {
		return nil, v1.NewInternalError(err)
	}
	return fsm.NewRecord(&cp, nil), nil
}
