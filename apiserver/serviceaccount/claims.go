// Package serviceaccount issues and checks service account tokens, as
// Kubernetes' pkg/serviceaccount: ES256 JWTs with Kubernetes' claims,
// signed by the masters' shared key (sa.key) before anything is proposed,
// and an authenticator that accepts a token only while the account (and
// the pod it is bound to) still exist with the uids in the token. Legacy
// tokens (LegacyIssuer), which the leader writes into service account
// token Secrets, are accepted while their Secret holds them.
package serviceaccount

import (
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4/jwt"

	v1 "orch.io/orch/api/v1"
)

// Usernames and groups of service accounts, as Kubernetes'.
const (
	// UsernamePrefix precedes "<namespace>:<name>".
	UsernamePrefix = "system:serviceaccount:"
	// AllServiceAccountsGroup holds every service account.
	AllServiceAccountsGroup = "system:serviceaccounts"
	// GroupPrefix precedes a namespace: the group of its accounts.
	GroupPrefix = "system:serviceaccounts:"
)

// Extra keys of an authenticated token's user, as Kubernetes'.
const (
	PodNameKey      = "authentication.kubernetes.io/pod-name"
	PodUIDKey       = "authentication.kubernetes.io/pod-uid"
	NodeNameKey     = "authentication.kubernetes.io/node-name"
	NodeUIDKey      = "authentication.kubernetes.io/node-uid"
	CredentialIDKey = "authentication.kubernetes.io/credential-id"
)

// Defaults of the issuer and the API's audiences.
const (
	// DefaultIssuer is kubeadm's --service-account-issuer.
	DefaultIssuer = "https://kubernetes.default.svc.cluster.local"
	// OrchAudience is orch's own audience, accepted beside the issuer.
	OrchAudience = "orch"
)

// DefaultAPIAudiences are the audiences the API accepts by default.
func DefaultAPIAudiences() []string { return []string{DefaultIssuer, OrchAudience} }

// Username is the user of a service account.
func Username(namespace, name string) string { return UsernamePrefix + namespace + ":" + name }

// SplitUsername returns the namespace and name of a service account user.
func SplitUsername(username string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(username, UsernamePrefix)
	if !ok {
		return "", "", false
	}
	namespace, name, ok = strings.Cut(rest, ":")
	if !ok || namespace == "" || name == "" || strings.Contains(name, ":") {
		return "", "", false
	}
	return namespace, name, true
}

// privateClaims are Kubernetes' "kubernetes.io" claims.
type privateClaims struct {
	Kubernetes kubernetes `json:"kubernetes.io,omitempty"`
}

type kubernetes struct {
	Namespace string `json:"namespace,omitempty"`
	Svcacct   ref    `json:"serviceaccount,omitempty"`
	Pod       *ref   `json:"pod,omitempty"`
	Node      *ref   `json:"node,omitempty"`
}

type ref struct {
	Name string `json:"name,omitempty"`
	UID  string `json:"uid,omitempty"`
}

// Binding is what a token is issued for.
type Binding struct {
	ServiceAccount *v1.ServiceAccount
	// Pod, if set, binds the token to the pod; Node is the pod's node (nil
	// if it has none or it is unknown).
	Pod  *v1.Pod
	Node *v1.Node
}

// claims returns Kubernetes' claims of a token issued at now for
// lifetime, with jti its unique id.
func claims(issuer string, b Binding, audiences []string, now time.Time, lifetime time.Duration, jti string) (*jwt.Claims, *privateClaims) {
	sa := b.ServiceAccount
	pub := &jwt.Claims{
		Issuer:    issuer,
		Subject:   Username(sa.Namespace, sa.Name),
		Audience:  jwt.Audience(audiences),
		IssuedAt:  jwt.NewNumericDate(now),
		NotBefore: jwt.NewNumericDate(now),
		Expiry:    jwt.NewNumericDate(now.Add(lifetime)),
		ID:        jti,
	}
	priv := &privateClaims{Kubernetes: kubernetes{Namespace: sa.Namespace, Svcacct: ref{Name: sa.Name, UID: sa.UID}}}
	if b.Pod != nil {
		priv.Kubernetes.Pod = &ref{Name: b.Pod.Name, UID: b.Pod.UID}
		if b.Node != nil {
			priv.Kubernetes.Node = &ref{Name: b.Node.Name, UID: b.Node.UID}
		} else if b.Pod.Spec.NodeName != "" {
			priv.Kubernetes.Node = &ref{Name: b.Pod.Spec.NodeName}
		}
	}
	return pub, priv
}

// check is the private claims' consistency with the subject.
func (p *privateClaims) check(subject string) error {
	k := p.Kubernetes
	if k.Namespace == "" || k.Svcacct.Name == "" || k.Svcacct.UID == "" {
		return fmt.Errorf("service account token claims are incomplete")
	}
	if subject != Username(k.Namespace, k.Svcacct.Name) {
		return fmt.Errorf("service account token subject %q does not match its claims", subject)
	}
	if k.Pod != nil && (k.Pod.Name == "" || k.Pod.UID == "") {
		return fmt.Errorf("service account token has an incomplete pod claim")
	}
	return nil
}
