package v1

// This file holds the certificates.k8s.io/v1 kind CertificateSigningRequest
// and orch's bootstrap.orch.io/v1 kind BootstrapToken, with Kubernetes'
// field names.

// CertificatesGroup is the API group of certificate signing requests.
const CertificatesGroup = "certificates.k8s.io"

// The signers orch's masters sign for (Kubernetes' well-known names).
const (
	// KubeAPIServerClientSignerName signs client certificates for users:
	// any subject but the masters' organization.
	KubeAPIServerClientSignerName = "kubernetes.io/kube-apiserver-client"
	// KubeAPIServerClientKubeletSignerName signs the client certificates
	// of nodes: CN system:node:<name>, O exactly [system:nodes].
	KubeAPIServerClientKubeletSignerName = "kubernetes.io/kube-apiserver-client-kubelet"
	// LegacyUnknownSignerName may not be used through certificates.k8s.io/v1.
	LegacyUnknownSignerName = "kubernetes.io/legacy-unknown"
)

// Nodes' identities, as Kubernetes names them.
const (
	// NodeUserPrefix prefixes a node's user name: system:node:<name>.
	NodeUserPrefix = "system:node:"
	// NodesGroup is the group of every node's user.
	NodesGroup = "system:nodes"
)

// CertificateSigningRequest asks a signer for a certificate, as
// Kubernetes' certificates.k8s.io/v1 kind. It is cluster-scoped.
type CertificateSigningRequest struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       CertificateSigningRequestSpec   `json:"spec"`
	Status     CertificateSigningRequestStatus `json:"status,omitempty"`
}

// CertificateSigningRequestSpec is the request. Username, UID, Groups and
// Extra are set by the API server from the requester; whatever the body
// says of them is replaced.
type CertificateSigningRequestSpec struct {
	// Request is a PEM-encoded PKCS#10 "CERTIFICATE REQUEST".
	Request []byte `json:"request"`
	// SignerName names the signer that is asked to sign.
	SignerName string `json:"signerName"`
	// ExpirationSeconds is the requested lifetime (at least 600); the
	// signer may issue a shorter one.
	ExpirationSeconds *int32 `json:"expirationSeconds,omitempty"`
	// Usages are the key usages requested.
	Usages   []KeyUsage          `json:"usages,omitempty"`
	Username string              `json:"username,omitempty"`
	UID      string              `json:"uid,omitempty"`
	Groups   []string            `json:"groups,omitempty"`
	Extra    map[string][]string `json:"extra,omitempty"`
}

// KeyUsage is a usage of a certificate's key, in Kubernetes' words.
type KeyUsage string

// The key usages Kubernetes knows.
const (
	UsageSigning           KeyUsage = "signing"
	UsageDigitalSignature  KeyUsage = "digital signature"
	UsageContentCommitment KeyUsage = "content commitment"
	UsageKeyEncipherment   KeyUsage = "key encipherment"
	UsageKeyAgreement      KeyUsage = "key agreement"
	UsageDataEncipherment  KeyUsage = "data encipherment"
	UsageCertSign          KeyUsage = "cert sign"
	UsageCRLSign           KeyUsage = "crl sign"
	UsageEncipherOnly      KeyUsage = "encipher only"
	UsageDecipherOnly      KeyUsage = "decipher only"
	UsageAny               KeyUsage = "any"
	UsageServerAuth        KeyUsage = "server auth"
	UsageClientAuth        KeyUsage = "client auth"
	UsageCodeSigning       KeyUsage = "code signing"
	UsageEmailProtection   KeyUsage = "email protection"
	UsageSMIME             KeyUsage = "s/mime"
	UsageIPsecEndSystem    KeyUsage = "ipsec end system"
	UsageIPsecTunnel       KeyUsage = "ipsec tunnel"
	UsageIPsecUser         KeyUsage = "ipsec user"
	UsageTimestamping      KeyUsage = "timestamping"
	UsageOCSPSigning       KeyUsage = "ocsp signing"
	UsageMicrosoftSGC      KeyUsage = "microsoft sgc"
	UsageNetscapeSGC       KeyUsage = "netscape sgc"
)

// CertificateSigningRequestStatus holds the approval and the certificate.
type CertificateSigningRequestStatus struct {
	// Conditions: Approved or Denied (set through the approval
	// subresource), Failed (set by the signer).
	Conditions []CertificateSigningRequestCondition `json:"conditions,omitempty"`
	// Certificate is the issued certificate, PEM-encoded (set by the
	// signer through the status subresource, once).
	Certificate []byte `json:"certificate,omitempty"`
}

// RequestConditionType is the type of a CSR condition.
type RequestConditionType string

// The condition types of a CSR.
const (
	CertificateApproved RequestConditionType = "Approved"
	CertificateDenied   RequestConditionType = "Denied"
	CertificateFailed   RequestConditionType = "Failed"
)

// CertificateSigningRequestCondition is one condition of a CSR.
type CertificateSigningRequestCondition struct {
	Type               RequestConditionType `json:"type"`
	Status             string               `json:"status"`
	Reason             string               `json:"reason,omitempty"`
	Message            string               `json:"message,omitempty"`
	LastUpdateTime     Time                 `json:"lastUpdateTime,omitempty"`
	LastTransitionTime Time                 `json:"lastTransitionTime,omitempty"`
}

// HasCondition reports whether the CSR has a condition of type t with
// status True.
func (c *CertificateSigningRequest) HasCondition(t RequestConditionType) bool {
	for _, x := range c.Status.Conditions {
		if x.Type == t && x.Status == ConditionTrue {
			return true
		}
	}
	return false
}

// BootstrapGroup is orch's API group of bootstrap tokens.
const BootstrapGroup = "bootstrap.orch.io"

// BootstrapToken is a kubeadm-style bootstrap token "<id>.<secret>": a
// node presents it once to ask for its certificate. orch has no Secrets,
// so a token is its own cluster-scoped kind named by the token's id, and it
// holds only a hash of the secret: the secret never reaches the API server
// or the Raft log (see apiserver/bootstrap for the format and the hash).
type BootstrapToken struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Spec holds the hash of the token's secret and when it expires.
	Spec BootstrapTokenSpec `json:"spec"`
}

// BootstrapTokenSpec describes a bootstrap token.
type BootstrapTokenSpec struct {
	// SecretHash is "sha256:" and the hex SHA-256 of "<id>.<secret>".
	SecretHash string `json:"secretHash"`
	// Expiration is when the token stops authenticating; nil never.
	Expiration *Time `json:"expiration,omitempty"`
	// Description is for humans.
	Description string `json:"description,omitempty"`
}
