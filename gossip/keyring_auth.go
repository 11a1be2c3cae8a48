package gossip

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// MasterOrganization is the Organization of the certificates that may sign
// keyring commands: the masters' (pki.MasterOrganization).
const MasterOrganization = "orch:masters"

// commandWindow is how far a keyring command's issue time may be from the
// receiver's clock. Inside it the replay cache refuses a command seen before;
// outside it the command is refused as stale.
const commandWindow = 2 * time.Minute

// Signer signs the keyring commands a master sends: its TLS certificate
// chain (leaf first, DER), issued by the cluster CA with O=orch:masters, and
// the leaf's private key.
type Signer struct {
	Chain [][]byte
	Key   crypto.Signer
}

// keyCommand is one keyring command for one member. To names the receiver,
// so a command cannot be replayed to another member; ID and IssuedAt let
// the receiver refuse a replay to itself.
type keyCommand struct {
	ID       string `json:"id"`
	From     string `json:"from"`
	To       string `json:"to"`
	Op       string `json:"op"`
	Key      string `json:"key,omitempty"`
	IssuedAt int64  `json:"issuedAt"` // Unix nanoseconds
}

// signedCommand is a keyCommand as sent: its JSON exactly as signed, the
// signer's chain and the signature (SHA-256; Ed25519 signs the bytes).
type signedCommand struct {
	Command []byte   `json:"command"`
	Chain   [][]byte `json:"chain"`
	Sig     []byte   `json:"sig"`
}

// newCommandID returns a random command ID.
func newCommandID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("command id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// sign encodes and signs cmd.
func (s *Signer) sign(cmd keyCommand) ([]byte, error) {
	if s == nil || s.Key == nil || len(s.Chain) == 0 {
		return nil, errors.New("sign keyring command: this member has no master certificate")
	}
	raw, err := json.Marshal(cmd)
	if err != nil {
		return nil, fmt.Errorf("sign keyring command: %w", err)
	}
	var sig []byte
	if _, ok := s.Key.Public().(ed25519.PublicKey); ok {
		sig, err = s.Key.Sign(rand.Reader, raw, crypto.Hash(0))
	} else {
		sum := sha256.Sum256(raw)
		sig, err = s.Key.Sign(rand.Reader, sum[:], crypto.SHA256)
	}
	if err != nil {
		return nil, fmt.Errorf("sign keyring command: %w", err)
	}
	b, err := json.Marshal(signedCommand{Command: raw, Chain: s.Chain, Sig: sig})
	if err != nil {
		return nil, fmt.Errorf("sign keyring command: %w", err)
	}
	return b, nil
}

// verifyCommand checks that b was signed by a certificate that chains to
// roots and names O=orch:masters, and decodes the command. It checks
// neither the receiver nor the time: see replayCache.
func verifyCommand(roots *x509.CertPool, b []byte, now time.Time) (*keyCommand, error) {
	if roots == nil {
		return nil, errors.New("this member has no CA to verify keyring commands with")
	}
	var sc signedCommand
	if err := json.Unmarshal(b, &sc); err != nil {
		return nil, fmt.Errorf("decode keyring command: %w", err)
	}
	if len(sc.Chain) == 0 || len(sc.Chain) > 4 {
		return nil, fmt.Errorf("keyring command carries %d certificates, want 1 to 4", len(sc.Chain))
	}
	leaf, err := x509.ParseCertificate(sc.Chain[0])
	if err != nil {
		return nil, fmt.Errorf("keyring command certificate: %w", err)
	}
	inter := x509.NewCertPool()
	for _, der := range sc.Chain[1:] {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("keyring command certificate chain: %w", err)
		}
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		return nil, fmt.Errorf("keyring command certificate: %w", err)
	}
	if !slices.Contains(leaf.Subject.Organization, MasterOrganization) {
		return nil, fmt.Errorf("keyring command signed by %q, which is not a master (O=%s)", leaf.Subject.CommonName, MasterOrganization)
	}
	sum := sha256.Sum256(sc.Command)
	ok := false
	switch pub := leaf.PublicKey.(type) {
	case *ecdsa.PublicKey:
		ok = ecdsa.VerifyASN1(pub, sum[:], sc.Sig)
	case ed25519.PublicKey:
		ok = ed25519.Verify(pub, sc.Command, sc.Sig)
	case *rsa.PublicKey:
		ok = rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sc.Sig) == nil || rsa.VerifyPSS(pub, crypto.SHA256, sum[:], sc.Sig, nil) == nil
	default:
		return nil, fmt.Errorf("keyring command certificate has an unsupported %T key", pub)
	}
	if !ok {
		return nil, errors.New("keyring command signature does not verify")
	}
	var cmd keyCommand
	if err := json.Unmarshal(sc.Command, &cmd); err != nil {
		return nil, fmt.Errorf("decode keyring command: %w", err)
	}
	return &cmd, nil
}

// replayCache remembers the commands accepted within commandWindow.
type replayCache struct {
	mu   sync.Mutex
	seen map[string]time.Time // command ID -> when it may be forgotten
}

// admit refuses a command issued outside the window around now or seen
// before, and remembers it otherwise.
func (c *replayCache) admit(cmd *keyCommand, now time.Time) error {
	issued := time.Unix(0, cmd.IssuedAt)
	if d := now.Sub(issued); d > commandWindow || d < -commandWindow {
		return fmt.Errorf("keyring command issued at %s, more than %v from this member's clock", issued.UTC().Format(time.RFC3339), commandWindow)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]time.Time{}
	}
	for id, until := range c.seen {
		if now.After(until) {
			delete(c.seen, id)
		}
	}
	if _, ok := c.seen[cmd.ID]; ok {
		return fmt.Errorf("keyring command %s was already received (replay)", cmd.ID)
	}
	c.seen[cmd.ID] = issued.Add(2 * commandWindow)
	return nil
}
