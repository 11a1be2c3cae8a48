package encryption

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
	"k8s.io/apiserver/pkg/storage/value"
	aestransformer "k8s.io/apiserver/pkg/storage/value/encrypt/aes"
	"k8s.io/apiserver/pkg/storage/value/encrypt/identity"
	"k8s.io/apiserver/pkg/storage/value/encrypt/secretbox"

	v1 "orch.io/orch/api/v1"
)

// envelopePrefix starts every encrypted value: k8s:enc:<provider>:v1:<key>:.
const envelopePrefix = "k8s:enc:"

// Keys encrypts and decrypts Secret values with the transformers of an
// EncryptionConfiguration file. It is safe for concurrent use; Reload
// swaps in a changed file while requests run.
type Keys struct {
	path string
	log  *slog.Logger

	mu      sync.Mutex // serialises Reload
	state   atomic.Pointer[keyState]
	reloads atomic.Uint64
	failed  atomic.Uint64
}

// keyState is one loaded file.
type keyState struct {
	hash        string
	transformer value.Transformer
	// primary is the provider and key new values are encrypted with
	// ("identity" and "" when they are stored in clear).
	primaryProvider, primaryKey string
	// keys names every key the file holds, by provider ("aesgcm/key1").
	keys map[string]bool
}

// Load reads the EncryptionConfiguration file at path. A file that does
// not decode, names a provider orch does not support (kms) or a resource
// other than secrets, or has no entry for secrets is refused.
func Load(path string, log *slog.Logger) (*Keys, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	k := &Keys{path: path, log: log}
	st, err := loadState(path)
	if err != nil {
		return nil, err
	}
	k.state.Store(st)
	return k, nil
}

// loadState builds the transformers of the file at path. They are
// k8s.io/apiserver's own (value.NewPrefixTransformers over aes, secretbox
// and identity), with kube-apiserver's prefixes (k8s:enc:aesgcm:v1:<key>:),
// built as its encryptionconfig loader builds them. (That loader itself
// also brings KMS, CEL and tracing into the binary, which orch does not
// offer, so this file repeats its few lines for the local providers.)
func loadState(path string) (*keyState, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the encryption configuration: %w", err)
	}
	cfg, err := decode(b)
	if err != nil {
		return nil, fmt.Errorf("encryption configuration %s: %w", path, err)
	}
	st, err := newState(cfg)
	if err != nil {
		return nil, fmt.Errorf("encryption configuration %s: %w", path, err)
	}
	st.hash = contentHash(b)
	return st, nil
}

