package sched

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

const legacyCA = "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n"

// fakeSign is a Sign that names what it signed, counting its calls.
type fakeSign struct{ calls int }

func (f *fakeSign) sign(sa *v1.ServiceAccount, secret string) (string, error) {
	f.calls++
	if sa.Name == "broken" {
		return "", errors.New("no key")
	}
	return "tok." + sa.Namespace + "." + sa.Name + "." + sa.UID + "." + secret, nil
}

func getSecret(t *testing.T, s *fsm.Store, ns, name string) *v1.Secret {
	t.Helper()
	rec, err := s.Get("secrets", ns, name)
	if v1.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return rec.Object().(*v1.Secret)
}

func tokenSecret(name, account string, annotations map[string]string) *v1.Secret {
	s := &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name,
		Annotations: map[string]string{v1.ServiceAccountNameKey: account}}, Type: v1.SecretTypeServiceAccountToken}
	for k, v := range annotations {
		s.Annotations[k] = v
	}
	return s
}

func TestLegacyTokensPass(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "builder", Namespace: "default", UID: "sa-builder"}})
	p.create(t, tokenSecret("builder-token", "builder", nil))
	p.create(t, tokenSecret("ghost-token", "ghost", nil))
	p.create(t, tokenSecret("stale-token", "builder", map[string]string{v1.ServiceAccountUIDKey: "sa-old"}))
	p.create(t, &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "plain", Namespace: "default", UID: "uid-plain",
		Annotations: map[string]string{v1.ServiceAccountNameKey: "ghost"}}, Type: v1.SecretTypeOpaque, Data: map[string][]byte{"k": []byte("v")}})
	signer := &fakeSign{}
	c, err := NewLegacyTokensController(LegacyTokensConfig{Store: p.store, Proposer: p, Sign: signer.sign, CAPEM: []byte(legacyCA),
		Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	pass := func() {
		t.Helper()
		if err := c.Pass(context.Background(), p.store()); err != nil {
			t.Fatal(err)
		}
	}
	pass()
	s := getSecret(t, p.store(), "default", "builder-token")
	if string(s.Data[v1.ServiceAccountTokenKey]) != "tok.default.builder.sa-builder.builder-token" ||
		string(s.Data[v1.ServiceAccountRootCAKey]) != legacyCA || string(s.Data[v1.ServiceAccountNamespaceKey]) != "default" ||
		s.Annotations[v1.ServiceAccountUIDKey] != "sa-builder" || s.UID != "uid-builder-token" {
		t.Fatalf("filled secret %+v", s)
	}
	tok := string(s.Data[v1.ServiceAccountTokenKey])
	for _, gone := range []string{"ghost-token", "stale-token"} {
		if got := getSecret(t, p.store(), "default", gone); got != nil {
			t.Errorf("%s kept: %+v", gone, got)
		}
	}
	if got := getSecret(t, p.store(), "default", "plain"); got == nil || len(got.Data) != 1 {
		t.Errorf("an Opaque secret was touched: %+v", got)
	}

	// Nothing to do: no write, no signature.
	idx, calls := p.store().Index(), signer.calls
	pass()
	if p.store().Index() != idx || signer.calls != calls {
		t.Fatalf("an idle pass wrote or signed (index %d → %d, %d signatures)", idx, p.store().Index(), signer.calls-calls)
	}

	// ca.crt or namespace edited: put back; the token stays.
	edited := v1.DeepCopy(s)
	edited.Data[v1.ServiceAccountRootCAKey] = []byte("forged")
	delete(edited.Data, v1.ServiceAccountNamespaceKey)
	cmd, err := fsm.NewUpdate(edited, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), cmd); err != nil {
		t.Fatal(err)
	}
	pass()
	s = getSecret(t, p.store(), "default", "builder-token")
	if string(s.Data[v1.ServiceAccountRootCAKey]) != legacyCA || string(s.Data[v1.ServiceAccountNamespaceKey]) != "default" ||
		string(s.Data[v1.ServiceAccountTokenKey]) != tok || signer.calls != calls {
		t.Fatalf("after an edit: %+v (%d signatures)", s, signer.calls-calls)
	}

	// The account deleted: its token secrets go.
	del, err := fsm.Encode(fsm.DeleteCommand, fsm.DeleteRequest{Resource: "serviceaccounts", Namespace: "default", Name: "builder"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Apply(context.Background(), del); err != nil {
		t.Fatal(err)
	}
	pass()
	if got := getSecret(t, p.store(), "default", "builder-token"); got != nil {
		t.Fatalf("the deleted account's token secret kept: %+v", got)
	}
}

// A signing failure fails the pass and writes nothing.
func TestLegacyTokensSignFailure(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "broken", Namespace: "default", UID: "sa-broken"}})
	p.create(t, tokenSecret("broken-token", "broken", nil))
	signer := &fakeSign{}
	c, err := NewLegacyTokensController(LegacyTokensConfig{Store: p.store, Proposer: p, Sign: signer.sign, CAPEM: []byte(legacyCA)})
	if err != nil {
		t.Fatal(err)
	}
	idx := p.store().Index()
	if err := c.Pass(context.Background(), p.store()); err == nil {
		t.Fatal("a failed signature passed")
	}
	if p.store().Index() != idx {
		t.Fatal("a failed pass wrote")
	}
	if _, err := NewLegacyTokensController(LegacyTokensConfig{Store: p.store, Proposer: p, CAPEM: []byte(legacyCA)}); err == nil {
		t.Fatal("no signer accepted")
	}
	if _, err := NewLegacyTokensController(LegacyTokensConfig{Store: p.store, Proposer: p, Sign: signer.sign}); err == nil {
		t.Fatal("no CA accepted")
	}
}

