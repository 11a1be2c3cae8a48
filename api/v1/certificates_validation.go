package v1

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// This file is Kubernetes' pkg/apis/certificates/validation over orch's
// types, with its messages, plus the shape checks of the two signers orch
// runs (Kubernetes' IsKubeletClientCSR / ValidateKubeletClientCSR), made at
// create so a request no signer would honour is refused with 422 rather
// than left pending.

// MinExpirationSeconds is the shortest lifetime a CSR may ask for.
const MinExpirationSeconds = 600

// allKeyUsages are the usages Kubernetes accepts.
var allKeyUsages = []string{
	string(UsageSigning), string(UsageDigitalSignature), string(UsageContentCommitment), string(UsageKeyEncipherment),
	string(UsageKeyAgreement), string(UsageDataEncipherment), string(UsageCertSign), string(UsageCRLSign),
	string(UsageEncipherOnly), string(UsageDecipherOnly), string(UsageAny), string(UsageServerAuth),
	string(UsageClientAuth), string(UsageCodeSigning), string(UsageEmailProtection), string(UsageSMIME),
	string(UsageIPsecEndSystem), string(UsageIPsecTunnel), string(UsageIPsecUser), string(UsageTimestamping),
	string(UsageOCSPSigning), string(UsageMicrosoftSGC), string(UsageNetscapeSGC),
}

// ParseCSR decodes a PEM "CERTIFICATE REQUEST" as Kubernetes' ParseCSR.
func ParseCSR(pemBytes []byte) (*x509.CertificateRequest, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil || block.Type != "CERTIFICATE REQUEST" {
		return nil, errors.New("PEM block type must be CERTIFICATE REQUEST")
	}
	return x509.ParseCertificateRequest(block.Bytes)
}

func validateCSR(csr *CertificateSigningRequest) field.ErrorList {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	req, err := ParseCSR(csr.Spec.Request)
	if err == nil {
		err = req.CheckSignature()
	}
	if err != nil {
		errs = append(errs, field.Invalid(sp.Child("request"), string(csr.Spec.Request), err.Error()))
	}
	if len(csr.Spec.Usages) == 0 {
		errs = append(errs, field.Required(sp.Child("usages"), "usages must be provided"))
	}
	seen := map[KeyUsage]bool{}
	for i, u := range csr.Spec.Usages {
		if !slices.Contains(allKeyUsages, string(u)) {
			errs = append(errs, field.NotSupported(sp.Child("usages").Index(i), u, allKeyUsages))
		}
		if seen[u] {
			errs = append(errs, field.Duplicate(sp.Child("usages").Index(i), u))
		}
		seen[u] = true
	}
	errs = append(errs, validateSignerName(csr.Spec.SignerName, sp.Child("signerName"))...)
	if e := csr.Spec.ExpirationSeconds; e != nil && *e < MinExpirationSeconds {
		errs = append(errs, field.Invalid(sp.Child("expirationSeconds"), *e, "may not specify a duration less than 600 seconds (10 minutes)"))
	}
	if req != nil && err == nil {
		if msg := SignerRefusal(csr.Spec.SignerName, req, csr.Spec.Usages); msg != "" {
			errs = append(errs, field.Invalid(sp.Child("request"), "<certificate request>", msg))
		}
	}
	errs = append(errs, validateCSRConditions(csr.Status.Conditions)...)
	if len(csr.Status.Certificate) > 0 {
		errs = append(errs, validateCertificatePEM(csr.Status.Certificate)...)
	}
	return errs
}

var signerPathRE = regexp.MustCompile(`^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`)

