package sched

import (
	"context"

	v1 "orch.io/orch/api/v1"
)

// SecretCodec seals a Secret's values before a controller proposes it and
// opens them as read from the store, as the API server does for clients
// (encryption.Keys): no controller writes a value in clear into the raft
// log.
type SecretCodec interface {
	// Seal replaces s's values with their envelopes; old, if not nil, is
	// the stored Secret s replaces (unchanged values keep their
	// envelopes). s's maps are replaced, never changed.
	Seal(ctx context.Context, s, old *v1.Secret) error
	// Open replaces s's envelopes with their values; s's maps are
	// replaced, never changed, so s may be a shallow copy of a stored one.
	Open(ctx context.Context, s *v1.Secret) error
}

// ClearSecrets is the SecretCodec of a cluster without an encryption
// configuration: values stay as they are.
type ClearSecrets struct{}

// Seal implements SecretCodec.
func (ClearSecrets) Seal(context.Context, *v1.Secret, *v1.Secret) error { return nil }

// Open implements SecretCodec.
func (ClearSecrets) Open(context.Context, *v1.Secret) error { return nil }
