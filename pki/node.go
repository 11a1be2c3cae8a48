package pki

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

// Node identities, as Kubernetes': a node's user is system:node:<name> in
// the group system:nodes.
const (
	NodeUserPrefix = "system:node:"
	NodesGroup     = "system:nodes"
)

// DefaultNodeValidity is how long IssueNode's certificates are valid.
const DefaultNodeValidity = 365 * 24 * time.Hour

// nodeName is a DNS-1123 subdomain, what a Node's name must be.
var nodeName = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// IssueNodeOptions says what IssueNode makes.
type IssueNodeOptions struct {
	// Dir is the PKI directory holding the cluster CA and gossip.key.
	Dir string
	// Name is the node's name.
	Name string
	// Out receives the node's files; it is created (0700) if missing.
	Out string
	// Validity of the certificate (0: DefaultNodeValidity).
	Validity time.Duration
}

// IssueNode issues a node's client certificate (CN=system:node:<name>,
// O=system:nodes) with the cluster CA's key, and writes into opts.Out all
// a node's --pki-dir needs: node.crt, node.key, ca.crt and gossip.key.
func IssueNode(opts IssueNodeOptions, now time.Time) error {
	if len(opts.Name) > 253 || !nodeName.MatchString(opts.Name) {
		return fmt.Errorf("issue node certificate: %q is not a valid node name (a DNS subdomain: lower-case letters, digits, '-' and '.')", opts.Name)
	}
	if opts.Out == "" {
		return errors.New("issue node certificate: an output directory is required")
	}
	if opts.Validity == 0 {
		opts.Validity = DefaultNodeValidity
	}
	ca, err := LoadClusterCA(opts.Dir)
	if err != nil {
		return fmt.Errorf("issue node certificate: %w", err)
	}
	gossip, err := os.ReadFile(filepath.Join(opts.Dir, GossipKey))
	if err != nil {
		return fmt.Errorf("issue node certificate: %w", err)
	}
	certPEM, keyPEM, err := ca.NewClientKeyPair(ClientCertificate{CommonName: NodeUserPrefix + opts.Name,
		Organizations: []string{NodesGroup}, Validity: opts.Validity}, now)
	if err != nil {
		return fmt.Errorf("issue node certificate: %w", err)
	}
	if err := os.MkdirAll(opts.Out, 0o700); err != nil {
		return fmt.Errorf("issue node certificate: %w", err)
	}
	// The key first, the certificate last: a reader that finds node.crt
	// finds its key.
	for _, f := range []struct {
		name string
		b    []byte
	}{{NodeKey, keyPEM}, {CACert, ca.CertPEM}, {GossipKey, gossip}, {NodeCert, certPEM}} {
		if err := writeFileAtomic(filepath.Join(opts.Out, f.name), f.b); err != nil {
			return fmt.Errorf("issue node certificate: %w", err)
		}
	}
	return nil
}
