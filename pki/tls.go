package pki

import "crypto/tls"

// CipherSuites returns the TLS 1.2 suites orch offers and accepts: ECDHE
// key exchange with an AEAD (AES-GCM, ChaCha20-Poly1305) only, the set of
// Mozilla's "intermediate" profile that Kubernetes' hardening guides
// recommend. TLS 1.3's suites are all AEAD and fixed by Go.
func CipherSuites() []uint16 {
	return []uint16{
		tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	}
}

// SecureTLSConfig returns the base of every TLS listener and dialer of
// orch: TLS 1.2 or newer, CipherSuites only.
func SecureTLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS12, CipherSuites: CipherSuites()}
}
