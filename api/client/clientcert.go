package client

import (
	"crypto/tls"
	"errors"
	"fmt"
)

// clientCertificate returns the tls.Config GetClientCertificate for cfg:
// nil when cfg names no client certificate (no certificate is sent).
// Certificates given as data are parsed once; certificates given as paths
// are read for each new connection, so a renewal written in place takes
// effect without a restart.
func clientCertificate(cfg *Config) (func(*tls.CertificateRequestInfo) (*tls.Certificate, error), error) {
	switch {
	case cfg.GetClientCertificate != nil:
		return cfg.GetClientCertificate, nil
	case len(cfg.ClientCertificateData) > 0 || len(cfg.ClientKeyData) > 0:
		c, err := tls.X509KeyPair(cfg.ClientCertificateData, cfg.ClientKeyData)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &c, nil }, nil
	case cfg.ClientCertificate != "" || cfg.ClientKey != "":
		if cfg.ClientCertificate == "" || cfg.ClientKey == "" {
			return nil, errors.New("client certificate: clientCertificate and clientKey go together")
		}
		certFile, keyFile := cfg.ClientCertificate, cfg.ClientKey
		if _, err := tls.LoadX509KeyPair(certFile, keyFile); err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			c, err := tls.LoadX509KeyPair(certFile, keyFile)
			if err != nil {
				return nil, fmt.Errorf("client certificate: %w", err)
			}
			return &c, nil
		}, nil
	}
	return nil, nil
}
