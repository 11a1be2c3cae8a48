package pki

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"path/filepath"
	"time"
)

// ExpiryWarnWithin is how close to its expiry a certificate gets a warning.
const ExpiryWarnWithin = 30 * 24 * time.Hour

// ExpiryWarnEvery is how often a master checks its certificates' expiry.
const ExpiryWarnEvery = 24 * time.Hour

// CertificateExpiry is when one of a master's certificates expires.
type CertificateExpiry struct {
	// Certificate is "master", "ca" or "signer".
	Certificate string
	NotAfter    time.Time
}

// Expiries returns the expiry of the certificates the bundle's master uses:
// its own (as currently loaded, so a renewal shows), the CA's and, when
// signer.crt is in the directory, the signer's.
func (b *Bundle) Expiries() []CertificateExpiry {
	var out []CertificateExpiry
	if b.Master != nil {
		out = append(out, CertificateExpiry{"master", b.Master.Leaf().NotAfter})
	}
	if blk, _ := pem.Decode(b.CAPEM); blk != nil {
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			out = append(out, CertificateExpiry{"ca", c.NotAfter})
		}
	}
	if c, err := readCert(filepath.Join(b.Dir, SignerCert)); err == nil {
		out = append(out, CertificateExpiry{"signer", c.NotAfter})
	}
	return out
}

// expiringWithin returns those of list that expire before now+within.
func expiringWithin(list []CertificateExpiry, now time.Time, within time.Duration) []CertificateExpiry {
	var out []CertificateExpiry
	for _, e := range list {
		if e.NotAfter.Before(now.Add(within)) {
			out = append(out, e)
		}
	}
	return out
}

// WarnExpiring logs a warning for each certificate of b that expires
// within the given time, at once and then every period, until ctx ends.
func WarnExpiring(ctx context.Context, log *slog.Logger, b *Bundle, within, every time.Duration) {
	log = log.With("subsystem", "pki")
	check := func() {
		now := time.Now()
		for _, e := range expiringWithin(b.Expiries(), now, within) {
			log.Warn("certificate expires soon: renew it (orchd pki renew master NAME where the CA key is kept)",
				"certificate", e.Certificate, "notAfter", e.NotAfter.UTC().Format(time.RFC3339),
				"expiresIn", e.NotAfter.Sub(now).Round(time.Minute).String())
		}
	}
	check()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			check()
		}
	}
}
