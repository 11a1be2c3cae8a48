package agentserver

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// The agent's endpoint speaks TLS 1.2+ with ECDHE AEAD suites only.
func TestWeakTLSRefused(t *testing.T) {
	a := newTestAgent(t)
	for _, tc := range []struct {
		name   string
		max    uint16
		suites []uint16
		ok     bool
	}{
		{"CBC suites only", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256}, false},
		{"RSA key exchange with AES-GCM", tls.VersionTLS12, []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}, false},
		{"TLS 1.1", tls.VersionTLS11, nil, false},
		{"TLS 1.2 ECDHE AES-GCM", tls.VersionTLS12, []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256}, true},
		{"TLS 1.3", tls.VersionTLS13, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := pinnedTLS(a.s.CertSHA256())
			cfg.MinVersion, cfg.MaxVersion, cfg.CipherSuites = tls.VersionTLS10, tc.max, tc.suites
			cfg.Certificates = []tls.Certificate{a.certs[asMaster]} // the agent takes only masters
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", a.s.Addr(), cfg)
			if err == nil {
				err = conn.Handshake() // TLS 1.3: the server checks the client certificate after the client's handshake
				conn.Close()
			}
			if tc.ok != (err == nil) {
				t.Fatalf("handshake: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}
