package apiserver

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/apiserver/bootstrap"
	"orch.io/orch/pki"
)

// newCertsEnv is a test env with the bootstrap token authenticator and the
// interim authorizer, as orchd master wires them.
func newCertsEnv(t *testing.T) *testEnv {
	t.Helper()
	var e *testEnv
	e = newTestEnv(t, withServerConfig(func(c *Config) {
		c.Authenticators = append(c.Authenticators, authenticator.RequestFunc(func(r *http.Request) (*authenticator.Response, bool, error) {
			a := &bootstrap.Authenticator{Store: e.cluster.Store, Barrier: e.cluster.ReadBarrier}
			return a.AuthenticateRequest(r)
		}))
		c.Authorizers = append(c.Authorizers, authorizer.UnconditionalAuthorizer(bootstrap.InterimAuthorizer{}))
	}))
	return e
}

func testCSR(t *testing.T, name, signer, cn string, orgs ...string) *v1.CertificateSigningRequest {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &v1.CertificateSigningRequest{ObjectMeta: v1.ObjectMeta{Name: name},
		Spec: v1.CertificateSigningRequestSpec{Request: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: signer, Usages: []v1.KeyUsage{v1.UsageDigitalSignature, v1.UsageClientAuth}}}
}

func approval(t *testing.T, cl *client.Client, csr *v1.CertificateSigningRequest) error {
	t.Helper()
	p, err := client.ResourcePath("certificatesigningrequests", "", csr.Name, "approval")
	if err != nil {
		t.Fatal(err)
	}
	return cl.Do(testCtx(t), http.MethodPut, p, nil, csr, csr)
}

func TestCSRRequesterComesFromTheUser(t *testing.T) {
	e := newCertsEnv(t)
	node := e.certClient(t, "system:node:n1", "system:nodes")
	csr := testCSR(t, "n1", v1.KubeAPIServerClientKubeletSignerName, "system:node:n1", "system:nodes")
	csr.Spec.Username, csr.Spec.Groups, csr.Spec.UID = "admin", []string{"system:masters"}, "forged"
	csr.Status.Certificate = []byte("forged")
	if err := node.Create(testCtx(t), csr); err != nil {
		t.Fatal(err)
	}
	if csr.Spec.Username != "system:node:n1" || csr.Spec.UID != "" || slices.Contains(csr.Spec.Groups, "system:masters") ||
		!slices.Contains(csr.Spec.Groups, "system:nodes") || len(csr.Status.Certificate) != 0 {
		t.Fatalf("stored spec %+v status %+v", csr.Spec, csr.Status)
	}
	// An update of the object changes no spec field, even an invalid one.
	csr.Spec.Username, csr.Spec.Request = "admin", []byte("junk")
	csr.Labels = map[string]string{"a": "b"}
	if err := e.admin.Update(testCtx(t), csr); err != nil {
		t.Fatal(err)
	}
	if csr.Spec.Username != "system:node:n1" || csr.Labels["a"] != "b" {
		t.Fatalf("after update: username %q labels %v", csr.Spec.Username, csr.Labels)
	}
}

