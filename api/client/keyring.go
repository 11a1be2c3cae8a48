package client

import (
	"context"
	"fmt"
	"net/http"

	v1 "orch.io/orch/api/v1"
)

// GossipKeyring lists the gossip keys and how many members hold each
// (GET /orch/v1/gossip/keyring; admin only).
func (c *Client) GossipKeyring(ctx context.Context) (*v1.GossipKeyringResponse, error) {
	var res v1.GossipKeyringResponse
	if err := c.call(ctx, &request{method: http.MethodGet, path: "/orch/v1/gossip/keyring"}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// ChangeGossipKeyring installs, uses (makes primary) or removes a gossip key
// (base64) on every member of the pool: op is v1.KeyringInstall,
// v1.KeyringUse or v1.KeyringRemove. The answer says which members failed
// or did not answer.
func (c *Client) ChangeGossipKeyring(ctx context.Context, op, key string) (*v1.GossipKeyringResponse, error) {
	switch op {
	case v1.KeyringInstall, v1.KeyringUse, v1.KeyringRemove:
	default:
		return nil, fmt.Errorf("gossip keyring: unknown operation %q", op)
	}
	var res v1.GossipKeyringResponse
	body := encodeJSON(v1.GossipKeyringRequest{Key: key})
	if err := c.call(ctx, &request{method: http.MethodPost, path: "/orch/v1/gossip/keyring/" + op, body: body}, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
