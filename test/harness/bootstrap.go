package harness

import (
	"context"
	"path/filepath"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/node/certificate"
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

// BootstrappedCertFile is the file (certificate and key) a node started
// with a bootstrap token keeps its current client certificate in.
func (nd *Node) BootstrappedCertFile() string {
	return filepath.Join(nd.StateDir, "pki", certificate.FileName)
}

// BootstrappedNodeClient returns an API client speaking as a node started
// with a bootstrap token, with the certificate it got through its CSR as
// it stands now (not the one `orchd pki issue node` left in its PKIDir).
func (c *Cluster) BootstrappedNodeClient(nd *Node) *client.Client {
	c.t.Helper()
	cfg := c.Config()
	cfg.Token = ""
	cfg.ClientCertificate, cfg.ClientKey = nd.BootstrappedCertFile(), nd.BootstrappedCertFile()
	cl, err := client.New(cfg)
	if err != nil {
		c.t.Fatalf("bootstrapped node client: %v", err)
	}
	c.t.Cleanup(cl.CloseIdleConnections)
	return cl
}
