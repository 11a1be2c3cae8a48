package sched

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// DefaultLegacyTokensResync is how often the legacy token controller looks
// at every service account token Secret without a change.
const DefaultLegacyTokensResync = 5 * time.Minute

// LegacyTokensConfig configures the legacy service account token
// controller.
type LegacyTokensConfig struct {
	// Store returns the current store (it is replaced on snapshot restore).
	Store func() *fsm.Store
	// Proposer commits the writes.
	Proposer Proposer
	// Sign issues a legacy token of an account for its Secret (a JWT that
	// never expires, naming the Secret).
	Sign func(sa *v1.ServiceAccount, secretName string) (string, error)
	// CAPEM is the cluster CA certificate, PEM-encoded, written as ca.crt.
	CAPEM []byte
	// Secrets opens the Secrets read from the store and seals those
	// written (nil: ClearSecrets).
	Secrets SecretCodec
	// Logger receives the controller's logs.
	Logger *slog.Logger
	// Now is the clock of deletions (default time.Now).
	Now func() time.Time
}

// LegacyTokensController fills, while this master leads, every Secret of
// type kubernetes.io/service-account-token, as Kubernetes' tokens
// controller: a Secret annotated with the name of an existing account
// gets token (IssueLegacy's JWT), ca.crt and namespace, and the account's
// uid annotation; a Secret whose account is missing, or has another uid
// than its annotation names, is deleted (with the account go its tokens).
// The Secrets are read from the store and written by compare-and-swap.
type LegacyTokensController struct {
	cfg LegacyTokensConfig
}

