package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"
)

// KeyID is Kubernetes' kid of a public key: the unpadded base64url of the
// SHA-256 of its DER (PKIX) encoding.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("key id: %w", err)
	}
	sum := sha256.Sum256(der)
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// Signer issues tokens with one ECDSA P-256 key (ES256).
type Signer struct {
	issuer string
	signer jose.Signer
}

// NewSigner returns a signer of tokens with issuer iss.
func NewSigner(key *ecdsa.PrivateKey, issuer string) (*Signer, error) {
	if key == nil || key.Curve != elliptic.P256() {
		return nil, errors.New("service account signer: the key must be ECDSA P-256 (ES256)")
	}
	kid, err := KeyID(key.Public())
	if err != nil {
		return nil, err
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}},
		(&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("service account signer: %w", err)
	}
	return &Signer{issuer: issuer, signer: s}, nil
}

// Issue signs a token of b for audiences, valid from now for lifetime.
func (s *Signer) Issue(b Binding, audiences []string, now time.Time, lifetime time.Duration) (string, error) {
	if b.ServiceAccount == nil {
		return "", errors.New("issue token: no service account")
	}
	pub, priv := claims(s.issuer, b, audiences, now, lifetime, uuid.NewString())
	tok, err := jwt.Signed(s.signer).Claims(pub).Claims(priv).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}

// verifier checks signatures with every accepted public key.
type verifier struct {
	keys map[string]crypto.PublicKey // by kid
}

func newVerifier(keys []crypto.PublicKey) (*verifier, error) {
	v := &verifier{keys: map[string]crypto.PublicKey{}}
	for _, k := range keys {
		switch k.(type) {
		case *ecdsa.PublicKey:
		default:
			return nil, fmt.Errorf("service account keys: a %T is not an ECDSA public key", k)
		}
		kid, err := KeyID(k)
		if err != nil {
			return nil, err
		}
		v.keys[kid] = k
	}
	if len(v.keys) == 0 {
		return nil, errors.New("service account keys: no public key")
	}
	return v, nil
}

// verify checks the token's signature and returns its claims.
func (v *verifier) verify(tok *jwt.JSONWebToken) (*jwt.Claims, *privateClaims, error) {
	return verifyClaims[privateClaims](v, tok)
}

// verifyClaims checks the token's signature and returns its registered
// claims and its private claims P. A kid names the key; a token without
// one is tried with every key, as Kubernetes.
func verifyClaims[P any](v *verifier, tok *jwt.JSONWebToken) (*jwt.Claims, *P, error) {
	var keys []crypto.PublicKey
	kid := ""
	if len(tok.Headers) == 1 {
		kid = tok.Headers[0].KeyID
	}
	if k, ok := v.keys[kid]; ok {
		keys = []crypto.PublicKey{k}
	} else if kid == "" {
		for _, k := range v.keys {
			keys = append(keys, k)
		}
	}
	for _, k := range keys {
		pub, priv := &jwt.Claims{}, new(P)
		if err := tok.Claims(k, pub, priv); err == nil {
			return pub, priv, nil
		}
	}
	return nil, nil, errors.New("service account token could not be verified by any known key")
}
