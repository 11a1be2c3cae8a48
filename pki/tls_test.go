package pki

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// serveTLS accepts connections with cfg on loopback and completes their
// handshake until the test ends.
func serveTLS(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if err := c.(*tls.Conn).Handshake(); err == nil {
					// Lets the client see a refused client certificate.
					if _, err := c.Write([]byte{1}); err != nil {
						t.Logf("server write: %v", err)
					}
				} else {
					t.Logf("server: %v", err)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// handshake dials addr with cfg and reads one byte, so a refusal by the
// server after the client's side of the handshake shows too.
func handshake(addr string, cfg *tls.Config) (*tls.ConnectionState, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	// TLS 1.2 may hand over the byte with the close_notify's EOF.
	if n, err := c.Read(make([]byte, 1)); n != 1 {
		return nil, fmt.Errorf("read after the handshake: %w", err)
	}
	cs := c.ConnectionState()
	return &cs, nil
}

func TestListenersRefuseWeakTLS(t *testing.T) {
	dir := initDir(t)
	b, err := LoadMaster(dir, "m1")
	if err != nil {
		t.Fatal(err)
	}
	api, err := b.APIServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	peer, err := b.PeerServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	peerClient, err := b.PeerClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	client := func(max uint16, suites ...uint16) *tls.Config {
		c := peerClient.Clone()
		c.MinVersion, c.MaxVersion, c.CipherSuites = tls.VersionTLS10, max, suites
		return c
	}
	for _, srv := range []struct {
		name string
		cfg  *tls.Config
	}{{"api", api}, {"raft", peer}} {
		addr := serveTLS(t, srv.cfg)
		for _, tc := range []struct {
			name string
			cfg  *tls.Config
			ok   bool
		}{
			{"CBC suite only", client(tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA), false},
			{"CBC SHA256 suite only", client(tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256), false},
			{"TLS 1.1", client(tls.VersionTLS11), false},
			{"TLS 1.2 AES-GCM", client(tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256), true},
			{"TLS 1.2 ChaCha20-Poly1305", client(tls.VersionTLS12, tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256), true},
			{"TLS 1.3", client(tls.VersionTLS13), true},
		} {
			t.Run(srv.name+"/"+tc.name, func(t *testing.T) {
				cs, err := handshake(addr, tc.cfg)
				if tc.ok != (err == nil) {
					t.Fatalf("handshake err %v, want ok=%v", err, tc.ok)
				}
				if err == nil && cs.Version == tls.VersionTLS12 && !isAEAD(cs.CipherSuite) {
					t.Fatalf("negotiated %s", tls.CipherSuiteName(cs.CipherSuite))
				}
			})
		}
	}
}

func isAEAD(s uint16) bool {
	for _, c := range CipherSuites() {
		if c == s {
			return true
		}
	}
	return false
}

func TestRenewedCertificateServedWithoutRestart(t *testing.T) {
	dir := initDir(t)
	b, err := LoadMaster(dir, "m1")
	if err != nil {
		t.Fatal(err)
	}
	api, err := b.APIServerTLS()
	if err != nil {
		t.Fatal(err)
	}
	addr := serveTLS(t, api)
	client := &tls.Config{RootCAs: b.CAPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	served := func() string {
		t.Helper()
		cs, err := handshake(addr, client)
		if err != nil {
			t.Fatal(err)
		}
		return cs.PeerCertificates[0].SerialNumber.String()
	}
	before := served()
	if err := RenewMaster(dir, "m1", 0); err != nil {
		t.Fatal(err)
	}
	renewed := loadLeaf(t, dir, MasterCertFile("m1")).SerialNumber.String()
	if got := served(); got != renewed || got == before {
		t.Fatalf("after renewal the server presents serial %s, want the renewed %s (was %s)", got, renewed, before)
	}
	if b.Master.Leaf().SerialNumber.String() != renewed {
		t.Fatal("Leaf does not follow the renewal")
	}
	// A half-written or mismatched pair leaves the current one in use.
	certPath := filepath.Join(dir, MasterCertFile("m1"))
	good, err := os.ReadFile(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, good[:len(good)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != renewed {
		t.Fatalf("with a broken file the server presents %s, want the last good %s", got, renewed)
	}
	// The peer client side presents the renewed certificate as well.
	peerClient, err := b.PeerClientTLS()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certPath, good, 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := peerClient.GetClientCertificate(nil)
	if err != nil || cert.Leaf.SerialNumber.String() != renewed {
		t.Fatalf("client certificate %v, %v; want serial %s", cert, err, renewed)
	}
}

func TestExpiringWithin(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	list := []CertificateExpiry{{"master", now.Add(29 * 24 * time.Hour)}, {"ca", now.Add(31 * 24 * time.Hour)}, {"signer", now.Add(-time.Hour)}}
	got := expiringWithin(list, now, ExpiryWarnWithin)
	if len(got) != 2 || got[0].Certificate != "master" || got[1].Certificate != "signer" {
		t.Fatalf("expiring within 30 days: %v", got)
	}
	if got := expiringWithin(list[1:2], now, ExpiryWarnWithin); len(got) != 0 {
		t.Fatalf("%v", got)
	}
}

func TestExpiries(t *testing.T) {
	dir := initDir(t)
	b, err := LoadMaster(dir, "m1")
	if err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		var out []string
		for _, e := range b.Expiries() {
			if e.NotAfter.Before(time.Now()) {
				t.Fatalf("%s expired at %v", e.Certificate, e.NotAfter)
			}
			out = append(out, e.Certificate)
		}
		return out
	}
	if got := names(); len(got) != 2 || got[0] != "master" || got[1] != "ca" {
		t.Fatalf("expiries %v, want master, ca", got)
	}
	if err := IssueSigner(dir, 0); err != nil {
		t.Fatal(err)
	}
	if got := names(); len(got) != 3 || got[2] != "signer" {
		t.Fatalf("expiries %v, want master, ca, signer", got)
	}
	if err := RenewMaster(dir, "m1", time.Hour); err != nil {
		t.Fatal(err)
	}
	if d := time.Until(b.Expiries()[0].NotAfter); d > time.Hour {
		t.Fatalf("master expiry does not follow the renewal: %v", d)
	}
}
