package sched

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"log/slog"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// How long the CSR cleaner keeps requests (Kubernetes' csrcleaner).
const (
	csrApprovedExpiration = time.Hour
	csrDeniedExpiration   = time.Hour
	csrFailedExpiration   = time.Hour
	csrPendingExpiration  = 24 * time.Hour
)

// CSRCleaningConfig configures the CSR cleaner.
type CSRCleaningConfig struct {
	Store    func() *fsm.Store
	Proposer Proposer
	// Interval is the pause between passes (default one minute).
	Interval time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
}

// CSRCleaner deletes, while this master leads, the certificate signing
// requests that are done with, as Kubernetes' csrcleaner: approved,
// denied or failed for an hour, pending for a day, or whose certificate
// has expired. Every renewal of every node leaves one; without the cleaner
// they would pile up in the store for good.
type CSRCleaner struct {
	cfg CSRCleaningConfig
}

// NewCSRCleaner returns a cleaner; Run starts it.
func NewCSRCleaner(cfg CSRCleaningConfig) *CSRCleaner {
	if cfg.Interval <= 0 {
		cfg.Interval = time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cfg.Logger = cfg.Logger.With("subsystem", "csrcleaner")
	return &CSRCleaner{cfg: cfg}
}

// Run cleans every Interval until ctx ends.
func (c *CSRCleaner) Run(ctx context.Context) {
	runOnChanges(ctx, c.cfg.Store, follows{}, c.cfg.Interval, c.cfg.Logger, func(ctx context.Context, s *fsm.Store, ch changes) error {
		if !ch.full {
			return nil // time, not changes, makes a request stale
		}
		return c.Pass(ctx, s)
	})
}

// Pass deletes the stale requests of store in one batch.
func (c *CSRCleaner) Pass(ctx context.Context, store *fsm.Store) error {
	res, err := store.List("certificatesigningrequests", fsm.ListOptions{})
	if err != nil {
		return err
	}
	now := c.cfg.Now()
	var items []fsm.BatchItem
	var names []string
	for _, r := range res.Items {
		csr := r.Object().(*v1.CertificateSigningRequest)
		if !CSRStale(csr, now) {
			continue
		}
		cmd, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "certificatesigningrequests", Name: csr.Name,
			UID: csr.UID, ResourceVersion: csr.ResourceVersion, Now: v1.NewTime(now)})
		if err != nil {
			return err
		}
		items = append(items, batchItem(cmd))
		names = append(names, csr.Name)
	}
	if len(items) == 0 {
		return nil
	}
	cmd, err := fsm.Encode(fsm.BatchCommand, fsm.BatchRequest{Items: items})
	if err != nil {
		return err
	}
	if _, err := c.cfg.Proposer.Apply(ctx, cmd); err != nil {
		return fmt.Errorf("delete stale certificate signing requests: %w", err)
	}
	c.cfg.Logger.Info("deleted stale certificate signing requests", "csrs", names)
	return nil
}

// CSRStale reports whether the cleaner deletes csr at now.
func CSRStale(csr *v1.CertificateSigningRequest, now time.Time) bool {
	for _, cond := range csr.Status.Conditions {
		if cond.Status != v1.ConditionTrue {
			continue
		}
		at := cond.LastUpdateTime.Time
		if at.IsZero() {
			at = csr.CreationTimestamp.Time
		}
		switch cond.Type {
		case v1.CertificateApproved:
			if now.Sub(at) >= csrApprovedExpiration {
				return true
			}
		case v1.CertificateDenied:
			if now.Sub(at) >= csrDeniedExpiration {
				return true
			}
		case v1.CertificateFailed:
			if now.Sub(at) >= csrFailedExpiration {
				return true
			}
		}
	}
	if len(csr.Status.Conditions) == 0 && now.Sub(csr.CreationTimestamp.Time) >= csrPendingExpiration {
		return true
	}
	if block, _ := pem.Decode(csr.Status.Certificate); block != nil {
		if cert, err := x509.ParseCertificate(block.Bytes); err == nil && !now.Before(cert.NotAfter) {
			return true
		}
	}
	return false
}