func TestCSRValidationAtCreate(t *testing.T) {
	e := newCertsEnv(t)
	for _, tc := range []struct {
		name string
		csr  *v1.CertificateSigningRequest
		want string
	}{
		{"kubelet signer, wrong org", testCSR(t, "a", v1.KubeAPIServerClientKubeletSignerName, "system:node:a", "system:masters"),
			"subject organization is not system:nodes"},
		{"kubelet signer, wrong cn", testCSR(t, "b", v1.KubeAPIServerClientKubeletSignerName, "alice", "system:nodes"),
			"subject common name does not begin with system:node:"},
		{"masters' organization", testCSR(t, "c", v1.KubeAPIServerClientSignerName, "m", pki.MasterOrganization),
			`subject organization "orch:masters" is reserved for the masters`},
		{"no signer", testCSR(t, "d", "", "alice"), "spec.signerName: Required value"},
		{"legacy signer", testCSR(t, "e", v1.LegacyUnknownSignerName, "alice"), "kubernetes.io/legacy-unknown is not allowed via this API version"},
		{"bad request", func() *v1.CertificateSigningRequest {
			c := testCSR(t, "f", v1.KubeAPIServerClientSignerName, "alice")
			c.Spec.Request = []byte("junk")
			return c
		}(), "PEM block type must be CERTIFICATE REQUEST"},
		{"short expiration", func() *v1.CertificateSigningRequest {
			c := testCSR(t, "g", v1.KubeAPIServerClientSignerName, "alice")
			s := int32(60)
			c.Spec.ExpirationSeconds = &s
			return c
		}(), "may not specify a duration less than 600 seconds (10 minutes)"},
		{"unknown usage", func() *v1.CertificateSigningRequest {
			c := testCSR(t, "h", "example.com/x", "alice")
			c.Spec.Usages = []v1.KeyUsage{"fly"}
			return c
		}(), `spec.usages[0]: Unsupported value: "fly"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := e.admin.Create(testCtx(t), tc.csr)
			if !v1.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want 422 with %q", err, tc.want)
			}
		})
	}
}

func TestCSRApprovalAndStatus(t *testing.T) {
	e := newCertsEnv(t)
	node := e.certClient(t, "system:node:n1", "system:nodes")
	csr := testCSR(t, "n1", v1.KubeAPIServerClientKubeletSignerName, "system:node:n1", "system:nodes")
	if err := node.Create(testCtx(t), csr); err != nil {
		t.Fatal(err)
	}
	// The certificate may not be set before approval.
	ca, err := pki.LoadClusterCA(e.bundle.Dir)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := v1.ParseCSR(csr.Spec.Request)
	cert, err := ca.SignClient(req.PublicKey, pki.ClientCertificate{CommonName: "system:node:n1", Organizations: []string{"system:nodes"}, Validity: time.Hour}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	early := v1.DeepCopy(csr)
	early.Status.Certificate = cert
	if err := e.admin.UpdateStatus(testCtx(t), early); !v1.IsInvalid(err) || !strings.Contains(err.Error(), "unless an Approved condition is present") {
		t.Fatalf("certificate before approval: %v", err)
	}
	// A node may not approve.
	approve := v1.DeepCopy(csr)
	approve.Status.Conditions = []v1.CertificateSigningRequestCondition{{Type: v1.CertificateApproved, Status: v1.ConditionTrue, Reason: "Test"}}
	if err := approval(t, node, v1.DeepCopy(approve)); v1.CodeOf(err) != http.StatusForbidden ||
		!strings.Contains(err.Error(), `cannot update resource "certificatesigningrequests/approval"`) {
		t.Fatalf("node approving: %v", err)
	}
	// Approved and Denied together are refused.
	both := v1.DeepCopy(approve)
	both.Status.Conditions = append(both.Status.Conditions, v1.CertificateSigningRequestCondition{Type: v1.CertificateDenied, Status: v1.ConditionTrue})
	if err := approval(t, e.admin, both); !v1.IsInvalid(err) || !strings.Contains(err.Error(), "Approved and Denied conditions are mutually exclusive") {
		t.Fatalf("approved and denied: %v", err)
	}
	if err := approval(t, e.admin, approve); err != nil {
		t.Fatal(err)
	}
	if !approve.HasCondition(v1.CertificateApproved) || approve.Status.Conditions[0].LastUpdateTime.IsZero() {
		t.Fatalf("approval: %+v", approve.Status)
	}
	// An approval stays.
	undo := v1.DeepCopy(approve)
	undo.Status.Conditions = nil
	if err := approval(t, e.admin, undo); !v1.IsInvalid(err) || !strings.Contains(err.Error(), `updates may not remove a condition of type "Approved"`) {
		t.Fatalf("removing the approval: %v", err)
	}
	// The status subresource sets the certificate once and keeps the approval.
	signed := v1.DeepCopy(approve)
	signed.Status.Certificate, signed.Status.Conditions = cert, nil
	if err := e.admin.UpdateStatus(testCtx(t), signed); err != nil {
		t.Fatal(err)
	}
	if !signed.HasCondition(v1.CertificateApproved) || len(signed.Status.Certificate) == 0 {
		t.Fatalf("after status: %+v", signed.Status)
	}
	again := v1.DeepCopy(signed)
	again.Status.Certificate = append([]byte{}, ca.CertPEM...)
	if err := e.admin.UpdateStatus(testCtx(t), again); !v1.IsInvalid(err) || !strings.Contains(err.Error(), "updates may not modify existing certificate content") {
		t.Fatalf("changing the certificate: %v", err)
	}
}

func TestBootstrapTokenAuthentication(t *testing.T) {
	e := newCertsEnv(t)
	mk := func(ttl time.Duration) string {
		tok, err := v1.GenerateBootstrapToken()
		if err != nil {
			t.Fatal(err)
		}
		id, _, _ := v1.ParseBootstrapToken(tok)
		exp := v1.NewTime(time.Now().Add(ttl))
		if err := e.admin.Create(testCtx(t), &v1.BootstrapToken{ObjectMeta: v1.ObjectMeta{Name: id},
			Spec: v1.BootstrapTokenSpec{SecretHash: v1.BootstrapTokenHash(tok), Expiration: &exp}}); err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := mk(time.Hour)
	expired := mk(-time.Second)
	boot := e.newClient(t, good)
	csr := testCSR(t, "b1", v1.KubeAPIServerClientKubeletSignerName, "system:node:b1", "system:nodes")
	if err := boot.Create(testCtx(t), csr); err != nil {
		t.Fatalf("a bootstrap token creating a CSR: %v", err)
	}
	if want := "system:bootstrap:" + good[:6]; csr.Spec.Username != want || !slices.Contains(csr.Spec.Groups, "system:bootstrappers") {
		t.Fatalf("requester %q %v", csr.Spec.Username, csr.Spec.Groups)
	}
	var got v1.CertificateSigningRequest
	if err := boot.Get(testCtx(t), "certificatesigningrequests", "", "b1", &got); err != nil {
		t.Fatal(err)
	}
	var nodes v1.List[v1.Node]
	if err := boot.Do(testCtx(t), http.MethodGet, "/api/v1/nodes", nil, nil, &nodes); v1.CodeOf(err) != http.StatusForbidden {
		t.Fatalf("a bootstrap token listing nodes: %v", err)
	}
	if err := approval(t, boot, &got); v1.CodeOf(err) != http.StatusForbidden {
		t.Fatalf("a bootstrap token approving: %v", err)
	}
	wrong := good[:7] + strings.Repeat("0", 16)
	if wrong == good {
		wrong = good[:7] + strings.Repeat("1", 16)
	}
	for name, tok := range map[string]string{"expired": expired, "wrong secret": wrong, "unknown id": "zzzzzz." + strings.Repeat("a", 16)} {
		err := e.newClient(t, tok).Create(testCtx(t), testCSR(t, "x", v1.KubeAPIServerClientKubeletSignerName, "system:node:x", "system:nodes"))
		if v1.CodeOf(err) != http.StatusUnauthorized {
			t.Errorf("%s token: got %v, want 401", name, err)
		}
	}
	// An expired token extended by the admin works again; a bad hash is refused.
	var ext v1.BootstrapToken
	if err := e.admin.Get(testCtx(t), "bootstraptokens", "", expired[:6], &ext); err != nil {
		t.Fatal(err)
	}
	bad := v1.DeepCopy(&ext)
	bad.Spec.SecretHash = expired
	if err := e.admin.Update(testCtx(t), bad); !v1.IsInvalid(err) || !strings.Contains(err.Error(), "spec.secretHash") {
		t.Fatalf("a plain secret as the hash: %v", err)
	}
	later := v1.NewTime(time.Now().Add(time.Hour))
	ext.Spec.Expiration = &later
	if err := e.admin.Update(testCtx(t), &ext); err != nil {
		t.Fatal(err)
	}
	if err := e.newClient(t, expired).Create(testCtx(t), testCSR(t, "ext", v1.KubeAPIServerClientKubeletSignerName, "system:node:ext", "system:nodes")); err != nil {
		t.Fatalf("extended token: %v", err)
	}
	// The stored object holds no secret.
	var bt v1.BootstrapToken
	if err := e.admin.Get(testCtx(t), "bootstraptokens", "", good[:6], &bt); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(bt.Spec.SecretHash, good[7:]) || !strings.HasPrefix(bt.Spec.SecretHash, "sha256:") {
		t.Fatalf("stored %q", bt.Spec.SecretHash)
	}
}
