package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"orch.io/orch/api/client"
	v1 "orch.io/orch/api/v1"
	"orch.io/orch/node/certificate"
	"orch.io/orch/test/harness"
)

// csrs lists the certificate signing requests.
func csrs(t *testing.T, cl *client.Client) []v1.CertificateSigningRequest {
	t.Helper()
	items, _, err := client.ListTyped[v1.CertificateSigningRequest](ctxT(t, 5*time.Second), cl, "certificatesigningrequests", "", client.ListOptions{})
	if err != nil {
		t.Fatalf("list certificatesigningrequests: %v", err)
	}
	return items
}

// waitReady waits until node name is Ready and returns it.
func waitReady(t *testing.T, cl *client.Client, name string, timeout time.Duration) *v1.Node {
	t.Helper()
	var nd v1.Node
	waitFor(t, timeout, "node "+name+" Ready", func() (bool, string) {
		if err := cl.Get(ctxT(t, 5*time.Second), "nodes", "", name, &nd); err != nil {
			return false, err.Error()
		}
		c := nd.Status.Condition(v1.NodeReady)
		return c != nil && c.Status == v1.ConditionTrue && nd.Spec.PodCIDR != "", fmt.Sprintf("%+v", c)
	})
	return &nd
}

// runPodOn creates a pod bound to node and waits until it runs.
func runPodOn(t *testing.T, cl *client.Client, node, name string) {
	t.Helper()
	p := &v1.Pod{ObjectMeta: v1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: v1.PodSpec{NodeName: node, Containers: []v1.Container{{Name: "c", Image: "busybox:1.35", Command: []string{"sleep", "3600"}}}}}
	if err := cl.Create(ctxT(t, 10*time.Second), p); err != nil {
		t.Fatalf("create pod %s: %v", name, err)
	}
	waitFor(t, 60*time.Second, "pod "+name+" Running on "+node, func() (bool, string) {
		var got v1.Pod
		if err := cl.Get(ctxT(t, 5*time.Second), "pods", "default", name, &got); err != nil {
			return false, err.Error()
		}
		return got.Status.Phase == v1.PodRunning, string(got.Status.Phase)
	})
}