// validateSignerName checks a signer name as Kubernetes' ValidateSignerName:
// a DNS subdomain, a slash and a path.
func validateSignerName(name string, p *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	if name == LegacyUnknownSignerName {
		return field.ErrorList{field.Invalid(p, name, fmt.Sprintf("%s is not allowed via this API version", name))}
	}
	domain, path, ok := strings.Cut(name, "/")
	if !ok || path == "" {
		return field.ErrorList{field.Invalid(p, name, "must be a fully qualified domain and path of the form 'example.com/signer-name'")}
	}
	var errs field.ErrorList
	for _, msg := range isDNS1123Subdomain(domain) {
		errs = append(errs, field.Invalid(p, name, "validating domain component: "+msg))
	}
	if !strings.Contains(domain, ".") {
		errs = append(errs, field.Invalid(p, name, "should be a domain with at least two segments separated by dots"))
	}
	for _, seg := range strings.Split(path, "/") {
		if !signerPathRE.MatchString(seg) {
			errs = append(errs, field.Invalid(p, name, "validating path component: must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"))
			break
		}
	}
	return errs
}

// SignerRefusal returns why the signer would refuse req with usages, in
// Kubernetes' words, or "" (also for signers orch does not run). No signer
// issues a certificate in the masters' organization, orch:masters.
func SignerRefusal(signer string, req *x509.CertificateRequest, usages []KeyUsage) string {
	if slices.Contains(req.Subject.Organization, mastersOrganization) {
		return fmt.Sprintf("subject organization %q is reserved for the masters", mastersOrganization)
	}
	switch signer {
	case KubeAPIServerClientKubeletSignerName:
		return kubeletClientRefusal(req, usages)
	case KubeAPIServerClientSignerName:
		if req.Subject.CommonName == "" {
			return "subject common name is required"
		}
		if !hasUsages(usages, []KeyUsage{UsageClientAuth}, []KeyUsage{UsageDigitalSignature, UsageKeyEncipherment}) {
			return "usages must include client auth and may add only digital signature and key encipherment"
		}
	}
	return ""
}

// mastersOrganization is pki.MasterOrganization (api/v1 imports no pki).
const mastersOrganization = "orch:masters"

// kubeletClientRefusal is Kubernetes' ValidateKubeletClientCSR.
func kubeletClientRefusal(req *x509.CertificateRequest, usages []KeyUsage) string {
	if !slices.Equal(req.Subject.Organization, []string{NodesGroup}) {
		return "subject organization is not system:nodes"
	}
	if !strings.HasPrefix(req.Subject.CommonName, NodeUserPrefix) || len(req.Subject.CommonName) == len(NodeUserPrefix) {
		return "subject common name does not begin with system:node:"
	}
	switch {
	case len(req.DNSNames) > 0:
		return "DNS subjectAltNames are not allowed"
	case len(req.EmailAddresses) > 0:
		return "Email subjectAltNames are not allowed"
	case len(req.IPAddresses) > 0:
		return "IP subjectAltNames are not allowed"
	case len(req.URIs) > 0:
		return "URI subjectAltNames are not allowed"
	}
	if !hasUsages(usages, []KeyUsage{UsageDigitalSignature, UsageClientAuth}, []KeyUsage{UsageKeyEncipherment}) {
		return `usages did not match [client auth digital signature] (key encipherment allowed)`
	}
	return ""
}

// hasUsages reports whether usages holds every required usage and nothing
// but them and the optional ones.
func hasUsages(usages, required, optional []KeyUsage) bool {
	for _, r := range required {
		if !slices.Contains(usages, r) {
			return false
		}
	}
	for _, u := range usages {
		if !slices.Contains(required, u) && !slices.Contains(optional, u) {
			return false
		}
	}
	return true
}

func validateCSRConditions(conds []CertificateSigningRequestCondition) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("status", "conditions")
	seen := map[RequestConditionType]bool{}
	for i, c := range conds {
		cp := p.Index(i)
		if c.Type == "" {
			errs = append(errs, field.Required(cp.Child("type"), ""))
		}
		switch c.Type {
		case CertificateApproved, CertificateDenied:
			if c.Status != ConditionTrue {
				errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, []string{ConditionTrue}))
			}
		default:
			if c.Status != ConditionTrue && c.Status != ConditionFalse && c.Status != ConditionUnknown {
				errs = append(errs, field.NotSupported(cp.Child("status"), c.Status, []string{ConditionTrue, ConditionFalse, ConditionUnknown}))
			}
		}
		if seen[c.Type] {
			errs = append(errs, field.Duplicate(cp.Child("type"), c.Type))
		}
		seen[c.Type] = true
	}
	if seen[CertificateApproved] && seen[CertificateDenied] {
		errs = append(errs, field.Invalid(p, CertificateDenied, "Approved and Denied conditions are mutually exclusive"))
	}
	return errs
}

