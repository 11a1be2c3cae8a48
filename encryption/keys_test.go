package encryption

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"

	v1 "orch.io/orch/api/v1"
)

func newFile(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteNew(dir); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, FileName)
}

func edit(t *testing.T, path string, f func(*apiserverv1.EncryptionConfiguration) error) {
	t.Helper()
	cfg, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f(cfg); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, cfg); err != nil {
		t.Fatal(err)
	}
}

func secret(data map[string]string) *v1.Secret {
	s := &v1.Secret{ObjectMeta: v1.ObjectMeta{Namespace: "default", Name: "s"}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

func copyData(s *v1.Secret) *v1.Secret {
	c := *s
	c.Data = map[string][]byte{}
	for k, v := range s.Data {
		c.Data[k] = bytes.Clone(v)
	}
	return &c
}

func TestSealOpenProviders(t *testing.T) {
	for _, provider := range []string{"aesgcm", "aescbc", "secretbox"} {
		t.Run(provider, func(t *testing.T) {
			path := newFile(t)
			if provider != "aesgcm" {
				edit(t, path, func(cfg *apiserverv1.EncryptionConfiguration) error {
					k := cfg.Resources[0].Providers[0].AESGCM.Keys
					p := apiserverv1.ProviderConfiguration{}
					if provider == "aescbc" {
						p.AESCBC = &apiserverv1.AESConfiguration{Keys: k}
					} else {
						p.Secretbox = &apiserverv1.SecretboxConfiguration{Keys: k}
					}
					cfg.Resources[0].Providers[0] = p
					return nil
				})
			}
			k, err := Load(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if p, key := k.Primary(); p != provider || key != "key1" {
				t.Fatalf("primary %s/%s, want %s/key1", p, key, provider)
			}
			ctx := context.Background()
			s := secret(map[string]string{"password": "hunter2-very-secret", "empty": ""})
			sealed := copyData(s)
			if err := k.Seal(ctx, sealed, nil); err != nil {
				t.Fatal(err)
			}
			for key, env := range sealed.Data {
				if !bytes.HasPrefix(env, []byte("k8s:enc:"+provider+":v1:key1:")) {
					t.Errorf("%s: envelope %q lacks the prefix", key, env)
				}
				if len(s.Data[key]) > 0 && bytes.Contains(env, s.Data[key]) {
					t.Errorf("%s: envelope holds the clear text", key)
				}
			}
			opened := copyData(sealed)
			if err := k.Open(ctx, opened); err != nil {
				t.Fatal(err)
			}
			for key, v := range s.Data {
				if !bytes.Equal(opened.Data[key], v) {
					t.Errorf("%s: opened %q, want %q", key, opened.Data[key], v)
				}
			}
		})
	}
}

func TestSealKeepsUnchangedValues(t *testing.T) {
	k, err := Load(newFile(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := secret(map[string]string{"a": "one", "b": "two"})
	if err := k.Seal(ctx, old, nil); err != nil {
		t.Fatal(err)
	}
	next := secret(map[string]string{"a": "one", "b": "changed", "c": "new"})
	if err := k.Seal(ctx, next, old); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(next.Data["a"], old.Data["a"]) {
		t.Error("an unchanged value got a new envelope")
	}
	if bytes.Equal(next.Data["b"], old.Data["b"]) {
		t.Error("a changed value kept its envelope")
	}
	// Another Secret never reuses an envelope.
	other := secret(map[string]string{"a": "one"})
	other.Name = "other"
	if err := k.Seal(ctx, other, old); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(other.Data["a"], old.Data["a"]) {
		t.Error("another Secret reused an envelope")
	}
}

func TestEnvelopeBoundToItsPlace(t *testing.T) {
	k, err := Load(newFile(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := secret(map[string]string{"a": "one"})
	if err := k.Seal(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	moved := &v1.Secret{ObjectMeta: v1.ObjectMeta{Namespace: "default", Name: "s"}, Data: map[string][]byte{"b": s.Data["a"]}}
	if err := k.Open(ctx, moved); err == nil {
		t.Fatal("an envelope moved to another key decrypted")
	}
}

func TestRotation(t *testing.T) {
	path := newFile(t)
	k, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s := secret(map[string]string{"a": "one"})
	if err := k.Seal(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	reload := func(want bool) {
		t.Helper()
		changed, err := k.Reload(ctx)
		if err != nil || changed != want {
			t.Fatalf("reload: changed %v, err %v; want changed %v", changed, err, want)
		}
	}
	reload(false)
	edit(t, path, func(cfg *apiserverv1.EncryptionConfiguration) error { return AddKey(cfg, "key2") })
	reload(true)
	if _, key := k.Primary(); key != "key1" {
		t.Fatalf("primary %q after add, want key1", key)
	}
	edit(t, path, func(cfg *apiserverv1.EncryptionConfiguration) error { return UseKey(cfg, "key2") })
	reload(true)
	if _, key := k.Primary(); key != "key2" {
		t.Fatalf("primary %q after use, want key2", key)
	}
	// A rewrite with the same clear text re-encrypts with the primary key.
	rewritten := secret(map[string]string{"a": "one"})
	if err := k.Seal(ctx, rewritten, s); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(rewritten.Data["a"], []byte("k8s:enc:aesgcm:v1:key2:")) {
		t.Fatalf("rewritten value %q not under key2", rewritten.Data["a"])
	}
	edit(t, path, func(cfg *apiserverv1.EncryptionConfiguration) error {
		if err := RemoveKey(cfg, "key2"); err == nil {
			t.Error("removed the primary key")
		}
		return RemoveKey(cfg, "key1")
	})
	reload(true)
	if err := k.Open(ctx, copyData(rewritten)); err != nil {
		t.Fatalf("rewritten Secret: %v", err)
	}
	err = k.Open(ctx, copyData(s))
	if !errors.Is(err, ErrMissingKey) || !strings.Contains(err.Error(), `"key1"`) || !strings.Contains(err.Error(), `data["a"]`) {
		t.Fatalf("open with the key gone: %v; want an error naming key1 and the data key", err)
	}
}

func TestReloadKeepsKeysOnABadFile(t *testing.T) {
	path := newFile(t)
	k, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("kind: EncryptionConfiguration\nbogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Reload(context.Background()); err == nil {
		t.Fatal("a bad file reloaded")
	}
	if _, key := k.Primary(); key != "key1" {
		t.Fatalf("primary %q after a failed reload, want key1", key)
	}
	if _, failed := k.Reloads(); failed != 1 {
		t.Fatalf("failed reloads %d, want 1", failed)
	}
}

func TestLoadRefuses(t *testing.T) {
	const head = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n"
	const key = "w60tSpcNx0ZES8pU7Ke2gdTQIZtKkfKnHhjPhU14JVE=" // 32 bytes
	tests := []struct {
		name, yaml, want string
	}{
		{"configmaps", head + "resources:\n- resources: [secrets, configmaps]\n  providers:\n  - identity: {}\n", `"configmaps": orch encrypts secrets only`},
		{"kms", head + "resources:\n- resources: [secrets]\n  providers:\n  - kms: {name: x, endpoint: unix:///x}\n", "kms: Unsupported value"},
		{"no secrets", head + "resources: []\n", "no entry for resources: [secrets]"},
		{"no providers", head + "resources:\n- resources: [secrets]\n  providers: []\n", "at least one provider"},
		{"no keys", head + "resources:\n- resources: [secrets]\n  providers:\n  - aesgcm: {keys: []}\n", "at least one key"},
		{"short key", head + "resources:\n- resources: [secrets]\n  providers:\n  - aesgcm: {keys: [{name: k, secret: c2hvcnQ=}]}\n", "invalid key size"},
		{"duplicate", head + "resources:\n- resources: [secrets]\n  providers:\n  - aesgcm: {keys: [{name: k, secret: " + key + "}, {name: k, secret: " + key + "}]}\n", "Duplicate value"},
		{"unknown field", head + "resources:\n- resources: [secrets]\n  providers:\n  - identity: {}\n  extra: 1\n", "unknown field"},
		{"wrong kind", "apiVersion: v1\nkind: ConfigMap\n", "want EncryptionConfiguration"},
		{"empty", "", "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			if err := os.WriteFile(path, []byte(tc.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Load: %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestIdentityFirstStoresClear(t *testing.T) {
	path := newFile(t)
	edit(t, path, func(cfg *apiserverv1.EncryptionConfiguration) error {
		p := cfg.Resources[0].Providers
		cfg.Resources[0].Providers = []apiserverv1.ProviderConfiguration{p[1], p[0]}
		return nil
	})
	k, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p, _ := k.Primary(); p != "identity" {
		t.Fatalf("primary %q, want identity", p)
	}
	s := secret(map[string]string{"a": "one"})
	if err := k.Seal(context.Background(), s, nil); err != nil {
		t.Fatal(err)
	}
	if string(s.Data["a"]) != "one" {
		t.Fatalf("identity stored %q", s.Data["a"])
	}
}

// kubectl's last-applied annotation holds every value: it is sealed
// (base64 of an envelope), kept when unchanged, and opened on reads.
func TestSealLastApplied(t *testing.T) {
	k, err := Load(newFile(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const applied = `{"stringData":{"password":"hunter2-very-secret"}}`
	s := secret(map[string]string{"password": "hunter2-very-secret"})
	s.Annotations = map[string]string{LastAppliedAnnotation: applied, "other": "kept"}
	orig := s.Annotations
	if err := k.Seal(ctx, s, nil); err != nil {
		t.Fatal(err)
	}
	if orig[LastAppliedAnnotation] != applied {
		t.Fatal("Seal changed the caller's annotations map")
	}
	a := s.Annotations[LastAppliedAnnotation]
	if strings.Contains(a, "hunter2") || !strings.HasPrefix(a, base64.StdEncoding.EncodeToString([]byte("k8s:enc:"))[:8]) || s.Annotations["other"] != "kept" {
		t.Fatalf("sealed annotations %v", s.Annotations)
	}
	next := secret(map[string]string{"password": "hunter2-very-secret"})
	next.Annotations = map[string]string{LastAppliedAnnotation: applied}
	if err := k.Seal(ctx, next, s); err != nil {
		t.Fatal(err)
	}
	if next.Annotations[LastAppliedAnnotation] != a {
		t.Error("an unchanged annotation got a new envelope")
	}
	opened := copyData(next)
	if err := k.Open(ctx, opened); err != nil {
		t.Fatal(err)
	}
	if opened.Annotations[LastAppliedAnnotation] != applied {
		t.Fatalf("opened annotation %q", opened.Annotations[LastAppliedAnnotation])
	}
	// One written before Secrets were encrypted reads as it is.
	legacy := secret(nil)
	legacy.Annotations = map[string]string{LastAppliedAnnotation: applied}
	if err := k.Open(ctx, legacy); err != nil || legacy.Annotations[LastAppliedAnnotation] != applied {
		t.Fatalf("a clear annotation: %v, %q", err, legacy.Annotations[LastAppliedAnnotation])
	}
}
