package apiserver

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
)

// certClient returns a client that authenticates with a client
// certificate for cn/orgs signed by the cluster CA.
func (e *testEnv) certClient(t *testing.T, cn string, orgs ...string) *client.Client {
	t.Helper()
	ca, err := pki.LoadClusterCA(e.bundle.Dir)
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.NewClientKeyPair(pki.ClientCertificate{CommonName: cn, Organizations: orgs, Validity: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	cl, err := client.New(&client.Config{Servers: []string{e.base}, CertificateAuthorityData: e.bundle.CAPEM,
		ClientCertificateData: certPEM, ClientKeyData: keyPEM, FailoverRounds: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.CloseIdleConnections)
	return cl
}

// recordingAuthorizer allows what allow says and records the attributes
// it was asked about.
type recordingAuthorizer struct {
	allow func(authorizer.Attributes) bool
	seen  chan authorizer.Attributes
}

func (r recordingAuthorizer) Authorize(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
	select {
	case r.seen <- a:
	default:
	}
	if r.allow(a) {
		return authorizer.DecisionAllow, "", nil
	}
	return authorizer.DecisionNoOpinion, "", nil
}

func TestClientCertificateUsers(t *testing.T) {
	seen := make(chan authorizer.Attributes, 64)
	az := recordingAuthorizer{seen: seen, allow: func(a authorizer.Attributes) bool {
		// alice may list pods in "default" only.
		return a.GetUser().GetName() == "alice" && a.GetVerb() == "list" && a.GetResource() == "pods" && a.GetNamespace() == v1.DefaultNamespace
	}}
	e := newTestEnv(t, withServerConfig(func(c *Config) { c.Authorizers = append(c.Authorizers, az) }))
	ctx := testCtx(t)

	alice := e.certClient(t, "alice", "dev", "ops")
	if _, err := alice.List(ctx, "pods", v1.DefaultNamespace, client.ListOptions{}); err != nil {
		t.Fatalf("alice lists pods in default: %v", err)
	}
	var a authorizer.Attributes
	for a = range seen {
		if a.GetUser().GetName() == "alice" {
			break
		}
	}
	wantGroups := []string{"dev", "ops", user.AllAuthenticated}
	if strings.Join(a.GetUser().GetGroups(), ",") != strings.Join(wantGroups, ",") {
		t.Errorf("alice's groups %v, want %v", a.GetUser().GetGroups(), wantGroups)
	}

	// Anything else is 403 in Kubernetes' words, and changes nothing.
	_, err := alice.List(ctx, "pods", "kube-system", client.ListOptions{})
	wantForbidden(t, err, `pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "kube-system"`)
	err = alice.Create(ctx, newPod("p1", nil))
	wantForbidden(t, err, `pods is forbidden: User "alice" cannot create resource "pods" in API group "" in the namespace "default"`)
	e.expectStatus(t, http.StatusNotFound, http.MethodGet, podPath("p1"), nil)
	err = alice.Get(ctx, "nodes", "", "n1", &v1.Node{})
	wantForbidden(t, err, `nodes "n1" is forbidden: User "alice" cannot get resource "nodes" in API group "" at the cluster scope`)

	// A certificate in system:masters is the admin.
	root := e.certClient(t, "root", user.SystemPrivilegedGroup)
	if err := root.Create(ctx, newPod("p2", nil)); err != nil {
		t.Fatalf("system:masters creates a pod: %v", err)
	}
	// Non-resource paths are authorized too.
	err = alice.Do(ctx, http.MethodPost, "/orch/v1/cluster/transfer-leader", nil, map[string]string{"to": "m1"}, nil)
	wantForbidden(t, err, `forbidden: User "alice" cannot post path "/orch/v1/cluster/transfer-leader"`)
}

// TestForeignClientCertificateIsRefused: a certificate of another CA, or
// an expired one of the cluster CA, authenticates nobody.
func TestForeignClientCertificateIsRefused(t *testing.T) {
	e := newTestEnv(t)
	ctx := testCtx(t)
	for _, tc := range []struct {
		name   string
		signer func(t *testing.T) *pki.CA
		notAft time.Duration
	}{
		{"another CA", func(t *testing.T) *pki.CA { return selfSignedCA(t) }, time.Hour},
		{"expired", func(t *testing.T) *pki.CA {
			ca, err := pki.LoadClusterCA(e.bundle.Dir)
			if err != nil {
				t.Fatal(err)
			}
			return ca
		}, -time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ca := tc.signer(t)
			key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			now := time.Now()
			tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "mallory", Organization: []string{user.SystemPrivilegedGroup}},
				NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(tc.notAft), KeyUsage: x509.KeyUsageDigitalSignature,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
			if err != nil {
				t.Fatal(err)
			}
			kder, _ := x509.MarshalECPrivateKey(key)
			cl, err := client.New(&client.Config{Servers: []string{e.base}, CertificateAuthorityData: e.bundle.CAPEM, FailoverRounds: 1,
				ClientCertificateData: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
				ClientKeyData:         pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})})
			if err != nil {
				t.Fatal(err)
			}
			defer cl.CloseIdleConnections()
			err = cl.Create(ctx, newPod("evil", nil))
			if err == nil {
				t.Fatal("a pod was created with a certificate that must not authenticate")
			}
			e.expectStatus(t, http.StatusNotFound, http.MethodGet, podPath("evil"), nil)
		})
	}
}

func selfSignedCA(t *testing.T) *pki.CA {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "evil-ca"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &pki.CA{Cert: cert, Key: key}
}

func wantForbidden(t *testing.T, err error, msg string) {
	t.Helper()
	var st *v1.StatusError
	if !errors.As(err, &st) || st.Status.Code != http.StatusForbidden || st.Status.Message != msg {
		t.Errorf("err = %v, want 403 %q", err, msg)
	}
}
