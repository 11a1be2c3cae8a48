package v1

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
)

// The format of bootstrap tokens, as kubeadm's, and the hash a
// BootstrapToken stores of one (see apiserver/bootstrap for why a hash).

// bootstrapTokenRE is kubeadm's BootstrapTokenPattern.
var bootstrapTokenRE = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

const tokenAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// GenerateBootstrapToken returns a new random token "<id>.<secret>".
func GenerateBootstrapToken() (string, error) {
	b := make([]byte, 22)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate bootstrap token: %w", err)
	}
	// Rejection sampling: 252 is the largest multiple of 36 below 256, so
	// every character is equally likely.
	out := make([]byte, 0, 23)
	for len(out) < 22 {
		for _, c := range b {
			if c < 252 && len(out) < 22 {
				out = append(out, tokenAlphabet[int(c)%len(tokenAlphabet)])
			}
		}
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("generate bootstrap token: %w", err)
		}
	}
	return string(out[:6]) + "." + string(out[6:]), nil
}

// ParseBootstrapToken splits a token into its id and secret, or fails if it is not of
// the form "<6 of [a-z0-9]>.<16 of [a-z0-9]>".
func ParseBootstrapToken(token string) (id, secret string, err error) {
	m := bootstrapTokenRE.FindStringSubmatch(token)
	if m == nil {
		return "", "", fmt.Errorf("the bootstrap token does not match %s", bootstrapTokenRE)
	}
	return m[1], m[2], nil
}

// BootstrapTokenHash returns what a BootstrapToken stores of a token.
func BootstrapTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}