// NewLegacyTokensController returns the controller; Run starts it.
func NewLegacyTokensController(cfg LegacyTokensConfig) (*LegacyTokensController, error) {
	if cfg.Sign == nil || len(cfg.CAPEM) == 0 {
		return nil, fmt.Errorf("legacy token controller: a signer and the CA are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Secrets == nil {
		cfg.Secrets = ClearSecrets{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "legacy-tokens")
	return &LegacyTokensController{cfg: cfg}, nil
}

// Run keeps the Secrets until ctx ends: every one at start, when an
// account is written or deleted, and every DefaultLegacyTokensResync; the
// token Secrets among those written otherwise. (A pass over every Secret
// per Secret written would cost each write a walk of all of them.)
func (c *LegacyTokensController) Run(ctx context.Context) {
	runOnChanges(ctx, c.cfg.Store, follows{"serviceaccounts", "secrets"}, DefaultLegacyTokensResync, c.cfg.Logger, func(ctx context.Context, s *fsm.Store, ch changes) error {
		keys, all := tokenChanges(ch)
		switch {
		case all:
			return c.Pass(ctx, s)
		case len(keys) > 0:
			return c.PassOver(ctx, s, keys)
		}
		return nil
	})
}

// tokenChanges says what a pass must look at after ch: every Secret (all:
// the first pass, a resync, an account changed) or the token Secrets
// written (keys).
func tokenChanges(ch changes) (keys []string, all bool) {
	if ch.full || slices.ContainsFunc(ch.events, func(e fsm.Event) bool { return e.Resource == "serviceaccounts" }) {
		return nil, true
	}
	for _, e := range ch.events {
		if e.Resource == "secrets" && e.Type != v1.Deleted && isTokenSecret(e.Record) {
			keys = append(keys, e.Record.Key())
		}
	}
	return keys, false
}

// isTokenSecret reports whether rec holds a service account token Secret,
// from its summary (the Secret is not decoded).
func isTokenSecret(rec *fsm.Record) bool {
	return rec.Summary().SecretType == v1.SecretTypeServiceAccountToken
}

// PassOver is Pass over the Secrets of keys (namespace/name) only.
func (c *LegacyTokensController) PassOver(ctx context.Context, store *fsm.Store, keys []string) error {
	var secrets []*v1.Secret
	for _, k := range slices.Compact(slices.Sorted(slices.Values(keys))) {
		ns, name, _ := strings.Cut(k, "/")
		rec, err := store.Get("secrets", ns, name)
		if v1.IsNotFound(err) {
			continue // deleted meanwhile
		}
		if err != nil {
			return err
		}
		if s, ok := rec.Object().(*v1.Secret); ok {
			secrets = append(secrets, s)
		}
	}
	return c.sync(ctx, store, secrets)
}

// Pass fills or deletes, in one batch, every service account token Secret
// of store that needs it.
func (c *LegacyTokensController) Pass(ctx context.Context, store *fsm.Store) error {
	list, err := store.List("secrets", fsm.ListOptions{})
	if err != nil {
		return err
	}
	secrets := make([]*v1.Secret, 0, len(list.Items))
	for _, r := range list.Items {
		if s, ok := r.Object().(*v1.Secret); ok {
			secrets = append(secrets, s)
		}
	}
	return c.sync(ctx, store, secrets)
}

// sync fills or deletes, in one batch, the service account token Secrets
// among secrets that need it.
func (c *LegacyTokensController) sync(ctx context.Context, store *fsm.Store, secrets []*v1.Secret) error {
	var writes passWrites
	now := v1.NewTime(c.cfg.Now())
	for _, s := range secrets {
		if s.Type != v1.SecretTypeServiceAccountToken || s.DeletionTimestamp != nil {
			continue
		}
		cmd, err := c.write(ctx, store, s, now)
		if err != nil {
			return err
		}
		if cmd != nil {
			writes.add(cmd, v1.Key(s.Namespace, s.Name))
		}
	}
	return writes.propose(ctx, c.cfg.Proposer, c.cfg.Logger, "service account token secret write")
}

// write returns the command that makes s (as stored: sealed) right, or
// nil.
func (c *LegacyTokensController) write(ctx context.Context, store *fsm.Store, stored *v1.Secret, now v1.Time) ([]byte, error) {
	s := v1.DeepCopy(stored)
	if err := c.cfg.Secrets.Open(ctx, s); err != nil {
		return nil, fmt.Errorf("read secret %s/%s: %w", s.Namespace, s.Name, err)
	}
	name := s.Annotations[v1.ServiceAccountNameKey]
	var sa *v1.ServiceAccount
	rec, err := store.Get("serviceaccounts", s.Namespace, name)
	switch {
	case err == nil:
		sa, _ = rec.Object().(*v1.ServiceAccount)
	case !v1.IsNotFound(err):
		return nil, fmt.Errorf("look up service account %s/%s: %w", s.Namespace, name, err)
	}
	if uid := s.Annotations[v1.ServiceAccountUIDKey]; sa == nil || sa.DeletionTimestamp != nil || (uid != "" && uid != sa.UID) {
		c.cfg.Logger.Info("deleting the token secret of a missing service account", "secret", v1.Key(s.Namespace, s.Name), "serviceAccount", name)
		return fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "secrets", Namespace: s.Namespace, Name: s.Name,
			UID: s.UID, ResourceVersion: s.ResourceVersion, Now: now})
	}
	needToken := len(s.Data[v1.ServiceAccountTokenKey]) == 0
	if !needToken && bytes.Equal(s.Data[v1.ServiceAccountRootCAKey], c.cfg.CAPEM) &&
		string(s.Data[v1.ServiceAccountNamespaceKey]) == s.Namespace && s.Annotations[v1.ServiceAccountUIDKey] == sa.UID {
		return nil, nil
	}
	next := v1.DeepCopy(s) // keeps the resourceVersion: a compare-and-swap
	next.Data = maps.Clone(s.Data)
	if next.Data == nil {
		next.Data = map[string][]byte{}
	}
	next.Annotations = maps.Clone(s.Annotations)
	next.Annotations[v1.ServiceAccountUIDKey] = sa.UID
	next.Data[v1.ServiceAccountRootCAKey] = c.cfg.CAPEM
	next.Data[v1.ServiceAccountNamespaceKey] = []byte(s.Namespace)
	if needToken {
		tok, err := c.cfg.Sign(sa, s.Name)
		if err != nil {
			return nil, fmt.Errorf("sign the token of secret %s/%s: %w", s.Namespace, s.Name, err)
		}
		next.Data[v1.ServiceAccountTokenKey] = []byte(tok)
	}
	if err := c.cfg.Secrets.Seal(ctx, next, stored); err != nil {
		return nil, err
	}
	return fsm.NewUpdate(next, false)
}
