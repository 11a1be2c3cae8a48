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
	"crypto/subtle"

	v1 "orch.io/orch/api/v1"
)

// Identities a bootstrap token authenticates as (Kubernetes' names).
const (
	// UserPrefix prefixes the user of a token: system:bootstrap:<id>.
	UserPrefix = "system:bootstrap:"
	// Group is the group of every bootstrap token's user.
	Group = "system:bootstrappers"
)

// matches reports, in constant time, whether token hashes to stored.
func matches(token, stored string) bool {
	return subtle.ConstantTimeCompare([]byte(v1.BootstrapTokenHash(token)), []byte(stored)) == 1
}
