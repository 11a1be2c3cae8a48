package v1

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxSecretSize bounds the values of a Secret together, as Kubernetes'
// MaxSecretSize (1 MiB).
const MaxSecretSize = 1 << 20

// SecretType says what a Secret holds and which keys it must have.
type SecretType string

// The Secret types Kubernetes defines, and the keys their checks require.
const (
	SecretTypeOpaque              SecretType = "Opaque"
	SecretTypeServiceAccountToken SecretType = "kubernetes.io/service-account-token"
	SecretTypeDockercfg           SecretType = "kubernetes.io/dockercfg"
	SecretTypeDockerConfigJSON    SecretType = "kubernetes.io/dockerconfigjson"
	SecretTypeBasicAuth           SecretType = "kubernetes.io/basic-auth"
	SecretTypeSSHAuth             SecretType = "kubernetes.io/ssh-auth"
	SecretTypeTLS                 SecretType = "kubernetes.io/tls"
	SecretTypeBootstrapToken      SecretType = "bootstrap.kubernetes.io/token"

	// ServiceAccountNameKey names the account of a service-account-token
	// Secret (an annotation); ServiceAccountUIDKey its uid.
	ServiceAccountNameKey = "kubernetes.io/service-account.name"
	ServiceAccountUIDKey  = "kubernetes.io/service-account.uid"
	// ServiceAccountTokenKey, ServiceAccountRootCAKey and
	// ServiceAccountNamespaceKey are the keys of a filled
	// service-account-token Secret.
	ServiceAccountTokenKey     = "token"
	ServiceAccountRootCAKey    = "ca.crt"
	ServiceAccountNamespaceKey = "namespace"

	DockerConfigKey      = ".dockercfg"
	DockerConfigJSONKey  = ".dockerconfigjson"
	BasicAuthUsernameKey = "username"
	BasicAuthPasswordKey = "password"
	SSHAuthPrivateKey    = "ssh-privatekey"
	TLSCertKey           = "tls.crt"
	TLSPrivateKeyKey     = "tls.key"
)

// Secret holds sensitive data for pods to consume, as Kubernetes' core/v1
// kind. The API server encrypts its values before they are proposed, so
// the raft log, snapshots and backups never hold them in clear.
type Secret struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Immutable, once true, forbids changing data (and setting it back);
	// the object can still be deleted.
	Immutable *bool `json:"immutable,omitempty"`
	// Data holds the values by key (base64 in JSON).
	Data map[string][]byte `json:"data,omitempty"`
	// StringData is a write-only convenience: its values are merged into
	// data (winning over data's) when the Secret is written, and it is
	// never stored or returned.
	StringData map[string]string `json:"stringData,omitempty"`
	// Type says what the Secret holds (default Opaque); it cannot change.
	Type SecretType `json:"type,omitempty"`
}

// defaultSecret is Kubernetes' defaulting and conversion of a written
// Secret: type Opaque when unset, stringData merged into data.
func defaultSecret(s *Secret) {
	if s.Type == "" {
		s.Type = SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

// redacted stands for a Secret's value in error messages, in Kubernetes'
// words.
const redacted = "<secret contents redacted>"

// validateSecret is Kubernetes' ValidateSecret (without the object meta,
// checked for every kind): keys are config map keys, the values together
// fit in 1 MiB, and each type has the keys it needs.
func validateSecret(s *Secret) field.ErrorList {
	var errs field.ErrorList
	dataPath := field.NewPath("data")
	total := 0
	for _, key := range sortedKeys(s.Data) {
		for _, msg := range validation.IsConfigMapKey(key) {
			errs = append(errs, field.Invalid(dataPath.Key(key), key, msg))
		}
		total += len(s.Data[key])
	}
	if total > MaxSecretSize {
		errs = append(errs, field.TooLong(dataPath, "", MaxSecretSize))
	}
	switch s.Type {
	case SecretTypeServiceAccountToken:
		// Only the account's name is required; the token controller
		// fills in the rest.
		if s.Annotations[ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(ServiceAccountNameKey), ""))
		}
	case SecretTypeDockercfg, SecretTypeDockerConfigJSON:
		key := DockerConfigKey
		if s.Type == SecretTypeDockerConfigJSON {
			key = DockerConfigJSONKey
		}
		b, ok := s.Data[key]
		if !ok {
			errs = append(errs, field.Required(dataPath.Key(key), ""))
			break
		}
		if err := json.Unmarshal(b, &map[string]any{}); err != nil {
			errs = append(errs, field.Invalid(dataPath.Key(key), redacted, err.Error()))
		}
	case SecretTypeBasicAuth:
		// Either may be empty, but one of them must be present.
		_, user := s.Data[BasicAuthUsernameKey]
		_, pass := s.Data[BasicAuthPasswordKey]
		if !user && !pass {
			errs = append(errs, field.Required(dataPath.Key(BasicAuthUsernameKey), ""),
				field.Required(dataPath.Key(BasicAuthPasswordKey), ""))
		}
	case SecretTypeSSHAuth:
		if len(s.Data[SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(dataPath.Key(SSHAuthPrivateKey), ""))
		}
	case SecretTypeTLS:
		if _, ok := s.Data[TLSCertKey]; !ok {
			errs = append(errs, field.Required(dataPath.Key(TLSCertKey), ""))
		}
		if _, ok := s.Data[TLSPrivateKeyKey]; !ok {
			errs = append(errs, field.Required(dataPath.Key(TLSPrivateKeyKey), ""))
		}
	}
	return errs
}

// validateSecretUpdate is the update half of Kubernetes'
// ValidateSecretUpdate: the type never changes, and an immutable Secret's
// data stays as it is.
func validateSecretUpdate(s, old *Secret) field.ErrorList {
	var errs field.ErrorList
	if s.Type != old.Type {
		errs = append(errs, field.Invalid(field.NewPath("type"), s.Type, "field is immutable"))
	}
	if old.Immutable == nil || !*old.Immutable {
		return errs
	}
	const msg = "field is immutable when `immutable` is set"
	if s.Immutable == nil || !*s.Immutable {
		errs = append(errs, field.Forbidden(field.NewPath("immutable"), msg))
	}
	if !mapsEqual(s.Data, old.Data) {
		errs = append(errs, field.Forbidden(field.NewPath("data"), msg))
	}
	return errs
}
