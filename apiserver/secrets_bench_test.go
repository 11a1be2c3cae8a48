package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"testing"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/encryption"
	"orch.io/orch/fsm"
)

// BenchmarkSecretSealReveal is what a Secret's create costs the API
// server beyond a ConfigMap's: sealing the values before proposing, and
// opening the stored answer (decode, decrypt, encode). Run with -benchmem
// for the allocations; a ConfigMap's answer is its stored bytes.
func BenchmarkSecretSealReveal(b *testing.B) {
	dir := b.TempDir()
	if err := encryption.WriteNew(dir); err != nil {
		b.Fatal(err)
	}
	keys, err := encryption.Load(filepath.Join(dir, encryption.FileName), nil)
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{cfg: Config{Secrets: keys}}
	res, _ := v1.ResourceByName("secrets")
	data := map[string][]byte{}
	for i := range 4 {
		data[string(rune('a'+i))] = bytes.Repeat([]byte{'x'}, 256)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		sec := &v1.Secret{TypeMeta: v1.TypeMeta{Kind: "Secret", APIVersion: "v1"},
			ObjectMeta: v1.ObjectMeta{Name: "s", Namespace: "default", UID: "u", ResourceVersion: "5"}, Data: data, Type: v1.SecretTypeOpaque}
		prop, err := s.sealed(ctx, sec, nil)
		if err != nil {
			b.Fatal(err)
		}
		raw, err := json.Marshal(prop)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.recordJSON(res, fsm.NewLazyRecord(res, raw)); err != nil {
			b.Fatal(err)
		}
	}
}
