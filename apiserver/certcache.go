package apiserver

import (
	"crypto/sha256"
	"net/http"
	"sync"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
)

// certCacheTTL bounds how long a verified client certificate chain is
// trusted without verifying it again (never past the leaf's NotAfter).
const certCacheTTL = time.Minute

// maxCachedCerts bounds the cache; when full it starts again empty.
const maxCachedCerts = 4096

// certAuthCache remembers, per presented certificate chain, the identity
// the client certificate authenticator verified, so a connection's
// requests do not each pay a signature verification (Kubernetes' x509
// authenticator verifies on every request: about a seventh of a create's
// CPU on these machines). Only successes are kept, each until the sooner
// of certCacheTTL and the leaf's expiry; the roots never change while the
// master runs, so a chain that verified once verifies again until then.
type certAuthCache struct {
	next    authenticator.Request
	now     func() time.Time
	mu      sync.Mutex
	entries map[[sha256.Size]byte]certAuthEntry
}

type certAuthEntry struct {
	resp  authenticator.Response
	until time.Time
}

func newCertAuthCache(next authenticator.Request, now func() time.Time) *certAuthCache {
	return &certAuthCache{next: next, now: now, entries: map[[sha256.Size]byte]certAuthEntry{}}
}

// AuthenticateRequest implements authenticator.Request.
func (c *certAuthCache) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return c.next.AuthenticateRequest(r)
	}
	h := sha256.New()
	for _, cert := range r.TLS.PeerCertificates {
		h.Write(cert.Raw)
	}
	var key [sha256.Size]byte
	h.Sum(key[:0])
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[key]
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		resp := e.resp // a copy: callers replace its User
		return &resp, true, nil
	}
	resp, ok, err := c.next.AuthenticateRequest(r)
	if err != nil || !ok {
		return resp, ok, err
	}
	until := now.Add(certCacheTTL)
	if na := r.TLS.PeerCertificates[0].NotAfter; na.Before(until) {
		until = na
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedCerts {
		clear(c.entries)
	}
	c.entries[key] = certAuthEntry{resp: *resp, until: until}
	c.mu.Unlock()
	return resp, true, nil
}
