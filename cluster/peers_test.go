package cluster

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"orch.io/orch/pki"
)

// testIssuer is a CA (root or intermediate) made in memory for peer checks.
type testIssuer struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
}

func newTestCert(t *testing.T, tmpl *x509.Certificate, parent *testIssuer) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = big.NewInt(time.Now().UnixNano())
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(time.Hour)
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}

func newTestCA(t *testing.T, parent *testIssuer, eku ...x509.ExtKeyUsage) *testIssuer {
	c, k := newTestCert(t, &x509.Certificate{Subject: pkix.Name{CommonName: "ca"}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, ExtKeyUsage: eku, MaxPathLenZero: parent != nil}, parent)
	return &testIssuer{cert: c, key: k}
}

func masterLeaf(t *testing.T, issuer *testIssuer, cn string, change func(*x509.Certificate)) *x509.Certificate {
	tmpl := &x509.Certificate{Subject: pkix.Name{CommonName: cn, Organization: []string{pki.MasterOrganization}},
		DNSNames: []string{cn}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	if change != nil {
		change(tmpl)
	}
	c, _ := newTestCert(t, tmpl, issuer)
	return c
}

func TestCheckPeer(t *testing.T) {
	root := newTestCA(t, nil)
	signer := newTestCA(t, root, x509.ExtKeyUsageClientAuth)
	// An intermediate without key-usage limits: still not the root.
	inter := newTestCA(t, root)
	other := newTestCA(t, nil)
	roots := x509.NewCertPool()
	roots.AddCert(root.cert)
	conf := raft.Configuration{Servers: []raft.Server{
		{ID: "m1", Address: "127.0.0.1:7001"}, {ID: "m2", Address: "127.0.0.1:7002"}, {ID: "m3", Address: "127.0.0.1:7003"}}}

	m1 := masterLeaf(t, root, "m1", nil)
	p := &peerCheck{roots: roots}
	for _, tc := range []struct {
		name  string
		certs []*x509.Certificate
		conf  raft.Configuration
		want  string // server the dialer means to reach
		err   string // "" = accepted
	}{
		{"member accepted", []*x509.Certificate{m1}, conf, "", ""},
		{"member dialed by its name", []*x509.Certificate{m1}, conf, "m1", ""},
		{"member at another member's address", []*x509.Certificate{m1}, conf, "m2", `certificate of master "m1", not of "m2"`},
		{"foreign name", []*x509.Certificate{masterLeaf(t, root, "mallory", nil)}, conf, "", "names no server of the raft configuration"},
		{"foreign name dialed as a member", []*x509.Certificate{masterLeaf(t, root, "mallory", nil)}, conf, "m3", `"mallory", not of "m3"`},
		{"joining master without configuration accepts a master", []*x509.Certificate{masterLeaf(t, root, "mallory", nil)}, raft.Configuration{}, "", ""},
		{"issued by the client signer", []*x509.Certificate{masterLeaf(t, signer, "m2", nil), signer.cert}, conf, "", "not issued directly by the cluster CA"},
		{"issued by an intermediate", []*x509.Certificate{masterLeaf(t, inter, "m2", nil), inter.cert}, conf, "", "not issued directly by the cluster CA"},
		{"issued by another CA", []*x509.Certificate{masterLeaf(t, other, "m2", nil)}, conf, "", "not issued directly by the cluster CA"},
		{"not a master organization", []*x509.Certificate{masterLeaf(t, root, "m2", func(c *x509.Certificate) {
			c.Subject.Organization = []string{"orch:nodes"}
		})}, conf, "", "not a master certificate"},
		{"client auth only", []*x509.Certificate{masterLeaf(t, root, "m2", func(c *x509.Certificate) {
			c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
		})}, conf, "", "lacks extended key usage ServerAuth"},
		{"no extended key usage", []*x509.Certificate{masterLeaf(t, root, "m2", func(c *x509.Certificate) {
			c.ExtKeyUsage = nil
		})}, conf, "", "lacks extended key usage ServerAuth"},
		{"name not a DNS name", []*x509.Certificate{masterLeaf(t, root, "m2", func(c *x509.Certificate) {
			c.DNSNames = []string{"m3"}
		})}, conf, "", "does not name its master as a DNS name"},
		{"DNS name alone", []*x509.Certificate{masterLeaf(t, root, "", func(c *x509.Certificate) {
			c.DNSNames = []string{"m2"}
		})}, conf, "", "does not name its master as a DNS name"},
		{"expired", []*x509.Certificate{masterLeaf(t, root, "m2", func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().Add(-2*time.Hour), time.Now().Add(-time.Hour)
		})}, conf, "", "expired"},
		{"a CA certificate", []*x509.Certificate{masterLeaf(t, root, "m2", func(c *x509.Certificate) {
			c.IsCA, c.BasicConstraintsValid, c.KeyUsage = true, true, x509.KeyUsageCertSign
		})}, conf, "", "is a CA certificate"},
		{"no certificate", nil, conf, "", "no certificate presented"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Twice through one cache: a verdict is the same whether the
			// certificate was seen before or not.
			for round := 0; round < 2; round++ {
				_, err := checkPeer(p.verifyMaster, tc.certs, tc.conf, tc.want)
				if tc.err == "" {
					if err != nil {
						t.Fatalf("round %d: refused: %v", round, err)
					}
					continue
				}
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("round %d: err %v, want one containing %q", round, err, tc.err)
				}
			}
		})
	}
}

// TestVerifiedCertsHonourValidity: a certificate verified while valid is
// not taken from the cache outside its validity, and the cache stays
// bounded.
func TestVerifiedCertsHonourValidity(t *testing.T) {
	root := newTestCA(t, nil)
	leaf := masterLeaf(t, root, "m1", nil)
	var v verifiedCerts
	v.add(leaf, "m1")
	for _, tc := range []struct {
		name string
		now  time.Time
		hit  bool
	}{
		{"within validity", time.Now(), true},
		{"after NotAfter", leaf.NotAfter.Add(time.Second), false},
		{"before NotBefore", leaf.NotBefore.Add(-time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if name, ok := v.lookup(leaf, tc.now); ok != tc.hit || (ok && name != "m1") {
				t.Fatalf("lookup = %q, %v; want hit %v", name, ok, tc.hit)
			}
		})
	}
	for i := 0; i < 3*maxVerified; i++ {
		v.add(&x509.Certificate{Raw: []byte{byte(i), byte(i >> 8)}}, "x")
	}
	if n := len(v.names); n > maxVerified {
		t.Fatalf("cache holds %d certificates, bound %d", n, maxVerified)
	}
}