// contentHash identifies a file's content without keeping its keys.
func contentHash(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

// newState builds the transformer of the providers for secrets, refusing
// what orch would accept and ignore: resources other than secrets, KMS
// providers, and anything kube-apiserver refuses (no providers, a provider
// without keys, unnamed or repeated keys, keys of the wrong size).
func newState(cfg *apiserverv1.EncryptionConfiguration) (*keyState, error) {
	for i, rc := range cfg.Resources {
		for j, r := range rc.Resources {
			if r != Resource {
				return nil, fmt.Errorf("resources[%d].resources[%d]: Unsupported value: %q: orch encrypts secrets only", i, j, r)
			}
		}
	}
	rc, err := secretsConfig(cfg)
	if err != nil {
		return nil, err
	}
	if len(rc.Providers) == 0 {
		return nil, errors.New("resources[0].providers: Required value: at least one provider is required")
	}
	st := &keyState{keys: map[string]bool{}}
	var pts []value.PrefixTransformer
	for i := range rc.Providers {
		p := &rc.Providers[i]
		path := fmt.Sprintf("providers[%d]", i)
		set := 0
		for _, on := range []bool{p.AESGCM != nil, p.AESCBC != nil, p.Secretbox != nil, p.Identity != nil, p.KMS != nil} {
			if on {
				set++
			}
		}
		if set != 1 {
			return nil, fmt.Errorf("%s: Invalid value: exactly one provider must be set", path)
		}
		if p.KMS != nil {
			return nil, fmt.Errorf("%s.kms: Unsupported value: orch supports aesgcm, aescbc, secretbox and identity", path)
		}
		if p.Identity != nil {
			pts = append(pts, value.PrefixTransformer{Transformer: identity.NewEncryptCheckTransformer()})
			if i == 0 {
				st.primaryProvider = "identity"
			}
			continue
		}
		keys, name := providerKeys(p)
		if len(*keys) == 0 {
			return nil, fmt.Errorf("%s.%s.keys: Required value: at least one key is required", path, name)
		}
		for j, k := range *keys {
			kpath := fmt.Sprintf("%s.%s.keys[%d]", path, name, j)
			if k.Name == "" {
				return nil, fmt.Errorf("%s.name: Required value", kpath)
			}
			if st.keys[name+"/"+k.Name] {
				return nil, fmt.Errorf("%s.name: Duplicate value: %q", kpath, k.Name)
			}
			st.keys[name+"/"+k.Name] = true
			pt, err := keyTransformer(name, k)
			if err != nil {
				return nil, fmt.Errorf("%s.secret: Invalid value: %w", kpath, err)
			}
			pts = append(pts, pt)
		}
		if i == 0 {
			st.primaryProvider, st.primaryKey = name, (*keys)[0].Name
		}
	}
	st.transformer = value.NewPrefixTransformers(errors.New("no matching prefix found"), pts...)
	return st, nil
}

// keyTransformer is one key's transformer with its prefix
// (k8s:enc:<provider>:v1:<name>:).
func keyTransformer(provider string, k apiserverv1.Key) (value.PrefixTransformer, error) {
	secret, err := base64.StdEncoding.DecodeString(k.Secret)
	if err != nil {
		return value.PrefixTransformer{}, fmt.Errorf("key %q is not base64: %w", k.Name, err)
	}
	prefix := []byte(envelopePrefix + provider + ":v1:" + k.Name + ":")
	switch provider {
	case "secretbox":
		if len(secret) != 32 {
			return value.PrefixTransformer{}, fmt.Errorf("key %q is %d bytes; secretbox needs 32", k.Name, len(secret))
		}
		var key [32]byte
		copy(key[:], secret)
		return value.PrefixTransformer{Transformer: secretbox.NewSecretboxTransformer(key), Prefix: prefix}, nil
	}
	block, err := aes.NewCipher(secret)
	if err != nil {
		return value.PrefixTransformer{}, fmt.Errorf("key %q: %w (16, 24 or 32 bytes)", k.Name, err)
	}
	if provider == "aescbc" {
		return value.PrefixTransformer{Transformer: aestransformer.NewCBCTransformer(block), Prefix: prefix}, nil
	}
	t, err := aestransformer.NewGCMTransformer(block)
	if err != nil {
		return value.PrefixTransformer{}, fmt.Errorf("key %q: %w", k.Name, err)
	}
	return value.PrefixTransformer{Transformer: t, Prefix: prefix}, nil
}

// Reload loads the file again if its content changed; a file that does
// not load leaves the keys as they were and is reported.
func (k *Keys) Reload(ctx context.Context) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b, err := os.ReadFile(k.path)
	if err != nil {
		k.failed.Add(1)
		return false, fmt.Errorf("read the encryption configuration: %w", err)
	}
	if contentHash(b) == k.state.Load().hash {
		return false, nil
	}
	st, err := loadState(k.path)
	if err != nil {
		k.failed.Add(1)
		return false, err
	}
	k.state.Store(st)
	k.reloads.Add(1)
	return true, nil
}

// Run reloads the file every interval until ctx ends, as kube-apiserver
// reloads --encryption-provider-config (it polls every minute).
func (k *Keys) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		changed, err := k.Reload(ctx)
		switch {
		case err != nil:
			k.log.Error("reload the encryption configuration; the keys stay as they were", "path", k.path, "err", err)
		case changed:
			st := k.state.Load()
			k.log.Info("reloaded the encryption configuration", "path", k.path, "provider", st.primaryProvider, "key", st.primaryKey)
		}
	}
}

// Primary returns the provider and key new values are encrypted with
// ("identity", "" when they are stored in clear).
func (k *Keys) Primary() (provider, key string) {
	st := k.state.Load()
	return st.primaryProvider, st.primaryKey
}

// Reloads returns how many reloads changed the keys and how many failed.
func (k *Keys) Reloads() (ok, failed uint64) { return k.reloads.Load(), k.failed.Load() }

// LastAppliedAnnotation is kubectl's copy of the applied object: for a
// Secret it holds every value, so it is sealed as the values are.
const LastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// dataContext is the authenticated data of one value: where it is
// stored, so a value copied into another Secret or key does not decrypt.
func dataContext(s *v1.Secret, field string) value.Context {
	return value.DefaultContext("/secrets/" + s.Namespace + "/" + s.Name + "/" + field)
}

// annotationField names the sealed annotation in dataContext and errors.
const annotationField = "metadata.annotations[" + LastAppliedAnnotation + "]"