// prefixCodec seals a value by prefixing "sealed:" and refuses to open one
// without it, so a value written or compared in clear shows.
type prefixCodec struct{}

func (prefixCodec) Seal(_ context.Context, s, _ *v1.Secret) error {
	out := make(map[string][]byte, len(s.Data))
	for k, v := range s.Data {
		out[k] = append([]byte("sealed:"), v...)
	}
	s.Data = out
	return nil
}

func (prefixCodec) Open(_ context.Context, s *v1.Secret) error {
	out := make(map[string][]byte, len(s.Data))
	for k, v := range s.Data {
		clear, ok := bytes.CutPrefix(v, []byte("sealed:"))
		if !ok {
			return fmt.Errorf("data[%q] is not sealed", k)
		}
		out[k] = clear
	}
	s.Data = out
	return nil
}

// With encryption, the controller opens what it reads and seals what it
// writes: the stored token is sealed, and a filled Secret is left alone.
func TestLegacyTokensSealed(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "builder", Namespace: "default", UID: "sa-builder"}})
	p.create(t, tokenSecret("builder-token", "builder", nil))
	c, err := NewLegacyTokensController(LegacyTokensConfig{Store: p.store, Proposer: p, Sign: (&fakeSign{}).sign,
		CAPEM: []byte(legacyCA), Secrets: prefixCodec{}, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	s := getSecret(t, p.store(), "default", "builder-token")
	for _, k := range []string{v1.ServiceAccountTokenKey, v1.ServiceAccountRootCAKey, v1.ServiceAccountNamespaceKey} {
		if !bytes.HasPrefix(s.Data[k], []byte("sealed:")) {
			t.Fatalf("stored %s = %q, not sealed", k, s.Data[k])
		}
	}
	if got := string(s.Data[v1.ServiceAccountTokenKey]); got != "sealed:tok.default.builder.sa-builder.builder-token" {
		t.Fatalf("stored token %q", got)
	}
	idx := p.store().Index()
	if err := c.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	if got := p.store().Index(); got != idx {
		t.Fatalf("a pass over a filled, sealed Secret wrote %d entries", got-idx)
	}
}

// A Secret written is looked at only if it is a token Secret: writes of
// other Secrets cost the controller no pass over every Secret.
func TestLegacyTokensChanges(t *testing.T) {
	p := newFakeProposer(t)
	p.create(t, &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "builder", Namespace: "default", UID: "sa-builder"}})
	p.create(t, tokenSecret("builder-token", "builder", nil))
	p.create(t, &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "plain", Namespace: "default", UID: "uid-plain"}, Type: v1.SecretTypeOpaque})
	rec := func(resource, name string) *fsm.Record {
		ns := "default"
		if resource == "namespaces" {
			ns, name = "", "default"
		}
		r, err := p.store().Get(resource, ns, name)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	ev := func(typ, resource, name string) fsm.Event {
		return fsm.Event{Type: typ, Resource: resource, Record: rec(resource, name)}
	}
	for _, tc := range []struct {
		name string
		ch   changes
		keys []string
		all  bool
	}{
		{"first pass", changes{full: true}, nil, true},
		{"an account", changes{events: []fsm.Event{ev(v1.Added, "secrets", "plain"), ev(v1.Modified, "serviceaccounts", "builder")}}, nil, true},
		{"a token Secret", changes{events: []fsm.Event{ev(v1.Added, "secrets", "plain"), ev(v1.Added, "secrets", "builder-token")}},
			[]string{"default/builder-token"}, false},
		{"other Secrets and kinds", changes{events: []fsm.Event{ev(v1.Added, "secrets", "plain"), ev(v1.Deleted, "secrets", "builder-token"),
			ev(v1.Added, "namespaces", "default")}}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, all := tokenChanges(tc.ch)
			if all != tc.all || strings.Join(keys, ",") != strings.Join(tc.keys, ",") {
				t.Fatalf("tokenChanges = %v, %v; want %v, %v", keys, all, tc.keys, tc.all)
			}
		})
	}
	c, err := NewLegacyTokensController(LegacyTokensConfig{Store: p.store, Proposer: p, Sign: (&fakeSign{}).sign, CAPEM: []byte(legacyCA)})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.PassOver(context.Background(), p.store(), []string{"default/builder-token", "default/builder-token", "default/gone"}); err != nil {
		t.Fatal(err)
	}
	if s := getSecret(t, p.store(), "default", "builder-token"); len(s.Data[v1.ServiceAccountTokenKey]) == 0 {
		t.Fatalf("PassOver left the token Secret unfilled: %+v", s.Data)
	}
}
