package serviceaccount

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/fsm"
)

// Getter reads the objects a token names. Reads may be a moment stale
// (this master's store, like Kubernetes' informer caches).
type Getter interface {
	ServiceAccount(namespace, name string) (*v1.ServiceAccount, error)
	Pod(namespace, name string) (*v1.Pod, error)
	// Secret reads the Secret of a legacy token, its values in clear.
	Secret(namespace, name string) (*v1.Secret, error)
}

// StoreGetter reads this master's current store.
type StoreGetter func() *fsm.Store

// ServiceAccount implements Getter.
func (g StoreGetter) ServiceAccount(namespace, name string) (*v1.ServiceAccount, error) {
	rec, err := g().Get("serviceaccounts", namespace, name)
	if err != nil {
		return nil, err
	}
	return rec.Object().(*v1.ServiceAccount), nil
}

// Pod implements Getter.
func (g StoreGetter) Pod(namespace, name string) (*v1.Pod, error) {
	rec, err := g().Get("pods", namespace, name)
	if err != nil {
		return nil, err
	}
	return rec.Object().(*v1.Pod), nil
}

// Secret implements Getter: the Secret as this master's store holds it.
func (g StoreGetter) Secret(namespace, name string) (*v1.Secret, error) {
	rec, err := g().Get("secrets", namespace, name)
	if err != nil {
		return nil, err
	}
	s, ok := rec.Object().(*v1.Secret)
	if !ok {
		return nil, fmt.Errorf("secrets %s/%s holds a %T", namespace, name, rec.Object())
	}
	return s, nil
}

// OpenedSecrets is a StoreGetter whose Secrets are opened (their values
// decrypted) by Open before they are returned; a nil Open returns them as
// stored.
type OpenedSecrets struct {
	StoreGetter
	Open func(ctx context.Context, s *v1.Secret) error
}

// Secret implements Getter: the stored Secret with its values in clear.
func (g OpenedSecrets) Secret(namespace, name string) (*v1.Secret, error) {
	s, err := g.StoreGetter.Secret(namespace, name)
	if err != nil || g.Open == nil {
		return s, err
	}
	opened := *s // Open replaces the maps, never changes them
	if err := g.Open(context.Background(), &opened); err != nil {
		return nil, err
	}
	return &opened, nil
}

// AuthenticatorConfig configures NewAuthenticator.
type AuthenticatorConfig struct {
	// Issuers are the accepted iss values; a token of another issuer is
	// left to the other authenticators.
	Issuers []string
	// Keys are the accepted public keys (several during a rotation).
	Keys []crypto.PublicKey
	// Audiences are the API's; a token must name one of them.
	Audiences []string
	// Getter reads the account and the pod.
	Getter Getter
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Authenticator authenticates bearer service account tokens.
type Authenticator struct {
	cfg    AuthenticatorConfig
	verify *verifier
}

// NewAuthenticator returns the service account token authenticator.
func NewAuthenticator(cfg AuthenticatorConfig) (*Authenticator, error) {
	if len(cfg.Issuers) == 0 || len(cfg.Audiences) == 0 || cfg.Getter == nil {
		return nil, errors.New("service account authenticator: issuers, audiences and a getter are required")
	}
	v, err := newVerifier(cfg.Keys)
	if err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Authenticator{cfg: cfg, verify: v}, nil
}

// AuthenticateRequest implements authenticator.Request.
func (a *Authenticator) AuthenticateRequest(r *http.Request) (*authenticator.Response, bool, error) {
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || tok == "" {
		return nil, false, nil
	}
	return a.AuthenticateToken(tok)
}

// algorithms are the signature algorithms a token may use.
var algorithms = []jose.SignatureAlgorithm{jose.ES256}

// AuthenticateToken checks a token: (nil, false, nil) when it is no JWT
// of an accepted issuer, an error when it is one but not valid. Legacy
// tokens (LegacyIssuer) are always accepted, as by Kubernetes.
func (a *Authenticator) AuthenticateToken(raw string) (*authenticator.Response, bool, error) {
	if strings.Count(raw, ".") != 2 {
		return nil, false, nil
	}
	tok, err := jwt.ParseSigned(raw, algorithms)
	if err != nil {
		return nil, false, nil
	}
	var unverified jwt.Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, false, nil
	}
	if unverified.Issuer == LegacyIssuer {
		return a.authenticateLegacy(tok, raw)
	}
	if !slices.Contains(a.cfg.Issuers, unverified.Issuer) {
		return nil, false, nil
	}
	pub, priv, err := a.verify.verify(tok)
	if err != nil {
		return nil, false, err
	}
	now := a.cfg.Now()
	if err := pub.ValidateWithLeeway(jwt.Expected{Time: now}, jwt.DefaultLeeway); err != nil {
		if errors.Is(err, jwt.ErrExpired) {
			return nil, false, errors.New("service account token has expired")
		}
		return nil, false, fmt.Errorf("service account token is invalid: %w", err)
	}
	if !intersects(pub.Audience, a.cfg.Audiences) {
		return nil, false, fmt.Errorf("token audiences %q is invalid for the target audiences %q", []string(pub.Audience), a.cfg.Audiences)
	}
	if err := priv.check(pub.Subject); err != nil {
		return nil, false, err
	}
	u, err := a.validate(priv, pub.ID)
	if err != nil {
		return nil, false, err
	}
	return &authenticator.Response{Audiences: authenticator.Audiences(pub.Audience), User: u}, true, nil
}

