package sched

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"testing"
	"time"

	v1 "orch.io/orch/api/v1"
	"orch.io/orch/pki"
)

func nodeCSR(t *testing.T, name, cn, user string, groups ...string) *v1.CertificateSigningRequest {
	t.Helper()
	return signedCSR(t, name, v1.KubeAPIServerClientKubeletSignerName, cn, []string{v1.NodesGroup}, user, groups...)
}

func signedCSR(t *testing.T, name, signer, cn string, orgs []string, user string, groups ...string) *v1.CertificateSigningRequest {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return &v1.CertificateSigningRequest{ObjectMeta: v1.ObjectMeta{Name: name, UID: "uid-" + name},
		Spec: v1.CertificateSigningRequestSpec{Request: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}),
			SignerName: signer, Usages: []v1.KeyUsage{v1.UsageDigitalSignature, v1.UsageClientAuth}, Username: user, Groups: groups}}
}

func approved(c *v1.CertificateSigningRequest) *v1.CertificateSigningRequest {
	c.Status.Conditions = []v1.CertificateSigningRequestCondition{{Type: v1.CertificateApproved, Status: v1.ConditionTrue}}
	return c
}

func TestAutoApproval(t *testing.T) {
	exists := func(names ...string) func(string) bool {
		return func(n string) bool {
			for _, x := range names {
				if x == n {
					return true
				}
			}
			return false
		}
	}
	boot := []string{"system:bootstrappers", "system:authenticated"}
	for _, tc := range []struct {
		name   string
		csr    *v1.CertificateSigningRequest
		others []*v1.CertificateSigningRequest
		nodes  []string
		want   bool
	}{
		{"new node from a bootstrapper", nodeCSR(t, "a", "system:node:n1", "system:bootstrap:abcdef", boot...), nil, nil, true},
		{"existing node from a bootstrapper", nodeCSR(t, "a", "system:node:n1", "system:bootstrap:abcdef", boot...), nil, []string{"n1"}, false},
		{"existing node bootstrapped by the same token", nodeCSR(t, "a", "system:node:n1", "system:bootstrap:abcdef", boot...),
			[]*v1.CertificateSigningRequest{approved(nodeCSR(t, "old", "system:node:n1", "system:bootstrap:abcdef", boot...))}, []string{"n1"}, true},
		{"existing node bootstrapped by another token", nodeCSR(t, "a", "system:node:n1", "system:bootstrap:zzzzzz", boot...),
			[]*v1.CertificateSigningRequest{approved(nodeCSR(t, "old", "system:node:n1", "system:bootstrap:abcdef", boot...))}, []string{"n1"}, false},
		{"renewal by the node itself", nodeCSR(t, "a", "system:node:n1", "system:node:n1", v1.NodesGroup), nil, []string{"n1"}, true},
		{"renewal for another node", nodeCSR(t, "a", "system:node:n2", "system:node:n1", v1.NodesGroup), nil, []string{"n1", "n2"}, false},
		{"node name without system:nodes", nodeCSR(t, "a", "system:node:n1", "system:node:n1"), nil, nil, false},
		{"plain user", nodeCSR(t, "a", "system:node:n1", "alice", "dev"), nil, nil, false},
		{"user signer from a bootstrapper", signedCSR(t, "a", v1.KubeAPIServerClientSignerName, "system:node:n1", []string{v1.NodesGroup},
			"system:bootstrap:abcdef", boot...), nil, nil, false},
		{"masters from a bootstrapper", signedCSR(t, "a", v1.KubeAPIServerClientKubeletSignerName, "system:node:n1", []string{"system:masters"},
			"system:bootstrap:abcdef", boot...), nil, nil, false},
		{"already approved", approved(nodeCSR(t, "a", "system:node:n1", "system:bootstrap:abcdef", boot...)), nil, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got := AutoApproval(tc.csr, append(tc.others, tc.csr), exists(tc.nodes...))
			if got != tc.want {
				t.Fatalf("AutoApproval = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestSigningDuration(t *testing.T) {
	secs := func(n int32) *int32 { return &n }
	for _, tc := range []struct {
		exp  *int32
		max  time.Duration
		want time.Duration
	}{
		{nil, time.Hour, time.Hour},
		{secs(600), time.Hour, 10 * time.Minute},
		{secs(7200), time.Hour, time.Hour},
	} {
		c := &v1.CertificateSigningRequest{Spec: v1.CertificateSigningRequestSpec{ExpirationSeconds: tc.exp}}
		if got := SigningDuration(c, tc.max); got != tc.want {
			t.Errorf("SigningDuration(%v, %v) = %v, want %v", tc.exp, tc.max, got, tc.want)
		}
	}
}

// TestCSRApproveAndSign runs a pass of the approver and the signer over a
// real FSM: a new node's request is approved and signed for the
// configured duration; a user's waits; a forged approved request is failed.
func TestCSRApproveAndSign(t *testing.T) {
	p := newFakeProposer(t)
	dir := t.TempDir()
	if err := pki.Init(pki.InitOptions{Dir: dir, Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadClusterCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	p.create(t, nodeCSR(t, "node", "system:node:n1", "system:bootstrap:abcdef", "system:bootstrappers"))
	p.create(t, signedCSR(t, "user", v1.KubeAPIServerClientSignerName, "alice", []string{"dev"}, "system:bootstrap:abcdef", "system:bootstrappers"))
	// Approved by hand, but in the masters' group: stored by bypassing the
	// API's validation, it must still not be signed.
	forged := approved(signedCSR(t, "forged", v1.KubeAPIServerClientSignerName, "m", []string{pki.MasterOrganization}, "admin"))
	p.create(t, forged)
	now := time.Now()
	ctx := context.Background()
	if err := NewCSRApprover(CSRApprovingConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }}).Pass(ctx, p.store()); err != nil {
		t.Fatal(err)
	}
	g := NewCSRSigner(CSRSigningConfig{Store: p.store, Proposer: p, Signer: CASigner{CA: ca}, Duration: 2 * time.Minute, Now: func() time.Time { return now }})
	if err := g.Pass(ctx, p.store()); err != nil {
		t.Fatal(err)
	}
	get := func(name string) *v1.CertificateSigningRequest {
		r, err := p.store().Get("certificatesigningrequests", "", name)
		if err != nil {
			t.Fatal(err)
		}
		return r.Object().(*v1.CertificateSigningRequest)
	}
	node := get("node")
	if !node.HasCondition(v1.CertificateApproved) || len(node.Status.Certificate) == 0 {
		t.Fatalf("node CSR: %+v", node.Status)
	}
	block, _ := pem.Decode(node.Status.Certificate)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if life := cert.NotAfter.Sub(now); cert.Subject.CommonName != "system:node:n1" || life > 2*time.Minute || life < 2*time.Minute-2*time.Second {
		t.Fatalf("certificate %v until %v", cert.Subject, cert.NotAfter)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: poolOf(ca.Cert), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, CurrentTime: now}); err != nil {
		t.Fatalf("verify: %v", err)
	}
	if u := get("user"); u.HasCondition(v1.CertificateApproved) || len(u.Status.Certificate) > 0 {
		t.Fatalf("user CSR was approved or signed: %+v", u.Status)
	}
	if f := get("forged"); len(f.Status.Certificate) > 0 || !f.HasCondition(v1.CertificateFailed) {
		t.Fatalf("forged CSR: %+v", f.Status)
	}
	// A second pass changes nothing.
	before := get("node").ResourceVersion
	if err := g.Pass(ctx, p.store()); err != nil {
		t.Fatal(err)
	}
	if get("node").ResourceVersion != before {
		t.Fatal("a signed request was signed again")
	}
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

func TestCSRStale(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) v1.Time { return v1.NewTime(now.Add(-d)) }
	mk := func(created time.Duration, conds ...v1.CertificateSigningRequestCondition) *v1.CertificateSigningRequest {
		c := &v1.CertificateSigningRequest{ObjectMeta: v1.ObjectMeta{CreationTimestamp: at(created)}}
		c.Status.Conditions = conds
		return c
	}
	cond := func(t v1.RequestConditionType, ago time.Duration) v1.CertificateSigningRequestCondition {
		return v1.CertificateSigningRequestCondition{Type: t, Status: v1.ConditionTrue, LastUpdateTime: at(ago)}
	}
	for _, tc := range []struct {
		name string
		csr  *v1.CertificateSigningRequest
		want bool
	}{
		{"pending an hour", mk(time.Hour), false},
		{"pending a day", mk(24 * time.Hour), true},
		{"approved a minute ago", mk(2*time.Hour, cond(v1.CertificateApproved, time.Minute)), false},
		{"approved an hour ago", mk(2*time.Hour, cond(v1.CertificateApproved, time.Hour)), true},
		{"denied an hour ago", mk(2*time.Hour, cond(v1.CertificateDenied, time.Hour)), true},
		{"failed a minute ago", mk(2*time.Hour, cond(v1.CertificateFailed, time.Minute)), false},
	} {
		if got := CSRStale(tc.csr, now); got != tc.want {
			t.Errorf("%s: CSRStale = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestCSRCleanerDeletesOnlyStale runs a pass over a real FSM.
func TestCSRCleanerDeletesOnlyStale(t *testing.T) {
	p := newFakeProposer(t)
	now := time.Now()
	old := nodeCSR(t, "old", "system:node:n1", "system:node:n1", v1.NodesGroup)
	old.CreationTimestamp = v1.NewTime(now.Add(-25 * time.Hour))
	fresh := nodeCSR(t, "fresh", "system:node:n1", "system:node:n1", v1.NodesGroup)
	fresh.CreationTimestamp = v1.NewTime(now)
	p.create(t, old)
	p.create(t, fresh)
	c := NewCSRCleaner(CSRCleaningConfig{Store: p.store, Proposer: p, Now: func() time.Time { return now }})
	if err := c.Pass(context.Background(), p.store()); err != nil {
		t.Fatal(err)
	}
	if _, err := p.store().Get("certificatesigningrequests", "", "old"); !v1.IsNotFound(err) {
		t.Fatalf("stale request kept: %v", err)
	}
	if _, err := p.store().Get("certificatesigningrequests", "", "fresh"); err != nil {
		t.Fatalf("fresh request: %v", err)
	}
}
