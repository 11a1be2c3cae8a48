package main

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"orch.io/orch/api/client"
	"orch.io/orch/gossip"
	"orch.io/orch/pki"
)

// membershipReader reads the masters' Raft membership through the API for
// gossip.MasterDiscovery. Each read uses a new client with the node's
// credential of the moment (cred), which changes from the bootstrap token
// to the node's certificate, and then with each renewal.
func membershipReader(nb *pki.NodeBundle, name string, cred func(*client.Config)) gossip.MembershipFunc {
	return func(ctx context.Context, servers []string) ([]gossip.ConfirmedMaster, error) {
		cfg := &client.Config{Servers: servers, CertificateAuthorityData: nb.CACertPEM,
			UserAgent: "orch-node/" + name, FailoverRounds: 1}
		cred(cfg)
		c, err := client.New(cfg)
		if err != nil {
			return nil, err
		}
		defer c.CloseIdleConnections()
		m, err := c.Members(ctx)
		if err != nil {
			return nil, err
		}
		out := make([]gossip.ConfirmedMaster, 0, len(m.Members))
		for _, mb := range m.Members {
			out = append(out, gossip.ConfirmedMaster{Name: mb.Name, APIAddr: mb.APIAddr})
		}
		return out, nil
	}
}

// waitForMasters waits until gossip names at least one master API that the
// masters' membership confirms.
func waitForMasters(ctx context.Context, d *gossip.MasterDiscovery) ([]string, error) {
	deadline := time.Now().Add(time.Minute)
	var lastErr error
	for {
		apis, err := d.MasterAPIs(ctx, nil)
		if len(apis) > 0 {
			return apis, nil
		}
		if err != nil {
			lastErr = err
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("no confirmed master found in the gossip pool within a minute (last error: %v)", lastErr)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// followMasters keeps the client's master list equal to the confirmed
// masters gossip sees alive.
func followMasters(ctx context.Context, d *gossip.MasterDiscovery, cl *client.Client, log *slog.Logger) {
	tick := time.NewTicker(2 * time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		apis, err := d.MasterAPIs(ctx, cl.Servers())
		if err != nil {
			log.Warn("master list from gossip", "err", err)
			continue
		}
		if len(apis) == 0 {
			continue
		}
		before := cl.Servers()
		if err := cl.SetServers(apis); err != nil {
			log.Warn("master list from gossip", "err", err)
			continue
		}
		if after := cl.Servers(); !slices.Equal(before, after) {
			log.Info("masters from gossip", "servers", after)
		}
	}
}

// gossipSigner is the master's keyring command signer: its certificate.
func gossipSigner(b *pki.Bundle) (*gossip.Signer, error) {
	if b.Master == nil {
		return nil, errors.New("gossip keyring: the master certificate is missing")
	}
	// The certificate as loaded at start: a renewal is signed with from the
	// next restart (the old one stays valid until it expires).
	cur := b.Master.Current()
	key, ok := cur.PrivateKey.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("gossip keyring: the master key (%T) cannot sign", cur.PrivateKey)
	}
	return &gossip.Signer{Chain: cur.Certificate, Key: key}, nil
}
