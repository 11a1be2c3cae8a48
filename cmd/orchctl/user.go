package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
)

// setApproval adds condition t to CSR name through its approval
// subresource; false when it is there already (and not force).
func setApproval(ctx context.Context, cl *client.Client, name string, t v1.RequestConditionType, reason, msg string, force bool) (bool, error) {
	var csr v1.CertificateSigningRequest
	if err := cl.Get(ctx, "certificatesigningrequests", "", name, &csr); err != nil {
		return false, err
	}
	if csr.HasCondition(t) && !force {
		return false, nil
	}
	var conds []v1.CertificateSigningRequestCondition
	for _, c := range csr.Status.Conditions {
		if c.Type != t {
			conds = append(conds, c)
		}
	}
	csr.Status.Conditions = append(conds, v1.CertificateSigningRequestCondition{Type: t, Status: v1.ConditionTrue, Reason: reason, Message: msg})
	path, err := client.ResourcePath("certificatesigningrequests", "", name, "approval")
	if err != nil {
		return false, err
	}
	if err := cl.Do(ctx, http.MethodPut, path, nil, &csr, &csr); err != nil {
		return false, err
	}
	return true, nil
}

// newUserCmd is `user create`: a client certificate for a user, signed
// through a CSR, written as an orchctl config.
func newUserCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Create users' credentials"}
	var groups []string
	var expiration time.Duration
	var out string
	create := &cobra.Command{
		Use:   "create NAME -o FILE",
		Short: "Make a client certificate for a user and write an orchctl config with it",
		Long: `Make a key and a certificate signing request for the user NAME in the
groups --group (signer kubernetes.io/kube-apiserver-client), approve it, wait
for the certificate and write an orchctl config for the user to -o: the
servers and CA of the current config, the certificate and the key. The user may
do what the authorizers allow NAME and its groups.`,
		Example: `  orchctl user create alice --group dev --group ops --expiration 720h -o alice.conf`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if out == "" {
				return usagef(cmd, "-o FILE is required")
			}
			if expiration < v1.MinExpirationSeconds*time.Second {
				return usagef(cmd, "--expiration must be at least 10m")
			}
			cfg, err := a.clientConfig()
			if err != nil {
				return err
			}
			cl, err := a.client()
			if err != nil {
				return err
			}
			return a.createUser(cmd.Context(), cl, cfg, args[0], groups, expiration, out)
		},
	}
	create.Flags().StringArrayVar(&groups, "group", nil, "a group of the user (repeatable)")
	create.Flags().DurationVar(&expiration, "expiration", 365*24*time.Hour, "the certificate's lifetime (the signer may cap it)")
	create.Flags().StringVarP(&out, "output-file", "o", "", "where to write the user's orchctl config (mode 0600)")
	cmd.AddCommand(create)
	return cmd
}

func (a *app) createUser(ctx context.Context, cl *client.Client, cfg *client.Config, name string, groups []string, expiration time.Duration, out string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: name, Organization: groups}}, key)
	if err != nil {
		return fmt.Errorf("certificate request: %w", err)
	}
	secs := int32(min(expiration/time.Second, 1<<31-1))
	csr := &v1.CertificateSigningRequest{
		ObjectMeta: v1.ObjectMeta{GenerateName: "user-" + name + "-"},
		Spec: v1.CertificateSigningRequestSpec{
			Request:           pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName:        v1.KubeAPIServerClientSignerName,
			ExpirationSeconds: &secs,
			Usages:            []v1.KeyUsage{v1.UsageDigitalSignature, v1.UsageKeyEncipherment, v1.UsageClientAuth},
		},
	}
	rctx, cancel := a.requestContext(ctx)
	err = cl.Create(rctx, csr)
	cancel()
	if err != nil {
		return err
	}
	rctx, cancel = a.requestContext(ctx)
	_, err = setApproval(rctx, cl, csr.Name, v1.CertificateApproved, "OrchctlApprove", "This CSR was approved by orchctl user create.", false)
	cancel()
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	certPEM, err := waitForCertificate(wctx, cl, csr.Name)
	if err != nil {
		return err
	}
	kd, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return err
	}
	ca := cfg.CertificateAuthorityData
	if len(ca) == 0 && cfg.CertificateAuthority != "" {
		if ca, err = os.ReadFile(cfg.CertificateAuthority); err != nil {
			return fmt.Errorf("read the CA: %w", err)
		}
	}
	uc := &client.Config{Servers: cfg.Servers, CertificateAuthorityData: ca, ClientCertificateData: certPEM,
		ClientKeyData: pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})}
	abs, err := filepath.Abs(out)
	if err != nil {
		return err
	}
	if err := uc.Save(abs); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "wrote the config of user %q (certificate signing request %s) to %s\n", name, csr.Name, abs)
	return nil
}

// waitForCertificate polls CSR name until it holds a certificate.
func waitForCertificate(ctx context.Context, cl *client.Client, name string) ([]byte, error) {
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		var csr v1.CertificateSigningRequest
		if err := cl.Get(ctx, "certificatesigningrequests", "", name, &csr); err != nil {
			return nil, err
		}
		for _, c := range csr.Status.Conditions {
			if (c.Type == v1.CertificateFailed || c.Type == v1.CertificateDenied) && c.Status == v1.ConditionTrue {
				return nil, fmt.Errorf("certificate signing request %s: %s: %s %s", name, c.Type, c.Reason, c.Message)
			}
		}
		if len(csr.Status.Certificate) > 0 {
			return csr.Status.Certificate, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("no certificate for %s yet (is a master with the CA key leading?): %w", name, ctx.Err())
		case <-t.C:
		}
	}
}
