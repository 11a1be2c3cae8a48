// Package bootstrap authenticates kubeadm-style bootstrap tokens and holds
// the interim rules of what bootstrapping identities may do.
//
// A token is "<id>.<secret>": 6 and 16 characters of [a-z0-9], as
// kubeadm's. Kubernetes keeps tokens in Secrets of type
// bootstrap.kubernetes.io/token in kube-system, secret in plain text. orch
// has no Secrets, and everything an API object holds goes into the Raft log
// and every snapshot on every master, so a token is stored as a
// cluster-scoped BootstrapToken (bootstrap.orch.io/v1) named by its id that
// holds only "sha256:" and the SHA-256 of the whole token: `orchctl token
// create` makes the token on the admin's machine and sends the hash, so the
// secret never reaches a master at all. A fast hash is enough: the secret
// is 16 random characters of 36 (82 bits), out of reach of a brute force
// even at billions of guesses a second, and a slow hash would cost every
// bootstrap request. Expiry is enforced when the token is presented; an
// expired token is refused (as Kubernetes', it is not deleted by the
// authenticator; `orchctl token delete` removes it).
package bootstrap

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"regexp"
)

// Identities a bootstrap token authenticates as (Kubernetes' names).
const (
	// UserPrefix prefixes the user of a token: system:bootstrap:<id>.
	UserPrefix = "system:bootstrap:"
	// Group is the group of every bootstrap token's user.
	Group = "system:bootstrappers"
)

// tokenRE is kubeadm's BootstrapTokenPattern.
var tokenRE = regexp.MustCompile(`^([a-z0-9]{6})\.([a-z0-9]{16})$`)

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// Generate returns a new random token "<id>.<secret>".
func Generate() (string, error) {
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
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
		if _, err := rand.Read(b); err != nil {
			return "", fmt.Errorf("generate bootstrap token: %w", err)
		}
	}
	return string(out[:6]) + "." + string(out[6:]), nil
}

// Parse splits a token into its id and secret, or fails if it is not of
// the form "<6 of [a-z0-9]>.<16 of [a-z0-9]>".
func Parse(token string) (id, secret string, err error) {
	m := tokenRE.FindStringSubmatch(token)
	if m == nil {
		return "", "", fmt.Errorf("the bootstrap token does not match %s", tokenRE)
	}
	return m[1], m[2], nil
}

// Hash returns what a BootstrapToken stores of a token.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// matches reports, in constant time, whether token hashes to stored.
func matches(token, stored string) bool {
	return subtle.ConstantTimeCompare([]byte(Hash(token)), []byte(stored)) == 1
}