// Seal replaces each value of s.Data, and kubectl's last-applied
// annotation, with its envelope under the primary key (the annotation,
// a string, holds the envelope in base64). old, if not nil, is the stored
// (sealed) Secret s replaces: a value whose clear text is unchanged keeps
// its envelope, unless that envelope is not the primary key's (a rewrite
// re-encrypts it). s must carry its final namespace and name; its maps are
// replaced, never changed, so s may be a shallow copy.
func (k *Keys) Seal(ctx context.Context, s, old *v1.Secret) error {
	t := k.state.Load().transformer
	if old != nil && (old.Namespace != s.Namespace || old.Name != s.Name) {
		old = nil
	}
	seal := func(field string, clear, prev []byte, hasPrev bool) ([]byte, error) {
		dc := dataContext(s, field)
		if hasPrev {
			if pt, stale, err := t.TransformFromStorage(ctx, prev, dc); err == nil && !stale && bytes.Equal(pt, clear) {
				return prev, nil
			}
		}
		env, err := t.TransformToStorage(ctx, clear, dc)
		if err != nil {
			return nil, fmt.Errorf("encrypt secret %s/%s %s: %w", s.Namespace, s.Name, field, err)
		}
		return env, nil
	}
	if len(s.Data) > 0 {
		out := make(map[string][]byte, len(s.Data))
		for key, clear := range s.Data {
			var prev []byte
			hasPrev := false
			if old != nil {
				prev, hasPrev = old.Data[key]
			}
			env, err := seal(key, clear, prev, hasPrev)
			if err != nil {
				return err
			}
			out[key] = env
		}
		s.Data = out
	}
	if a, ok := s.Annotations[LastAppliedAnnotation]; ok {
		var prev []byte
		hasPrev := false
		if old != nil {
			if p, ok := old.Annotations[LastAppliedAnnotation]; ok {
				prev, hasPrev = decodeAnnotation(p), true
			}
		}
		env, err := seal(annotationField, []byte(a), prev, hasPrev)
		if err != nil {
			return err
		}
		s.Annotations = maps.Clone(s.Annotations)
		s.Annotations[LastAppliedAnnotation] = base64.StdEncoding.EncodeToString(env)
	}
	return nil
}

// decodeAnnotation returns the envelope a sealed annotation holds; an
// annotation stored before Secrets were encrypted is its clear text.
func decodeAnnotation(a string) []byte {
	if b, err := base64.StdEncoding.DecodeString(a); err == nil {
		return b
	}
	return []byte(a)
}

// ErrMissingKey marks a value whose key the configuration no longer holds.
var ErrMissingKey = errors.New("key not in the encryption configuration")

// Open replaces each envelope of s.Data, and of kubectl's last-applied
// annotation, with its clear text; its maps are replaced, never changed,
// so s may be a shallow copy of a stored Secret. A value that does not
// decrypt is an error naming the Secret, the data key and the encryption
// key, never garbage.
func (k *Keys) Open(ctx context.Context, s *v1.Secret) error {
	st := k.state.Load()
	if len(s.Data) > 0 {
		out := make(map[string][]byte, len(s.Data))
		for key, env := range s.Data {
			pt, _, err := st.transformer.TransformFromStorage(ctx, env, dataContext(s, key))
			if err != nil {
				return openError(st, s, fmt.Sprintf("data[%q]", key), env, err)
			}
			out[key] = pt
		}
		s.Data = out
	}
	if a, ok := s.Annotations[LastAppliedAnnotation]; ok {
		env := decodeAnnotation(a)
		pt, _, err := st.transformer.TransformFromStorage(ctx, env, dataContext(s, annotationField))
		if err != nil {
			return openError(st, s, annotationField, env, err)
		}
		s.Annotations = maps.Clone(s.Annotations)
		s.Annotations[LastAppliedAnnotation] = string(pt)
	}
	return nil
}

// openError explains why a value did not decrypt: most often its key was
// removed from the configuration before every Secret was rewritten.
func openError(st *keyState, s *v1.Secret, field string, env []byte, err error) error {
	where := fmt.Sprintf("secret %s/%s %s", s.Namespace, s.Name, field)
	if provider, name, ok := envelopeKey(env); ok {
		if !st.keys[provider+"/"+name] {
			return fmt.Errorf("%s is encrypted with %s key %q, which the encryption configuration does not hold: %w", where, provider, name, ErrMissingKey)
		}
		return fmt.Errorf("%s does not decrypt with %s key %q: %w", where, provider, name, err)
	}
	return fmt.Errorf("%s is not encrypted and the encryption configuration has no identity provider: %w", where, err)
}

// envelopeKey returns the provider and key named by an envelope's prefix.
func envelopeKey(env []byte) (provider, key string, ok bool) {
	if !bytes.HasPrefix(env, []byte(envelopePrefix)) {
		return "", "", false
	}
	// k8s:enc:<provider>:v1:<key>:<ciphertext>
	parts := strings.SplitN(string(env[len(envelopePrefix):min(len(env), len(envelopePrefix)+300)]), ":", 4)
	if len(parts) < 4 {
		return "", "", false
	}
	return parts[0], parts[2], true
}