// validate checks that the account, and the pod of a bound token, still
// exist with the token's uids (Kubernetes' validator); a pod being deleted
// invalidates its tokens at once.
func (a *Authenticator) validate(priv *privateClaims, jti string) (user.Info, error) {
	k := priv.Kubernetes
	sa, err := a.cfg.Getter.ServiceAccount(k.Namespace, k.Svcacct.Name)
	if err != nil {
		if v1.IsNotFound(err) {
			return nil, errors.New("service account token has been invalidated")
		}
		return nil, fmt.Errorf("look up service account %s/%s: %w", k.Namespace, k.Svcacct.Name, err)
	}
	if sa.DeletionTimestamp != nil {
		return nil, errors.New("service account token has been invalidated")
	}
	if sa.UID != k.Svcacct.UID {
		return nil, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, k.Svcacct.UID)
	}
	extra := map[string][]string{}
	if jti != "" {
		extra[CredentialIDKey] = []string{"JTI=" + jti}
	}
	if k.Pod != nil {
		pod, err := a.cfg.Getter.Pod(k.Namespace, k.Pod.Name)
		if err != nil {
			if v1.IsNotFound(err) {
				return nil, errors.New("service account token has been invalidated")
			}
			return nil, fmt.Errorf("look up pod %s/%s: %w", k.Namespace, k.Pod.Name, err)
		}
		if pod.UID != k.Pod.UID {
			return nil, fmt.Errorf("pod UID (%s) does not match claim (%s)", pod.UID, k.Pod.UID)
		}
		if pod.DeletionTimestamp != nil {
			return nil, errors.New("service account token has been invalidated: the pod it is bound to is being deleted")
		}
		extra[PodNameKey] = []string{k.Pod.Name}
		extra[PodUIDKey] = []string{k.Pod.UID}
		if k.Node != nil {
			extra[NodeNameKey] = []string{k.Node.Name}
			if k.Node.UID != "" {
				extra[NodeUIDKey] = []string{k.Node.UID}
			}
		}
	}
	return &user.DefaultInfo{
		Name:   Username(k.Namespace, k.Svcacct.Name),
		UID:    k.Svcacct.UID,
		Groups: []string{AllServiceAccountsGroup, GroupPrefix + k.Namespace},
		Extra:  extra,
	}, nil
}

func intersects(a, b []string) bool {
	for _, x := range a {
		if slices.Contains(b, x) {
			return true
		}
	}
	return false
}
