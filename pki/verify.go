package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
)

// VerifyMasterCertificate checks that certs[0] (a TLS peer's certificate)
// is a master certificate: issued directly by a CA of roots (certs[1:] and
// any intermediate are ignored, so a leaf of the client-certificate signer
// never passes), valid now, not a CA, Organization orch:masters,
// ExtKeyUsage ServerAuth, and a CommonName that is also one of its DNS
// names. It returns that name, the master's Raft server ID; whether the
// name belongs to the cluster is the caller's to check.
func VerifyMasterCertificate(roots *x509.CertPool, certs []*x509.Certificate) (string, error) {
	if len(certs) == 0 {
		return "", errors.New("no certificate presented")
	}
	leaf := certs[0]
	if roots == nil {
		return "", errors.New("no cluster CA to verify master certificates with")
	}
	if leaf.IsCA {
		return "", fmt.Errorf("certificate %q is a CA certificate, not a master certificate", leaf.Subject.CommonName)
	}
	if !slices.Contains(leaf.Subject.Organization, MasterOrganization) {
		return "", fmt.Errorf("certificate %q is not a master certificate (organization %q)", leaf.Subject.CommonName, leaf.Subject.Organization)
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageServerAuth) {
		return "", fmt.Errorf("master certificate %q lacks extended key usage ServerAuth", leaf.Subject.CommonName)
	}
	// An empty pool of intermediates: only a certificate the root signed
	// itself verifies.
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		return "", fmt.Errorf("certificate %q is not valid or not issued directly by the cluster CA: %w", leaf.Subject.CommonName, err)
	}
	name := leaf.Subject.CommonName
	if name == "" || !slices.Contains(leaf.DNSNames, name) {
		return "", fmt.Errorf("master certificate %q does not name its master as a DNS name too", name)
	}
	return name, nil
}
