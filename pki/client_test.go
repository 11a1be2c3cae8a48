package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"strings"
	"testing"
	"time"
)

func TestSignClient(t *testing.T) {
	dir := t.TempDir()
	if err := Init(InitOptions{Dir: dir, Hosts: []string{"127.0.0.1"}}); err != nil {
		t.Fatal(err)
	}
	ca, err := LoadClusterCA(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct {
		name    string
		spec    ClientCertificate
		wantErr string
	}{
		{"node", ClientCertificate{CommonName: "system:node:n1", Organizations: []string{"system:nodes"}, Validity: time.Hour}, ""},
		{"user with groups", ClientCertificate{CommonName: "alice", Organizations: []string{"dev", "ops"}, Validity: time.Hour}, ""},
		{"no name", ClientCertificate{Validity: time.Hour}, "common name"},
		{"master organization", ClientCertificate{CommonName: "m", Organizations: []string{MasterOrganization}, Validity: time.Hour}, "reserved"},
		{"no validity", ClientCertificate{CommonName: "bob"}, "validity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			certPEM, keyPEM, err := ca.NewClientKeyPair(tc.spec, now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				t.Fatalf("key pair: %v", err)
			}
			block, _ := pem.Decode(certPEM)
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca.Cert)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("verify as client: %v", err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
				t.Error("a client certificate verifies for server auth")
			}
			if cert.Subject.CommonName != tc.spec.CommonName || strings.Join(cert.Subject.Organization, ",") != strings.Join(tc.spec.Organizations, ",") {
				t.Errorf("subject %v, want CN %s O %v", cert.Subject, tc.spec.CommonName, tc.spec.Organizations)
			}
			if got := cert.NotAfter.Sub(now); got > tc.spec.Validity+time.Second || got < tc.spec.Validity-time.Second {
				t.Errorf("valid for %v, want %v", got, tc.spec.Validity)
			}
		})
	}
}
