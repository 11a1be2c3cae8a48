package pki

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func loadLeaf(t *testing.T, dir, name string) *x509.Certificate {
	t.Helper()
	c, err := readCert(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestIssueMaster(t *testing.T) {
	dir := initDir(t)
	if err := IssueMaster(IssueMasterOptions{Dir: dir, Name: "m4", Hosts: []string{"10.0.0.4", "m4.example", " "}, Validity: 48 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	c := loadLeaf(t, dir, MasterCertFile("m4"))
	if c.Subject.CommonName != "m4" || !slices.Equal(c.Subject.Organization, []string{MasterOrganization}) {
		t.Fatalf("subject %v", c.Subject)
	}
	if !slices.Equal(c.DNSNames, []string{"m4", "m4.example"}) || len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("10.0.0.4")) {
		t.Fatalf("names %v %v", c.DNSNames, c.IPAddresses)
	}
	if !slices.Equal(c.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) || c.IsCA {
		t.Fatalf("usage %v, CA %v", c.ExtKeyUsage, c.IsCA)
	}
	if d := time.Until(c.NotAfter); d < 47*time.Hour || d > 48*time.Hour {
		t.Fatalf("valid for %v more, want 48h", d)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := VerifyMasterCertificate(b.CAPool, []*x509.Certificate{c}); err != nil || name != "m4" {
		t.Fatalf("VerifyMasterCertificate: %q, %v", name, err)
	}
	for _, fn := range []string{MasterCertFile("m4"), MasterKeyFile("m4")} {
		if fi, err := os.Stat(filepath.Join(dir, fn)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", fn, fi, err)
		}
	}
}

func TestIssueRefusals(t *testing.T) {
	dir := initDir(t)
	offline := t.TempDir() // a master's directory: no ca.key
	for _, f := range []string{CACert, MasterCertFile("m1"), MasterKeyFile("m1"), AdminToken, GossipKey} {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(offline, f), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		run  func() error
		want string
	}{
		{"name with capitals", func() error { return IssueMaster(IssueMasterOptions{Dir: dir, Name: "M1"}) }, "RFC 1123"},
		{"empty name", func() error { return IssueMaster(IssueMasterOptions{Dir: dir, Name: ""}) }, "RFC 1123"},
		{"negative validity", func() error { return IssueMaster(IssueMasterOptions{Dir: dir, Name: "m5", Validity: -time.Hour}) }, "negative"},
		{"no CA key", func() error { return IssueMaster(IssueMasterOptions{Dir: offline, Name: "m5"}) }, "where the CA key is kept"},
		{"renew without CA key", func() error { return RenewMaster(offline, "m1", 0) }, "where the CA key is kept"},
		{"renew an unknown master", func() error { return RenewMaster(dir, "m9", 0) }, "no such file"},
		{"signer without CA key", func() error { return IssueSigner(offline, 0) }, "where the CA key is kept"},
		{"init with a bad name", func() error {
			return Init(InitOptions{Dir: t.TempDir(), Hosts: []string{"h"}, Masters: []string{"a_b"}})
		}, "RFC 1123"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.run(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(dir, MasterCertFile("M1"))); err == nil {
		t.Fatal("a refused issue wrote a certificate")
	}
	// The master's directory without ca.key is all a master needs.
	b, err := LoadMaster(offline, "m1")
	if err != nil {
		t.Fatalf("load a master directory without ca.key: %v", err)
	}
	for _, f := range []func() (*tls.Config, error){b.APIServerTLS, b.PeerServerTLS, b.PeerClientTLS} {
		if _, err := f(); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRenewMasterKeepsNamesAndExtendsValidity(t *testing.T) {
	dir := initDir(t)
	old := loadLeaf(t, dir, MasterCertFile("m2"))
	oldKey, err := os.ReadFile(filepath.Join(dir, MasterKeyFile("m2")))
	if err != nil {
		t.Fatal(err)
	}
	if err := RenewMaster(dir, "m2", 3*365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	c := loadLeaf(t, dir, MasterCertFile("m2"))
	if c.SerialNumber.Cmp(old.SerialNumber) == 0 || !c.NotAfter.After(old.NotAfter.Add(365*24*time.Hour)) {
		t.Fatalf("renewed certificate: serial %v (was %v), NotAfter %v (was %v)", c.SerialNumber, old.SerialNumber, c.NotAfter, old.NotAfter)
	}
	if c.Subject.String() != old.Subject.String() || !slices.Equal(c.DNSNames, old.DNSNames) ||
		!slices.EqualFunc(c.IPAddresses, old.IPAddresses, net.IP.Equal) {
		t.Fatalf("renewed names %v %v %v, were %v %v %v", c.Subject, c.DNSNames, c.IPAddresses, old.Subject, old.DNSNames, old.IPAddresses)
	}
	newKey, err := os.ReadFile(filepath.Join(dir, MasterKeyFile("m2")))
	if err != nil {
		t.Fatal(err)
	}
	if string(newKey) == string(oldKey) {
		t.Fatal("renewal kept the old key")
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(dir, MasterCertFile("m2")), filepath.Join(dir, MasterKeyFile("m2"))); err != nil {
		t.Fatalf("renewed pair does not load: %v", err)
	}
	// A renewal is capped by the CA's own expiry.
	if err := RenewMaster(dir, "m2", 50*365*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	ca := loadLeaf(t, dir, CACert)
	if c := loadLeaf(t, dir, MasterCertFile("m2")); c.NotAfter.After(ca.NotAfter) {
		t.Fatalf("master certificate outlives the CA: %v > %v", c.NotAfter, ca.NotAfter)
	}
}

func TestSignerIsAClientOnlyIntermediateAndItsLeavesAreNoMasters(t *testing.T) {
	dir := initDir(t)
	if err := IssueSigner(dir, 0); err != nil {
		t.Fatal(err)
	}
	s := loadLeaf(t, dir, SignerCert)
	if !s.IsCA || !s.BasicConstraintsValid || s.MaxPathLen != 0 || !s.MaxPathLenZero ||
		s.KeyUsage&x509.KeyUsageCertSign == 0 || !slices.Equal(s.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}) {
		t.Fatalf("signer: CA %v pathlen %d zero %v usage %v ext %v", s.IsCA, s.MaxPathLen, s.MaxPathLenZero, s.KeyUsage, s.ExtKeyUsage)
	}
	b, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Verify(x509.VerifyOptions{Roots: b.CAPool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("signer does not chain to the root: %v", err)
	}
	// The attack: a certificate shaped like master m1's, signed by the
	// signer (which the leader uses for nodes' and users' certificates),
	// sent with its chain.
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, SignerCert), filepath.Join(dir, SignerKey))
	if err != nil {
		t.Fatal(err)
	}
	forged := &rootCA{cert: pair.Leaf, key: pair.PrivateKey}
	fdir := t.TempDir()
	if err := forged.issueMaster(fdir, "m1", []string{"127.0.0.1"}, time.Hour, time.Now()); err != nil {
		t.Fatal(err)
	}
	leaf := loadLeaf(t, fdir, MasterCertFile("m1"))
	_, err = VerifyMasterCertificate(b.CAPool, []*x509.Certificate{leaf, pair.Leaf})
	if err == nil || !strings.Contains(err.Error(), "not issued directly by the cluster CA") {
		t.Fatalf("a master certificate issued by the signer: err %v, want refused", err)
	}
	// The same leaf from the root is accepted.
	if name, err := VerifyMasterCertificate(b.CAPool, []*x509.Certificate{loadLeaf(t, dir, MasterCertFile("m1"))}); err != nil || name != "m1" {
		t.Fatalf("root-issued m1: %q %v", name, err)
	}
}
