package serviceaccount

import (
	"crypto/subtle"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4/jwt"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"

	v1 "orch.io/orch/api/v1"
)

// LegacyIssuer is the iss of legacy tokens, those the leader writes into
// Secrets of type kubernetes.io/service-account-token (Kubernetes'
// serviceaccount.LegacyIssuer). They never expire and name the Secret;
// they authenticate while the Secret holds them and the account exists.
const LegacyIssuer = "kubernetes/serviceaccount"

// legacyClaims are the private claims of a legacy token, as Kubernetes'.
type legacyClaims struct {
	ServiceAccountName string `json:"kubernetes.io/serviceaccount/service-account.name"`
	ServiceAccountUID  string `json:"kubernetes.io/serviceaccount/service-account.uid"`
	SecretName         string `json:"kubernetes.io/serviceaccount/secret.name"`
	Namespace          string `json:"kubernetes.io/serviceaccount/namespace"`
}

// IssueLegacy signs a legacy token of sa for its Secret secretName:
// issuer LegacyIssuer, no audience, no expiry.
func (s *Signer) IssueLegacy(sa *v1.ServiceAccount, secretName string) (string, error) {
	if sa == nil || sa.Namespace == "" || sa.Name == "" || sa.UID == "" || secretName == "" {
		return "", errors.New("issue legacy token: the account's namespace, name and uid and the secret's name are required")
	}
	pub := &jwt.Claims{Issuer: LegacyIssuer, Subject: Username(sa.Namespace, sa.Name)}
	priv := &legacyClaims{Namespace: sa.Namespace, ServiceAccountName: sa.Name, ServiceAccountUID: sa.UID, SecretName: secretName}
	tok, err := jwt.Signed(s.signer).Claims(pub).Claims(priv).Serialize()
	if err != nil {
		return "", fmt.Errorf("sign legacy token: %w", err)
	}
	return tok, nil
}

// authenticateLegacy checks a legacy token whose signature is not yet
// verified: its signature, its claims, then that its Secret still holds
// it and its account still exists with the uid it names (Kubernetes'
// legacy validator).
func (a *Authenticator) authenticateLegacy(tok *jwt.JSONWebToken, raw string) (*authenticator.Response, bool, error) {
	pub, priv, err := verifyClaims[legacyClaims](a.verify, tok)
	if err != nil {
		return nil, false, err
	}
	if priv.Namespace == "" || priv.ServiceAccountName == "" || priv.ServiceAccountUID == "" || priv.SecretName == "" {
		return nil, false, errors.New("service account token claims are incomplete")
	}
	if pub.Subject != Username(priv.Namespace, priv.ServiceAccountName) {
		return nil, false, fmt.Errorf("service account token subject %q does not match its claims", pub.Subject)
	}
	secret, err := a.cfg.Getter.Secret(priv.Namespace, priv.SecretName)
	if err != nil {
		if v1.IsNotFound(err) {
			return nil, false, errors.New("service account token has been invalidated")
		}
		return nil, false, fmt.Errorf("look up secret %s/%s: %w", priv.Namespace, priv.SecretName, err)
	}
	if secret.DeletionTimestamp != nil {
		return nil, false, errors.New("service account token has been invalidated")
	}
	if secret.Type != v1.SecretTypeServiceAccountToken ||
		subtle.ConstantTimeCompare(secret.Data[v1.ServiceAccountTokenKey], []byte(raw)) != 1 {
		return nil, false, errors.New("service account token does not match server's copy")
	}
	sa, err := a.cfg.Getter.ServiceAccount(priv.Namespace, priv.ServiceAccountName)
	if err != nil {
		if v1.IsNotFound(err) {
			return nil, false, errors.New("service account token has been invalidated")
		}
		return nil, false, fmt.Errorf("look up service account %s/%s: %w", priv.Namespace, priv.ServiceAccountName, err)
	}
	if sa.DeletionTimestamp != nil {
		return nil, false, errors.New("service account token has been invalidated")
	}
	if sa.UID != priv.ServiceAccountUID {
		return nil, false, fmt.Errorf("service account UID (%s) does not match claim (%s)", sa.UID, priv.ServiceAccountUID)
	}
	return &authenticator.Response{Audiences: authenticator.Audiences(a.cfg.Audiences), User: &user.DefaultInfo{
		Name:   Username(priv.Namespace, priv.ServiceAccountName),
		UID:    priv.ServiceAccountUID,
		Groups: []string{AllServiceAccountsGroup, GroupPrefix + priv.Namespace},
	}}, true, nil
}