// validateCertificatePEM checks status.certificate as Kubernetes'
// validateCertificate: one or more PEM CERTIFICATE blocks, nothing else.
func validateCertificatePEM(b []byte) field.ErrorList {
	p := field.NewPath("status", "certificate")
	rest := b
	n := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return field.ErrorList{field.Invalid(p, "<certificate data>", fmt.Sprintf("only CERTIFICATE PEM blocks are allowed, found %q", block.Type))}
		}
		if _, err := x509.ParseCertificate(block.Bytes); err != nil {
			return field.ErrorList{field.Invalid(p, "<certificate data>", err.Error())}
		}
		n++
	}
	if n == 0 || len(bytes.TrimSpace(rest)) > 0 {
		return field.ErrorList{field.Invalid(p, "<certificate data>", "must contain at least one CERTIFICATE PEM block")}
	}
	return nil
}

// ValidateCSRApprovalUpdate checks a change of a CSR through its approval
// subresource: next is old with the new conditions. An Approved or Denied
// condition, once set, stays.
func ValidateCSRApprovalUpdate(next, old *CertificateSigningRequest) error {
	errs := validateObject(next)
	errs = append(errs, keptApprovalConditions(next, old)...)
	return toStatus(next, errs)
}

// ValidateCSRStatusUpdate checks a change through the status subresource:
// the approval conditions are old's; the certificate may be set once, and
// only on an approved request.
func ValidateCSRStatusUpdate(next, old *CertificateSigningRequest) error {
	errs := validateObject(next)
	errs = append(errs, keptApprovalConditions(next, old)...)
	p := field.NewPath("status", "certificate")
	switch {
	case len(old.Status.Certificate) > 0 && !bytes.Equal(old.Status.Certificate, next.Status.Certificate):
		errs = append(errs, field.Invalid(p, "<certificate data>", "updates may not modify existing certificate content"))
	case len(next.Status.Certificate) > 0 && len(old.Status.Certificate) == 0 && !old.HasCondition(CertificateApproved):
		errs = append(errs, field.Forbidden(p, "updates may not set certificate content unless an Approved condition is present"))
	case len(next.Status.Certificate) > 0 && len(old.Status.Certificate) == 0 && old.HasCondition(CertificateFailed):
		errs = append(errs, field.Forbidden(p, "updates may not set certificate content if a Failed condition is present"))
	}
	return toStatus(next, errs)
}

func keptApprovalConditions(next, old *CertificateSigningRequest) field.ErrorList {
	var errs field.ErrorList
	for _, t := range []RequestConditionType{CertificateApproved, CertificateDenied} {
		if old.HasCondition(t) && !next.HasCondition(t) {
			errs = append(errs, field.Forbidden(field.NewPath("status", "conditions"), fmt.Sprintf("updates may not remove a condition of type %q", t)))
		}
	}
	return errs
}

// bootstrapTokenIDRE is kubeadm's token id: 6 of [a-z0-9].
var bootstrapTokenIDRE = regexp.MustCompile(`^[a-z0-9]{6}$`)

var secretHashRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

func validateBootstrapToken(t *BootstrapToken) field.ErrorList {
	var errs field.ErrorList
	if t.Name != "" && !bootstrapTokenIDRE.MatchString(t.Name) {
		errs = append(errs, field.Invalid(field.NewPath("metadata", "name"), t.Name, "must be a token id of 6 characters of [a-z0-9]"))
	}
	if t.Name == "" && t.GenerateName != "" {
		errs = append(errs, field.Forbidden(field.NewPath("metadata", "generateName"), "a bootstrap token is named by its id"))
	}
	if !secretHashRE.MatchString(t.Spec.SecretHash) {
		errs = append(errs, field.Invalid(field.NewPath("spec", "secretHash"), t.Spec.SecretHash, `must be "sha256:" and 64 lower-case hex digits`))
	}
	return errs
}