// nodeCert reads the certificate a node keeps in its state directory and
// checks the file's mode.
func nodeCert(t *testing.T, nd *harness.Node) *x509.Certificate {
	t.Helper()
	path := filepath.Join(nd.StateDir, "pki", certificate.FileName)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("node certificate: %v", err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s has mode %v, want 0600", path, fi.Mode().Perm())
	}
	raw, _ := os.ReadFile(path)
	block, _ := pem.Decode(raw)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("%s does not start with a certificate", path)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// csrPEM makes a PEM certificate request for cn in orgs.
func csrPEM(t *testing.T, cn string, orgs ...string) []byte {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn, Organization: orgs}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func kubeletCSR(t *testing.T, name, cn string, orgs ...string) *v1.CertificateSigningRequest {
	return &v1.CertificateSigningRequest{ObjectMeta: v1.ObjectMeta{Name: name},
		Spec: v1.CertificateSigningRequestSpec{Request: csrPEM(t, cn, orgs...), SignerName: v1.KubeAPIServerClientKubeletSignerName,
			Usages: []v1.KeyUsage{v1.UsageDigitalSignature, v1.UsageClientAuth}}}
}

// TestNodeTLSBootstrap: a node started with a bootstrap token gets its own
// certificate (auto-approved, signed by the leader), registers and runs
// pods with it, and restarts from it after the token is gone; forged
// requests of a bootstrap token are refused or left pending.
func TestNodeTLSBootstrap(t *testing.T) {
	parallel(t)
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network})
	admin := c.Client()
	tok := c.CreateBootstrapToken(time.Hour)
	id, _, _ := v1.ParseBootstrapToken(tok)
	nd := c.StartBootstrapNode(network, "boot-1", tok, "--heartbeat-interval", "1s", "--resync-interval", "2s")
	waitReady(t, admin, "boot-1", 90*time.Second)

	var mine *v1.CertificateSigningRequest
	for _, r := range csrs(t, admin) {
		if r.Spec.Username == "system:bootstrap:"+id {
			mine = &r
		}
	}
	if mine == nil || !mine.HasCondition(v1.CertificateApproved) || len(mine.Status.Certificate) == 0 {
		t.Fatalf("the node's CSR is not approved and signed: %+v", mine)
	}
	if got := mine.Spec.Groups; !strings.Contains(strings.Join(got, ","), "system:bootstrappers") {
		t.Fatalf("CSR groups %v lack system:bootstrappers", got)
	}
	cert := nodeCert(t, nd)
	if cert.Subject.CommonName != "system:node:boot-1" || strings.Join(cert.Subject.Organization, ",") != "system:nodes" {
		t.Fatalf("node certificate subject %v", cert.Subject)
	}
	runPodOn(t, admin, "boot-1", "boot-pod-1")

	// The token goes; the node restarts from its own certificate.
	if out, errOut, err := c.Orchctl("", "token", "delete", id); err != nil {
		t.Fatalf("token delete: %v\n%s%s", err, out, errOut)
	}
	nd.Kill()
	nd.Start()
	runPodOn(t, admin, "boot-1", "boot-pod-2")

	// Forgeries, with a second token.
	out, errOut, err := c.Orchctl("", "token", "create", "--ttl", "1h", "--description", "forgery")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, errOut)
	}
	tok2 := strings.TrimSpace(out)
	if _, _, err := v1.ParseBootstrapToken(tok2); err != nil {
		t.Fatalf("token create printed %q: %v", out, err)
	}
	if out, _, err := c.Orchctl("", "token", "list"); err != nil || !strings.Contains(out, tok2[:6]) || !strings.Contains(out, "forgery") ||
		strings.Contains(out, tok2[7:]) || strings.Contains(out, id) {
		t.Fatalf("token list: %v\n%s", err, out)
	}
	bcfg := c.Config()
	bcfg.Token = tok2
	boot, err := client.New(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer boot.CloseIdleConnections()
	// A bootstrapper may only handle CSRs.
	var nodes v1.List[v1.Node]
	if err := boot.Do(ctxT(t, 5*time.Second), "GET", "/api/v1/nodes", nil, nil, &nodes); v1.CodeOf(err) != 403 {
		t.Fatalf("a bootstrap token listed nodes: %v", err)
	}
	// O=system:masters through the kubelet signer: refused at create.
	if err := boot.Create(ctxT(t, 5*time.Second), kubeletCSR(t, "forged-masters", "system:node:x", "system:masters")); !v1.IsInvalid(err) {
		t.Fatalf("kubelet CSR for system:masters: got %v, want 422", err)
	}
	// Another existing node's name: created, never approved.
	steal := kubeletCSR(t, "forged-steal", "system:node:boot-1", "system:nodes")
	steal.Spec.Username, steal.Spec.Groups = "admin", []string{"system:masters"}
	if err := boot.Create(ctxT(t, 5*time.Second), steal); err != nil {
		t.Fatalf("create forged CSR: %v", err)
	}
	if steal.Spec.Username != "system:bootstrap:"+tok2[:6] || strings.Contains(strings.Join(steal.Spec.Groups, ","), "system:masters") {
		t.Fatalf("the server kept the requester fields of the body: %q %v", steal.Spec.Username, steal.Spec.Groups)
	}
	// A user certificate for system:masters asked by a bootstrapper: pending.
	masters := &v1.CertificateSigningRequest{ObjectMeta: v1.ObjectMeta{Name: "forged-user"},
		Spec: v1.CertificateSigningRequestSpec{Request: csrPEM(t, "mallory", "system:masters"), SignerName: v1.KubeAPIServerClientSignerName,
			Usages: []v1.KeyUsage{v1.UsageDigitalSignature, v1.UsageClientAuth}}}
	if err := boot.Create(ctxT(t, 5*time.Second), masters); err != nil {
		t.Fatalf("create user CSR: %v", err)
	}
	// A bootstrapper may not approve its own request.
	if out, _, err := c.Orchctl("", "--token", tok2, "certificate", "approve", "forged-user"); err == nil {
		t.Fatalf("a bootstrap token approved a CSR: %s", out)
	}
	// A node reinstalled under a taken name asks again: like the steal,
	// left to the admin.
	if err := boot.Create(ctxT(t, 5*time.Second), kubeletCSR(t, "reinstall", "system:node:boot-1", "system:nodes")); err != nil {
		t.Fatalf("create the reinstalled node's CSR: %v", err)
	}
	// A legitimate request made after them: once it is approved, the
	// approver has looked at the forgeries too.
	if err := boot.Create(ctxT(t, 5*time.Second), kubeletCSR(t, "sentinel", "system:node:not-yet-registered", "system:nodes")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "sentinel CSR approved", func() (bool, string) {
		var s v1.CertificateSigningRequest
		if err := admin.Get(ctxT(t, 5*time.Second), "certificatesigningrequests", "", "sentinel", &s); err != nil {
			return false, err.Error()
		}
		return s.HasCondition(v1.CertificateApproved) && len(s.Status.Certificate) > 0, fmt.Sprintf("%+v", s.Status.Conditions)
	})
	for _, name := range []string{"forged-steal", "forged-user", "reinstall"} {
		var f v1.CertificateSigningRequest
		if err := admin.Get(ctxT(t, 5*time.Second), "certificatesigningrequests", "", name, &f); err != nil {
			t.Fatal(err)
		}
		if f.HasCondition(v1.CertificateApproved) || len(f.Status.Certificate) > 0 {
			t.Fatalf("forged CSR %s was approved or signed: %+v", name, f.Status)
		}
	}
	// The admin can deny it.
	if out, errOut, err := c.Orchctl("", "certificate", "deny", "forged-steal"); err != nil || !strings.Contains(out, "denied") {
		t.Fatalf("certificate deny: %v %s%s", err, out, errOut)
	}
	if out, _, err := c.Orchctl("", "get", "csr"); err != nil || !strings.Contains(out, "Denied") || !strings.Contains(out, "Approved,Issued") {
		t.Fatalf("get csr: %v\n%s", err, out)
	}
	if out, _, err := c.Orchctl("", "describe", "csr", "forged-steal"); err != nil || !strings.Contains(out, "system:bootstrap:"+tok2[:6]) ||
		!strings.Contains(out, "Common Name:") || !strings.Contains(out, "system:node:boot-1") {
		t.Fatalf("describe csr: %v\n%s", err, out)
	}
	var denied v1.CertificateSigningRequest
	if err := admin.Get(ctxT(t, 5*time.Second), "certificatesigningrequests", "", "forged-steal", &denied); err != nil || !denied.HasCondition(v1.CertificateDenied) {
		t.Fatalf("forged-steal not denied: %v %+v", err, denied.Status)
	}

	// The admin approves the reinstalled node's request; the leader signs it.
	if out, errOut, err := c.Orchctl("", "certificate", "approve", "reinstall"); err != nil || !strings.Contains(out, "approved") {
		t.Fatalf("certificate approve: %v %s%s", err, out, errOut)
	}
	waitFor(t, 30*time.Second, "the approved CSR signed", func() (bool, string) {
		var r v1.CertificateSigningRequest
		if err := admin.Get(ctxT(t, 5*time.Second), "certificatesigningrequests", "", "reinstall", &r); err != nil {
			return false, err.Error()
		}
		block, _ := pem.Decode(r.Status.Certificate)
		if !r.HasCondition(v1.CertificateApproved) || block == nil {
			return false, fmt.Sprintf("%+v", r.Status.Conditions)
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return false, err.Error()
		}
		if cert.Subject.CommonName != "system:node:boot-1" || strings.Join(cert.Subject.Organization, ",") != "system:nodes" {
			t.Fatalf("the approved certificate is for %v", cert.Subject)
		}
		return true, ""
	})

	// A user made by the admin authenticates with its certificate.
	conf := filepath.Join(t.TempDir(), "alice.conf")
	if out, errOut, err := c.Orchctl("", "user", "create", "alice", "--group", "dev", "--expiration", "1h", "-o", conf); err != nil {
		t.Fatalf("user create: %v\n%s%s", err, out, errOut)
	}
	ucfg, err := client.LoadConfig(conf)
	if err != nil || len(ucfg.ClientCertificateData) == 0 || ucfg.Token != "" {
		t.Fatalf("user config: %v %+v", err, ucfg)
	}
	alice, err := client.New(ucfg)
	if err != nil {
		t.Fatal(err)
	}
	defer alice.CloseIdleConnections()
	err = alice.Do(ctxT(t, 5*time.Second), "GET", "/api/v1/nodes", nil, nil, &nodes)
	if v1.CodeOf(err) != 403 || !strings.Contains(err.Error(), `User "alice"`) {
		t.Fatalf("alice listing nodes: got %v, want 403 naming alice", err)
	}
}

