package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"orch.io/orch/api/client"
	"orch.io/orch/node/certificate"
)

// nodeCertificate sets up the node's client certificate when it has one in
// <state-dir>/pki or a bootstrap token to get one: it bootstraps if needed
// and points cfg at the certificate manager instead of the shared node
// token. It returns nil (and leaves cfg alone) for a node with neither.
func nodeCertificate(ctx context.Context, f *nodeFlags, cfg *client.Config, log *slog.Logger) (*certificate.Manager, error) {
	token, err := bootstrapToken(f)
	if err != nil {
		return nil, err
	}
	m, err := certificate.New(certificate.Config{NodeName: f.name, Dir: filepath.Join(f.stateDir, "pki"), Logger: log})
	if err != nil {
		return nil, err
	}
	if m.Current() == nil && token == "" {
		return nil, nil
	}
	if token != "" {
		bc := *cfg
		bc.Token, bc.UserAgent = token, cfg.UserAgent+" (bootstrap)"
		bcl, err := client.New(&bc)
		if err != nil {
			return nil, err
		}
		if err := m.Bootstrap(ctx, bcl); err != nil {
			return nil, fmt.Errorf("bootstrap the node's client certificate: %w", err)
		}
		bcl.CloseIdleConnections()
		m.SetBootstrapAPI(bcl)
	} else if !m.Valid() {
		return nil, fmt.Errorf("the node's client certificate in %s has expired and no --bootstrap-token was given", filepath.Join(f.stateDir, "pki"))
	}
	cfg.Token, cfg.GetClientCertificate = "", m.GetClientCertificate
	return m, nil
}

// discoveryCredential gives a client the node's credential as it stands:
// its bootstrapped certificate in --state-dir, else its offline-issued one,
// else the bootstrap token (enough to read the masters' membership).
func discoveryCredential(f *nodeFlags) func(*client.Config) {
	return func(cfg *client.Config) {
		stored := filepath.Join(f.stateDir, "pki", certificate.FileName)
		if _, err := tls.LoadX509KeyPair(stored, stored); err == nil {
			cfg.ClientCertificate, cfg.ClientKey = stored, stored
			return
		}
		if certFile, keyFile, err := nodeCredential(f); err == nil {
			cfg.ClientCertificate, cfg.ClientKey = certFile, keyFile
			return
		}
		token, _ := bootstrapToken(f)
		cfg.Token = token
	}
}

// bootstrapToken is --bootstrap-token, or the content of --bootstrap-token-file.
func bootstrapToken(f *nodeFlags) (string, error) {
	if f.bootstrapTokenFile == "" {
		return f.bootstrapToken, nil
	}
	raw, err := os.ReadFile(f.bootstrapTokenFile)
	if err != nil {
		return "", fmt.Errorf("--bootstrap-token-file: %w", err)
	}
	return strings.TrimSpace(string(raw)), nil
}
