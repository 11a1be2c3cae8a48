package serviceaccount

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
)

// legacySecret stores tok in the fixture's Secret team/builder-token.
func (f *fixture) legacySecret(tok string) *v1.Secret {
	s := &v1.Secret{ObjectMeta: v1.ObjectMeta{Name: "builder-token", Namespace: "team",
		Annotations: map[string]string{v1.ServiceAccountNameKey: "builder"}},
		Type: v1.SecretTypeServiceAccountToken, Data: map[string][]byte{v1.ServiceAccountTokenKey: []byte(tok)}}
	if f.get.secrets == nil {
		f.get.secrets = map[string]*v1.Secret{}
	}
	f.get.secrets["team/builder-token"] = s
	return s
}

// A legacy token carries Kubernetes' legacy claims and no expiry or
// audience; it authenticates as the account, at any time, while its
// Secret holds it.
func TestLegacyToken(t *testing.T) {
	f := newFixture(t)
	tok, err := f.signer.IssueLegacy(f.sa, "builder-token")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := base64.RawURLEncoding.DecodeString(strings.Split(tok, ".")[1])
	var c map[string]any
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"iss": LegacyIssuer, "sub": "system:serviceaccount:team:builder",
		"kubernetes.io/serviceaccount/namespace": "team", "kubernetes.io/serviceaccount/secret.name": "builder-token",
		"kubernetes.io/serviceaccount/service-account.name": "builder", "kubernetes.io/serviceaccount/service-account.uid": "sa-uid"}
	if len(c) != len(want) {
		t.Errorf("claims %v, want %v", c, want)
	}
	for k, v := range want {
		if c[k] != v {
			t.Errorf("claim %s = %v, want %v", k, c[k], v)
		}
	}
	f.legacySecret(tok)
	f.now = f.now.Add(10 * 365 * 24 * time.Hour) // never expires
	resp, ok, err := f.authn.AuthenticateToken(tok)
	if err != nil || !ok {
		t.Fatalf("legacy token refused: %v %v", ok, err)
	}
	u := resp.User
	if u.GetName() != "system:serviceaccount:team:builder" || u.GetUID() != "sa-uid" ||
		strings.Join(u.GetGroups(), ",") != "system:serviceaccounts,system:serviceaccounts:team" {
		t.Errorf("user %+v", u)
	}
	if strings.Join(resp.Audiences, ",") != strings.Join(DefaultAPIAudiences(), ",") {
		t.Errorf("audiences %v, want the API's", resp.Audiences)
	}
	for _, bad := range []*v1.ServiceAccount{nil, {ObjectMeta: v1.ObjectMeta{Name: "x", Namespace: "team"}}} {
		if _, err := f.signer.IssueLegacy(bad, "s"); err == nil {
			t.Errorf("issued a legacy token of %+v", bad)
		}
	}
	if _, err := f.signer.IssueLegacy(f.sa, ""); err == nil {
		t.Error("issued a legacy token without a secret")
	}
}

func TestLegacyTokenRefused(t *testing.T) {
	other, err := NewSigner(newKey(t), DefaultIssuer)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		prepare func(t *testing.T, f *fixture) string
		err     string
	}{
		{"secret deleted", func(t *testing.T, f *fixture) string {
			tok := f.legacyToken(t)
			delete(f.get.secrets, "team/builder-token")
			return tok
		}, "invalidated"},
		{"secret being deleted", func(t *testing.T, f *fixture) string {
			tok := f.legacyToken(t)
			ts := v1.NewTime(f.now)
			f.get.secrets["team/builder-token"].DeletionTimestamp = &ts
			return tok
		}, "invalidated"},
		{"secret holds another token", func(t *testing.T, f *fixture) string {
			tok := f.legacyToken(t)
			f.get.secrets["team/builder-token"].Data[v1.ServiceAccountTokenKey] = []byte("other")
			return tok
		}, "does not match server's copy"},
		{"secret of another type", func(t *testing.T, f *fixture) string {
			tok := f.legacyToken(t)
			f.get.secrets["team/builder-token"].Type = v1.SecretTypeOpaque
			return tok
		}, "does not match server's copy"},
		{"account deleted", func(t *testing.T, f *fixture) string {
			tok := f.legacyToken(t)
			delete(f.get.sas, "team/builder")
			return tok
		}, "invalidated"},
		{"account being deleted", func(t *testing.T, f *fixture) string {
			tok := f.legacyToken(t)
			ts := v1.NewTime(f.now)
			f.sa.DeletionTimestamp = &ts
			return tok
		}, "invalidated"},
		{"account recreated", func(t *testing.T, f *fixture) string {
			tok := f.legacyToken(t)
			f.get.sas["team/builder"] = &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "builder", Namespace: "team", UID: "other"}}
			return tok
		}, "service account UID"},
		{"unknown key", func(t *testing.T, f *fixture) string {
			tok, err := other.IssueLegacy(f.sa, "builder-token")
			if err != nil {
				t.Fatal(err)
			}
			f.legacySecret(tok)
			return tok
		}, "could not be verified"},
		{"subject of another account", func(t *testing.T, f *fixture) string {
			// A payload edited after signing fails the signature.
			tok := f.legacyToken(t)
			parts := strings.Split(tok, ".")
			body, _ := base64.RawURLEncoding.DecodeString(parts[1])
			body = []byte(strings.Replace(string(body), "team:builder", "team:admin", 1))
			parts[1] = base64.RawURLEncoding.EncodeToString(body)
			forged := strings.Join(parts, ".")
			f.legacySecret(forged)
			return forged
		}, "could not be verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tok := tc.prepare(t, f)
			resp, ok, err := f.authn.AuthenticateToken(tok)
			if ok || err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("got %v %+v %v, want an error with %q", ok, resp, err, tc.err)
			}
		})
	}
}

func (f *fixture) legacyToken(t *testing.T) string {
	t.Helper()
	tok, err := f.signer.IssueLegacy(f.sa, "builder-token")
	if err != nil {
		t.Fatal(err)
	}
	f.legacySecret(tok)
	return tok
}