// TestNodeCertificateRenewal is done-when 4a: with certificates of one
// minute, a node renews its certificate with itself three times and keeps
// working: its Lease keeps being renewed and new pods start on it.
func TestNodeCertificateRenewal(t *testing.T) {
	parallel(t)
	network := harness.NewNet(t)
	c := startCluster(t, harness.Options{Net: network, MasterArgs: []string{"--cluster-signing-duration", "1m"}})
	admin := c.Client()
	tok := c.CreateBootstrapToken(time.Hour)
	nd := c.StartBootstrapNode(network, "renew-1", tok, "--heartbeat-interval", "1s", "--resync-interval", "2s")
	waitReady(t, admin, "renew-1", 90*time.Second)
	first := nodeCert(t, nd)
	if life := first.NotAfter.Sub(time.Now()); life > time.Minute+5*time.Second {
		t.Fatalf("the certificate is valid for %v more, want at most 1m", life)
	}
	serials := map[string]bool{first.SerialNumber.String(): true}
	for renewal := 1; renewal <= 3; renewal++ {
		waitFor(t, 90*time.Second, fmt.Sprintf("renewal %d", renewal), func() (bool, string) {
			cur := nodeCert(t, nd)
			return !serials[cur.SerialNumber.String()], "serial " + cur.SerialNumber.String()
		})
		cur := nodeCert(t, nd)
		serials[cur.SerialNumber.String()] = true
		// The renewal was asked by the node itself. (The CSR cleaner
		// deletes requests whose certificates have expired, so only the
		// current one is looked for.)
		requester := ""
		waitFor(t, 10*time.Second, "the CSR of the current certificate", func() (bool, string) {
			for _, r := range csrs(t, admin) {
				if block, _ := pem.Decode(r.Status.Certificate); block != nil {
					if c, err := x509.ParseCertificate(block.Bytes); err == nil && c.SerialNumber.Cmp(cur.SerialNumber) == 0 {
						requester = r.Spec.Username
						return true, ""
					}
				}
			}
			return false, "not found"
		})
		if requester != "system:node:renew-1" {
			t.Fatalf("renewal %d was requested by %q", renewal, requester)
		}
		runPodOn(t, admin, "renew-1", fmt.Sprintf("renew-pod-%d", renewal))
		t.Logf("renewal %d: new certificate until %v", renewal, cur.NotAfter)
	}
	// After the first certificates expired, the node still reports: its
	// Lease (the heartbeat; the Node itself is written only on change)
	// is renewed with the current certificate.
	lease := func() (*v1.Lease, error) {
		var l v1.Lease
		err := admin.Get(ctxT(t, 5*time.Second), "leases", v1.NodeLeaseNamespace, "renew-1", &l)
		return &l, err
	}
	before, err := lease()
	if err != nil || before.Spec.RenewTime == nil {
		t.Fatalf("the node's lease: %v %+v", err, before.Spec)
	}
	waitFor(t, 30*time.Second, "a newer lease renewal", func() (bool, string) {
		l, err := lease()
		if err != nil {
			return false, err.Error()
		}
		if l.Spec.RenewTime == nil {
			return false, "no renewTime"
		}
		return l.Spec.RenewTime.After(before.Spec.RenewTime.Time), l.Spec.RenewTime.String()
	})
	waitReady(t, admin, "renew-1", 10*time.Second)
	if time.Now().Before(first.NotAfter) {
		t.Fatalf("the test ended before the first certificate expired (%v)", first.NotAfter)
	}
}
