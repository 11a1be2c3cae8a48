// Package encryption encrypts Secrets at rest, as Kubernetes' API server
// does with an EncryptionConfiguration (--encryption-provider-config).
//
// The API server seals a Secret before it proposes it: each value of data
// becomes an envelope with Kubernetes' prefix (k8s:enc:aesgcm:v1:<key>:
// followed by the nonce and the ciphertext, or k8s:enc:secretbox:v1:<key>:),
// made by k8s.io/apiserver's own transformers, so the raft log, the
// snapshots and every backup hold only envelopes, while the Secret type,
// its managedFields, tables and every generic path stay as they are. The
// FSM never sees a key: it stores the envelopes as it stores any bytes.
// Every read that answers a client opens the values again.
//
// The keys live in the EncryptionConfiguration file in the master's PKI
// directory (FileName), which `orchd pki init` writes with one AES-GCM key
// and identity last; every master holds the same file. Keys reloads the
// file when it changes, so rotation (add a key everywhere, make it
// primary, rewrite every Secret, retire the old key) needs no restart.
package encryption
