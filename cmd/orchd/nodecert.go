package main

import (
	"context"
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
	token := f.bootstrapToken
	if f.bootstrapTokenFile != "" {
		raw, err := os.ReadFile(f.bootstrapTokenFile)
		if err != nil {
			return nil, fmt.Errorf("--bootstrap-token-file: %w", err)
		}
		token = strings.TrimSpace(string(raw))
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
