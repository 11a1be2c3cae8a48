package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"orch.io/orch/apiserver"
	"orch.io/orch/apiserver/serviceaccount"
	"orch.io/orch/pki"
	"orch.io/orch/sched"
)

// saFlags are the master's service account flags (Kubernetes' names).
type saFlags struct {
	issuer        string
	audiences     string
	maxExpiration time.Duration
}

func (f *saFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.issuer, "service-account-issuer", serviceaccount.DefaultIssuer, "the iss of the service account tokens this master issues and accepts")
	fl.StringVar(&f.audiences, "api-audiences", strings.Join(serviceaccount.DefaultAPIAudiences(), ","), "comma-separated audiences of the API: a service account token must name one; a TokenRequest naming none gets them")
	fl.DurationVar(&f.maxExpiration, "service-account-max-token-expiration", 0, "the longest lifetime of a requested token; longer requests are shortened (0: no cap)")
}

// serviceAccounts loads sa.key and sa.pub from the PKI directory and
// wires TokenRequest, the ServiceAccount admission and the token
// authenticator into the API server's config.
func (f *saFlags) configure(sc *apiserver.Config, pkiDir string, store serviceaccount.Getter) error {
	keys, err := pki.LoadServiceAccountKeys(pkiDir)
	if err != nil {
		return err
	}
	signer, err := serviceaccount.NewSigner(keys.Signing, f.issuer)
	if err != nil {
		return err
	}
	auds := splitList(f.audiences)
	if len(auds) == 0 {
		return fmt.Errorf("--api-audiences: at least one audience is required")
	}
	authn, err := serviceaccount.NewAuthenticator(serviceaccount.AuthenticatorConfig{
		Issuers: []string{f.issuer}, Keys: keys.Public, Audiences: auds, Getter: store})
	if err != nil {
		return err
	}
	sc.ServiceAccounts = &apiserver.ServiceAccountConfig{Signer: signer, Audiences: auds, MaxExpiration: f.maxExpiration}
	sc.Authenticators = append(sc.Authenticators, authn)
	return nil
}

// kubernetesService is where pods find the API (KUBERNETES_SERVICE_HOST
// and _PORT): the kubernetes Service, the first address of the service
// CIDR on port 443, which the leader keeps in front of the masters.
func kubernetesService(serviceCIDR string) (host, port string, err error) {
	ip, err := sched.FirstServiceIP(serviceCIDR)
	if err != nil {
		return "", "", fmt.Errorf("--service-cidr: %w", err)
	}
	return ip, strconv.Itoa(sched.KubernetesServicePort), nil
}
