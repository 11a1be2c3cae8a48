package serviceaccount

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	v1 "orch.io/orch/api/v1"
)

// fakeGetter is the objects a token names (a unit test of this package).
type fakeGetter struct {
	sas     map[string]*v1.ServiceAccount
	pods    map[string]*v1.Pod
	secrets map[string]*v1.Secret
}

func (g *fakeGetter) Secret(ns, name string) (*v1.Secret, error) {
	if s, ok := g.secrets[ns+"/"+name]; ok {
		return s, nil
	}
	return nil, v1.NewNotFound("secrets", name)
}

func (g *fakeGetter) ServiceAccount(ns, name string) (*v1.ServiceAccount, error) {
	if sa, ok := g.sas[ns+"/"+name]; ok {
		return sa, nil
	}
	return nil, v1.NewNotFound("serviceaccounts", name)
}

func (g *fakeGetter) Pod(ns, name string) (*v1.Pod, error) {
	if p, ok := g.pods[ns+"/"+name]; ok {
		return p, nil
	}
	return nil, v1.NewNotFound("pods", name)
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

type fixture struct {
	key    *ecdsa.PrivateKey
	signer *Signer
	authn  *Authenticator
	get    *fakeGetter
	now    time.Time
	sa     *v1.ServiceAccount
	pod    *v1.Pod
	node   *v1.Node
}

func newFixture(t *testing.T, extraKeys ...crypto.PublicKey) *fixture {
	t.Helper()
	f := &fixture{key: newKey(t), now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	var err error
	if f.signer, err = NewSigner(f.key, DefaultIssuer); err != nil {
		t.Fatal(err)
	}
	f.sa = &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "builder", Namespace: "team", UID: "sa-uid"}}
	f.pod = &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team", UID: "pod-uid"},
		Spec: v1.PodSpec{ServiceAccountName: "builder", NodeName: "n1"}}
	f.node = &v1.Node{ObjectMeta: v1.ObjectMeta{Name: "n1", UID: "node-uid"}}
	f.get = &fakeGetter{sas: map[string]*v1.ServiceAccount{"team/builder": f.sa}, pods: map[string]*v1.Pod{"team/web": f.pod}}
	keys := append([]crypto.PublicKey{&f.key.PublicKey}, extraKeys...)
	if f.authn, err = NewAuthenticator(AuthenticatorConfig{Issuers: []string{DefaultIssuer}, Keys: keys,
		Audiences: DefaultAPIAudiences(), Getter: f.get, Now: func() time.Time { return f.now }}); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fixture) issue(t *testing.T, bound bool, auds ...string) string {
	t.Helper()
	if len(auds) == 0 {
		auds = []string{DefaultIssuer}
	}
	b := Binding{ServiceAccount: f.sa}
	if bound {
		b.Pod, b.Node = f.pod, f.node
	}
	tok, err := f.signer.Issue(b, auds, f.now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// The claims are Kubernetes': iss, sub, aud, exp, iat, nbf, jti and the
// kubernetes.io object with the namespace, the account, pod and node.
func TestTokenClaims(t *testing.T) {
	f := newFixture(t)
	tok := f.issue(t, true, "vault")
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	hdr, _ := base64.RawURLEncoding.DecodeString(parts[0])
	var h map[string]string
	if err := json.Unmarshal(hdr, &h); err != nil {
		t.Fatal(err)
	}
	kid, _ := KeyID(&f.key.PublicKey)
	if h["alg"] != "ES256" || h["kid"] != kid || h["typ"] != "JWT" {
		t.Errorf("header %v, want ES256 with kid %s", h, kid)
	}
	body, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var c map[string]any
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	now := float64(f.now.Unix())
	if c["iss"] != DefaultIssuer || c["sub"] != "system:serviceaccount:team:builder" || c["iat"] != now || c["nbf"] != now ||
		c["exp"] != now+3600 || c["jti"] == "" {
		t.Errorf("claims %v", c)
	}
	if aud, _ := json.Marshal(c["aud"]); string(aud) != `["vault"]` && string(aud) != `"vault"` {
		t.Errorf("aud %s", aud)
	}
	k, _ := json.Marshal(c["kubernetes.io"])
	want := `{"namespace":"team","node":{"name":"n1","uid":"node-uid"},"pod":{"name":"web","uid":"pod-uid"},"serviceaccount":{"name":"builder","uid":"sa-uid"}}`
	if string(k) != want {
		t.Errorf("kubernetes.io claims\n got %s\nwant %s", k, want)
	}
}

func TestAuthenticate(t *testing.T) {
	f := newFixture(t)
	resp, ok, err := f.authn.AuthenticateToken(f.issue(t, true))
	if err != nil || !ok {
		t.Fatalf("valid token: %v %v", ok, err)
	}
	u := resp.User
	if u.GetName() != "system:serviceaccount:team:builder" || u.GetUID() != "sa-uid" ||
		strings.Join(u.GetGroups(), ",") != "system:serviceaccounts,system:serviceaccounts:team" {
		t.Errorf("user %+v", u)
	}
	x := u.GetExtra()
	if x[PodNameKey][0] != "web" || x[PodUIDKey][0] != "pod-uid" || x[NodeNameKey][0] != "n1" || x[NodeUIDKey][0] != "node-uid" ||
		!strings.HasPrefix(x[CredentialIDKey][0], "JTI=") {
		t.Errorf("extra %v", x)
	}
	// An unbound token has no pod.
	resp, ok, err = f.authn.AuthenticateToken(f.issue(t, false, OrchAudience))
	if err != nil || !ok || resp.User.GetExtra()[PodNameKey] != nil {
		t.Fatalf("unbound token: %v %v %+v", ok, err, resp)
	}
}

func TestAuthenticateRefuses(t *testing.T) {
	other := newKey(t)
	otherSigner, err := NewSigner(other, DefaultIssuer)
	if err != nil {
		t.Fatal(err)
	}
	foreignIssuer, err := NewSigner(newKey(t), "https://elsewhere")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		// prepare returns the token after changing the fixture.
		prepare func(t *testing.T, f *fixture) string
		ok      bool
		err     string // "" with !ok: left to other authenticators
	}{
		{"not a JWT", func(t *testing.T, f *fixture) string { return "0123abcd" }, false, ""},
		{"another issuer", func(t *testing.T, f *fixture) string {
			tok, _ := foreignIssuer.Issue(Binding{ServiceAccount: f.sa}, []string{DefaultIssuer}, f.now, time.Hour)
			return tok
		}, false, ""},
		{"unknown key", func(t *testing.T, f *fixture) string {
			tok, _ := otherSigner.Issue(Binding{ServiceAccount: f.sa, Pod: f.pod}, []string{DefaultIssuer}, f.now, time.Hour)
			return tok
		}, false, "could not be verified"},
		{"expired", func(t *testing.T, f *fixture) string {
			tok := f.issue(t, true)
			f.now = f.now.Add(time.Hour + 2*time.Minute)
			return tok
		}, false, "expired"},
		{"not yet valid", func(t *testing.T, f *fixture) string {
			tok := f.issue(t, true)
			f.now = f.now.Add(-5 * time.Minute)
			return tok
		}, false, "invalid"},
		{"wrong audience", func(t *testing.T, f *fixture) string { return f.issue(t, true, "vault") }, false, "audiences"},
		{"pod deleted", func(t *testing.T, f *fixture) string {
			tok := f.issue(t, true)
			delete(f.get.pods, "team/web")
			return tok
		}, false, "invalidated"},
		{"pod being deleted", func(t *testing.T, f *fixture) string {
			tok := f.issue(t, true)
			ts := v1.NewTime(f.now)
			f.pod.DeletionTimestamp = &ts
			return tok
		}, false, "invalidated"},
		{"pod recreated", func(t *testing.T, f *fixture) string {
			tok := f.issue(t, true)
			f.get.pods["team/web"] = &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: "web", Namespace: "team", UID: "new-uid"}}
			return tok
		}, false, "pod UID"},
		{"account deleted", func(t *testing.T, f *fixture) string {
			tok := f.issue(t, true)
			delete(f.get.sas, "team/builder")
			return tok
		}, false, "invalidated"},
		{"account recreated", func(t *testing.T, f *fixture) string {
			tok := f.issue(t, false)
			f.get.sas["team/builder"] = &v1.ServiceAccount{ObjectMeta: v1.ObjectMeta{Name: "builder", Namespace: "team", UID: "other"}}
			return tok
		}, false, "service account UID"},
		{"unsigned (alg none)", func(t *testing.T, f *fixture) string {
			tok := f.issue(t, true)
			parts := strings.Split(tok, ".")
			hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
			return hdr + "." + parts[1] + "."
		}, false, ""},
		{"HMAC signed with the public key", func(t *testing.T, f *fixture) string {
			// The classic key-confusion attack: only ES256 is accepted.
			s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
			if err != nil {
				t.Fatal(err)
			}
			pub, priv := claims(DefaultIssuer, Binding{ServiceAccount: f.sa}, []string{DefaultIssuer}, f.now, time.Hour, "x")
			tok, err := jwt.Signed(s).Claims(pub).Claims(priv).Serialize()
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}, false, ""},
		{"claims tampered", func(t *testing.T, f *fixture) string {
			tok := f.issue(t, false)
			parts := strings.Split(tok, ".")
			body, _ := base64.RawURLEncoding.DecodeString(parts[1])
			body = []byte(strings.Replace(string(body), "builder", "admins1", -1))
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(body) + "." + parts[2]
		}, false, "could not be verified"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tok := tc.prepare(t, f)
			_, ok, err := f.authn.AuthenticateToken(tok)
			if ok != tc.ok {
				t.Fatalf("authenticated %v, want %v (err %v)", ok, tc.ok, err)
			}
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("error %v, want none (left to other authenticators)", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("error %v, want one saying %q", err, tc.err)
			}
		})
	}
}

// During a key rotation tokens of the old key still authenticate.
func TestAuthenticateRotatedKey(t *testing.T) {
	old := newKey(t)
	f := newFixture(t, &old.PublicKey)
	oldSigner, err := NewSigner(old, DefaultIssuer)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := oldSigner.Issue(Binding{ServiceAccount: f.sa, Pod: f.pod}, []string{DefaultIssuer}, f.now, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := f.authn.AuthenticateToken(tok); !ok || err != nil {
		t.Fatalf("token of the previous key: %v %v", ok, err)
	}
}

func TestSplitUsername(t *testing.T) {
	for in, want := range map[string][2]string{
		"system:serviceaccount:team:builder": {"team", "builder"},
		"system:serviceaccount:team":         {},
		"system:serviceaccount:a:b:c":        {},
		"alice":                              {},
	} {
		ns, name, ok := SplitUsername(in)
		if ok != (want[0] != "") || ns != want[0] || name != want[1] {
			t.Errorf("%q: %q %q %v", in, ns, name, ok)
		}
	}
}
