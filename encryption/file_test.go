package encryption

import (
	"slices"
	"strings"
	"testing"

	apiserverv1 "k8s.io/apiserver/pkg/apis/apiserver/v1"
)

// The key edits keep Kubernetes' rotation order: a new key second (read,
// not used), a used key first with its provider first, the primary never
// removed.
func TestKeyEdits(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*apiserverv1.EncryptionConfiguration) error
		want    []string // Describe after the edit
		wantErr string
	}{
		{"new", func(*apiserverv1.EncryptionConfiguration) error { return nil },
			[]string{"aesgcm key1 (primary)", "identity"}, ""},
		{"add", func(c *apiserverv1.EncryptionConfiguration) error { return AddKey(c, "key2") },
			[]string{"aesgcm key1 (primary)", "aesgcm key2", "identity"}, ""},
		{"add twice", func(c *apiserverv1.EncryptionConfiguration) error {
			if err := AddKey(c, "key2"); err != nil {
				return err
			}
			return AddKey(c, "key2")
		}, nil, `has a key named "key2" already`},
		{"add unnamed", func(c *apiserverv1.EncryptionConfiguration) error { return AddKey(c, "") }, nil, "needs a name"},
		{"add, use", func(c *apiserverv1.EncryptionConfiguration) error {
			if err := AddKey(c, "key2"); err != nil {
				return err
			}
			return UseKey(c, "key2")
		}, []string{"aesgcm key2 (primary)", "aesgcm key1", "identity"}, ""},
		{"use unknown", func(c *apiserverv1.EncryptionConfiguration) error { return UseKey(c, "nope") }, nil, `no key named "nope"`},
		{"remove primary", func(c *apiserverv1.EncryptionConfiguration) error { return RemoveKey(c, "key1") }, nil, "is the primary key"},
		{"add, use, remove old", func(c *apiserverv1.EncryptionConfiguration) error {
			for _, f := range []func() error{func() error { return AddKey(c, "key2") }, func() error { return UseKey(c, "key2") },
				func() error { return RemoveKey(c, "key1") }} {
				if err := f(); err != nil {
					return err
				}
			}
			return nil
		}, []string{"aesgcm key2 (primary)", "identity"}, ""},
		{"identity first, add goes last", func(c *apiserverv1.EncryptionConfiguration) error {
			c.Resources[0].Providers = c.Resources[0].Providers[1:]
			return AddKey(c, "key2")
		}, []string{"identity (primary: stored in clear)", "aesgcm key2"}, ""},
		{"use moves the provider first", func(c *apiserverv1.EncryptionConfiguration) error {
			c.Resources[0].Providers = c.Resources[0].Providers[1:]
			if err := AddKey(c, "key2"); err != nil {
				return err
			}
			return UseKey(c, "key2")
		}, []string{"aesgcm key2 (primary)", "identity"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := NewConfig("key1")
			if err != nil {
				t.Fatal(err)
			}
			err = tc.edit(cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("edit: %v, want an error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := Describe(cfg); !slices.Equal(got, tc.want) {
				t.Fatalf("after the edit %q, want %q", got, tc.want)
			}
			// Every edit leaves a file that loads.
			if _, err := newState(cfg); err != nil {
				t.Fatalf("edited configuration does not load: %v", err)
			}
		})
	}
}
