package cluster

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"orch.io/orch/pki"
)

// Masters know each other by name. Every connection between masters — the
// Raft transport and the internal endpoints (forwarded writes, ReadIndex,
// membership) — is mutual TLS where each side checks the other's
// certificate with checkPeer: a master certificate issued directly by the
// cluster CA (pki.VerifyMasterCertificate) whose name is a server of the
// latest Raft configuration. The side that dials knows whom it means to
// reach (the server at that Raft or API address) and accepts only that
// server's certificate, so a master's certificate presented at another
// master's address is refused too.

// peerCheck holds what checkPeer needs on one master: the CA and, once
// Raft runs, its configuration.
type peerCheck struct {
	roots *x509.CertPool
	raft  atomic.Pointer[raft.Raft]
	// verified remembers the master certificates that passed
	// pki.VerifyMasterCertificate, so the internal endpoints, called per
	// forwarded batch and per read barrier, check a chain once per
	// certificate rather than per request.
	verified verifiedCerts
}

// verifiedCerts is a small set of leaf certificates (by their DER bytes)
// that verified against the fixed roots, with the master name each
// carries. An entry is used only within its certificate's validity; the
// set is emptied when it reaches maxVerified, so a peer presenting many
// certificates costs memory no more than that.
type verifiedCerts struct {
	mu    sync.Mutex
	names map[string]string
}

// maxVerified bounds verifiedCerts: a cluster has a handful of masters,
// each with one certificate at a time (two around a renewal).
const maxVerified = 64

func (v *verifiedCerts) lookup(leaf *x509.Certificate, now time.Time) (string, bool) {
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return "", false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	name, ok := v.names[string(leaf.Raw)]
	return name, ok
}

func (v *verifiedCerts) add(leaf *x509.Certificate, name string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.names == nil || len(v.names) >= maxVerified {
		v.names = make(map[string]string)
	}
	v.names[string(leaf.Raw)] = name
}

// verifyMaster is pki.VerifyMasterCertificate through the cache.
func (p *peerCheck) verifyMaster(certs []*x509.Certificate) (string, error) {
	if len(certs) > 0 {
		if name, ok := p.verified.lookup(certs[0], time.Now()); ok {
			return name, nil
		}
	}
	name, err := pki.VerifyMasterCertificate(p.roots, certs)
	if err != nil {
		return "", err
	}
	p.verified.add(certs[0], name)
	return name, nil
}

// configuration is the latest Raft configuration (committed or not, so a
// server being added is in it as soon as the leader adds it); empty before
// Raft starts.
func (p *peerCheck) configuration() raft.Configuration {
	r := p.raft.Load()
	if r == nil {
		return raft.Configuration{}
	}
	f := r.GetConfiguration() // answered from an atomic copy, never blocks on Raft's loop
	if f.Error() != nil {
		return raft.Configuration{}
	}
	return f.Configuration()
}

// checkPeer verifies a peer's certificates and returns its name. want is
// the server ID a dialer means to reach ("" when accepting): the
// certificate must be that master's. An accepted peer must be a server of
// conf; a master whose configuration is empty — one started with --join
// that the leader has not reached yet, or one whose Raft is not started —
// accepts any master certificate, since it holds nothing yet and learns
// its configuration from the leader that dials it.
func checkPeer(verify func([]*x509.Certificate) (string, error), certs []*x509.Certificate, conf raft.Configuration, want string) (string, error) {
	name, err := verify(certs)
	if err != nil {
		return "", err
	}
	if want != "" {
		if name != want {
			return name, fmt.Errorf("the peer presented the certificate of master %q, not of %q", name, want)
		}
		return name, nil
	}
	if len(conf.Servers) == 0 {
		return name, nil
	}
	for _, s := range conf.Servers {
		if string(s.ID) == name {
			return name, nil
		}
	}
	return name, fmt.Errorf("master certificate %q names no server of the raft configuration", name)
}

// verifyAccepted checks a peer that connected to this master.
func (p *peerCheck) verifyAccepted(certs []*x509.Certificate) (string, error) {
	return checkPeer(p.verifyMaster, certs, p.configuration(), "")
}

// serverTLS is base for the Raft listener: a master certificate is
// required, and checked by verifyAccepted rather than by crypto/tls (which
// would accept intermediates the peer sends).
func (p *peerCheck) serverTLS(base *tls.Config) *tls.Config {
	c := base.Clone()
	c.ClientAuth = tls.RequireAnyClientCert
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		_, err := p.verifyAccepted(cs.PeerCertificates)
		return err
	}
	return c
}

// clientTLS is base for dialing master want: only want's certificate is
// accepted, whatever address it is reached at.
func (p *peerCheck) clientTLS(base *tls.Config, want string) *tls.Config {
	c := base.Clone()
	c.InsecureSkipVerify = true //nolint:gosec // VerifyConnection verifies the chain and the name.
	c.VerifyConnection = func(cs tls.ConnectionState) error {
		_, err := checkPeer(p.verifyMaster, cs.PeerCertificates, raft.Configuration{}, want)
		return err
	}
	return c
}

// serverAtRaftAddr names the server of the latest configuration at addr.
func (p *peerCheck) serverAtRaftAddr(addr string) (string, bool) {
	for _, s := range p.configuration().Servers {
		if string(s.Address) == addr {
			return string(s.ID), true
		}
	}
	return "", false
}

// masterAtAPIAddr names the server of the latest configuration whose API
// (as it registered it in the FSM) is at addr.
func (c *Cluster) masterAtAPIAddr(addr string) (string, bool) {
	for _, s := range c.peers.configuration().Servers {
		id := string(s.ID)
		if id == c.cfg.ID {
			if c.cfg.APIAddr == addr {
				return id, true
			}
			continue
		}
		if m, ok := c.Store().Master(id); ok && m.APIAddr == addr {
			return id, true
		}
	}
	return "", false
}

// dialMasterAPI dials the internal endpoint of the master at addr for the
// forwarding client and accepts only that master's certificate. Every
// failure before a request could be sent is a dial error (*net.OpError,
// Op "dial"), so callers know the request did not reach the leader.
func (c *Cluster) dialMasterAPI(ctx context.Context, network, addr string) (net.Conn, error) {
	dialErr := func(err error) error { return &net.OpError{Op: "dial", Net: network, Err: err} }
	want, ok := c.masterAtAPIAddr(addr)
	if !ok {
		return nil, dialErr(fmt.Errorf("no master of the raft configuration serves its API at %s", addr))
	}
	d := &net.Dialer{}
	raw, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	conn := tls.Client(raw, c.peers.clientTLS(c.cfg.ClientTLS, want))
	if err := conn.HandshakeContext(hctx); err != nil {
		raw.Close()
		return nil, dialErr(fmt.Errorf("TLS handshake with master %s at %s: %w", want, addr, err))
	}
	return conn, nil
}
