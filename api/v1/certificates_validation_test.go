package v1

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"net"
	"strings"
	"testing"
)

func csrFor(t *testing.T, signer string, tmpl x509.CertificateRequest, usages ...KeyUsage) *CertificateSigningRequest {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	if usages == nil {
		usages = []KeyUsage{UsageDigitalSignature, UsageClientAuth}
	}
	return &CertificateSigningRequest{ObjectMeta: ObjectMeta{Name: "r"}, Spec: CertificateSigningRequestSpec{
		Request: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), SignerName: signer, Usages: usages}}
}

func TestValidateCSR(t *testing.T) {
	node := x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:n1", Organization: []string{NodesGroup}}}
	kubelet := KubeAPIServerClientKubeletSignerName
	for _, tc := range []struct {
		name string
		csr  *CertificateSigningRequest
		want string
	}{
		{"node", csrFor(t, kubelet, node), ""},
		{"node with key encipherment", csrFor(t, kubelet, node, UsageDigitalSignature, UsageKeyEncipherment, UsageClientAuth), ""},
		{"node without client auth", csrFor(t, kubelet, node, UsageDigitalSignature), "usages did not match"},
		{"node with server auth", csrFor(t, kubelet, node, UsageDigitalSignature, UsageClientAuth, UsageServerAuth), "usages did not match"},
		{"node in two groups", csrFor(t, kubelet, x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:n1",
			Organization: []string{NodesGroup, "system:masters"}}}), "subject organization is not system:nodes"},
		{"node without name", csrFor(t, kubelet, x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:",
			Organization: []string{NodesGroup}}}), "subject common name does not begin with system:node:"},
		{"node with IP SAN", csrFor(t, kubelet, x509.CertificateRequest{Subject: node.Subject, IPAddresses: []net.IP{net.IPv4(10, 0, 0, 1)}}),
			"IP subjectAltNames are not allowed"},
		{"node with DNS SAN", csrFor(t, kubelet, x509.CertificateRequest{Subject: node.Subject, DNSNames: []string{"n1"}}),
			"DNS subjectAltNames are not allowed"},
		{"user", csrFor(t, KubeAPIServerClientSignerName, x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice", Organization: []string{"dev"}}}), ""},
		{"user in system:masters", csrFor(t, KubeAPIServerClientSignerName, x509.CertificateRequest{Subject: pkix.Name{CommonName: "alice",
			Organization: []string{"system:masters"}}}), ""},
		{"user as a master", csrFor(t, KubeAPIServerClientSignerName, x509.CertificateRequest{Subject: pkix.Name{CommonName: "m",
			Organization: []string{"orch:masters"}}}), `"orch:masters" is reserved`},
		{"master through another signer", csrFor(t, "example.com/mine", x509.CertificateRequest{Subject: pkix.Name{CommonName: "m",
			Organization: []string{"orch:masters"}}}), `"orch:masters" is reserved`},
		{"user without name", csrFor(t, KubeAPIServerClientSignerName, x509.CertificateRequest{}), "subject common name is required"},
		{"bad signer", csrFor(t, "nodomain", node), "must be a fully qualified domain and path"},
		{"one-segment domain", csrFor(t, "local/x", node), "at least two segments"},
		{"no usages", func() *CertificateSigningRequest {
			c := csrFor(t, "example.com/x", node)
			c.Spec.Usages = nil
			return c
		}(), "spec.usages: Required value: usages must be provided"},
		{"duplicate usage", csrFor(t, "example.com/x", node, UsageClientAuth, UsageClientAuth), "spec.usages[1]: Duplicate value"},
		{"approved false", func() *CertificateSigningRequest {
			c := csrFor(t, kubelet, node)
			c.Status.Conditions = []CertificateSigningRequestCondition{{Type: CertificateApproved, Status: ConditionFalse}}
			return c
		}(), `status.conditions[0].status: Unsupported value: "False"`},
		{"duplicate condition", func() *CertificateSigningRequest {
			c := csrFor(t, kubelet, node)
			c.Status.Conditions = []CertificateSigningRequestCondition{{Type: CertificateFailed, Status: ConditionTrue}, {Type: CertificateFailed, Status: ConditionTrue}}
			return c
		}(), "status.conditions[1].type: Duplicate value"},
		{"junk certificate", func() *CertificateSigningRequest {
			c := csrFor(t, kubelet, node)
			c.Status.Certificate = []byte("junk")
			return c
		}(), "must contain at least one CERTIFICATE PEM block"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Validate(tc.csr)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

func TestCSRStatusUpdates(t *testing.T) {
	base := csrFor(t, KubeAPIServerClientKubeletSignerName, x509.CertificateRequest{Subject: pkix.Name{CommonName: "system:node:n1", Organization: []string{NodesGroup}}})
	approved := DeepCopy(base)
	approved.Status.Conditions = []CertificateSigningRequestCondition{{Type: CertificateApproved, Status: ConditionTrue}}
	if err := ValidateCSRApprovalUpdate(approved, base); err != nil {
		t.Fatalf("approve: %v", err)
	}
	if err := ValidateCSRApprovalUpdate(base, approved); err == nil || !strings.Contains(err.Error(), `may not remove a condition of type "Approved"`) {
		t.Fatalf("unapprove: %v", err)
	}
	denied := DeepCopy(base)
	denied.Status.Conditions = []CertificateSigningRequestCondition{{Type: CertificateDenied, Status: ConditionTrue}}
	if err := ValidateCSRApprovalUpdate(denied, approved); err == nil {
		t.Fatal("an approved request was denied")
	}
}
