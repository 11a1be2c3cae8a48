package harness

import (
	"context"
	"time"

	v1 "orch.io/orch/api/v1"
)

// CreateBootstrapToken creates a bootstrap token valid for ttl (0: no
// expiry), as `orchctl token create`, and returns it.
func (c *Cluster) CreateBootstrapToken(ttl time.Duration) string {
	c.t.Helper()
	tok, err := v1.GenerateBootstrapToken()
	if err != nil {
		c.t.Fatalf("bootstrap token: %v", err)
	}
	id, _, _ := v1.ParseBootstrapToken(tok)
	bt := &v1.BootstrapToken{ObjectMeta: v1.ObjectMeta{Name: id}, Spec: v1.BootstrapTokenSpec{SecretHash: v1.BootstrapTokenHash(tok)}}
	if ttl > 0 {
		exp := v1.NewTime(time.Now().Add(ttl))
		bt.Spec.Expiration = &exp
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.Client().Create(ctx, bt); err != nil {
		c.t.Fatalf("create bootstrap token: %v", err)
	}
	return tok
}

// StartBootstrapNode starts a node agent that gets its client certificate
// with a bootstrap token (`orchd node --bootstrap-token`) instead of using
// the shared node token.
func (c *Cluster) StartBootstrapNode(n *Net, name, token string, args ...string) *Node {
	c.t.Helper()
	return c.StartNode(n, name, append([]string{"--bootstrap-token", token}, args...)...)
}
