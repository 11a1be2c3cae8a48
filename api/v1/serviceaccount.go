package v1

import (
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ServiceAccount is an identity for the processes of pods, as Kubernetes'
// core/v1 ServiceAccount. Every namespace has one named "default".
type ServiceAccount struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// AutomountServiceAccountToken says whether pods running as this
	// account get its token mounted; a pod's own field wins.
	AutomountServiceAccountToken *bool `json:"automountServiceAccountToken,omitempty"`
	// Secrets is refused: orch has no service account token Secrets.
	Secrets []ObjectReference `json:"secrets,omitempty" patchStrategy:"merge" patchMergeKey:"name"`
	// ImagePullSecrets is a list of references to secrets in the same
	// namespace to use for pulling any images in pods that reference this
	// ServiceAccount: the ServiceAccount admission copies them into a new
	// pod that names none.
	ImagePullSecrets []LocalObjectRef `json:"imagePullSecrets,omitempty"`
}

// DefaultServiceAccountName is the account of pods that name none.
const DefaultServiceAccountName = "default"

// validateServiceAccount refuses the fields orch decodes but cannot honour.
func validateServiceAccount(sa *ServiceAccount) field.ErrorList {
	var errs field.ErrorList
	if len(sa.Secrets) > 0 {
		errs = append(errs, field.Forbidden(field.NewPath("secrets"), notYet("a service account's mountable secrets list")))
	}
	return errs
}

// validateServiceAccountName is Kubernetes' ValidateServiceAccountName.
func validateServiceAccountName(name string, p pathFn) field.ErrorList {
	var errs field.ErrorList
	for _, msg := range isDNS1123Subdomain(name) {
		errs = append(errs, field.Invalid(p(), name, msg))
	}
	return errs
}

// TokenRequest asks for a token of a service account
// (POST .../serviceaccounts/{name}/token), as Kubernetes'
// authentication.k8s.io/v1 TokenRequest. Nothing of it is stored.
type TokenRequest struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata,omitempty"`
	Spec       TokenRequestSpec   `json:"spec"`
	Status     TokenRequestStatus `json:"status,omitempty"`
}

// TokenRequestSpec is what the token is for.
type TokenRequestSpec struct {
	// Audiences the token is for; empty means the API's own.
	Audiences []string `json:"audiences"`
	// ExpirationSeconds is the requested lifetime (at least 600).
	ExpirationSeconds *int64 `json:"expirationSeconds,omitempty"`
	// BoundObjectRef binds the token to a pod: it stops working when the
	// pod is deleted.
	BoundObjectRef *BoundObjectReference `json:"boundObjectRef,omitempty"`
}

// BoundObjectReference names the object a token is bound to.
type BoundObjectReference struct {
	Kind       string `json:"kind,omitempty"`
	APIVersion string `json:"apiVersion,omitempty"`
	Name       string `json:"name,omitempty"`
	UID        string `json:"uid,omitempty"`
}

// TokenRequestStatus carries the token.
type TokenRequestStatus struct {
	Token               string `json:"token"`
	ExpirationTimestamp Time   `json:"expirationTimestamp"`
}

// TokenRequest's API group.
const (
	AuthenticationGroup      = "authentication.k8s.io"
	AuthenticationAPIVersion = AuthenticationGroup + "/v1"
)

// Token request limits, as Kubernetes'.
const (
	// MinTokenExpirationSeconds is the shortest lifetime a token may ask for.
	MinTokenExpirationSeconds = int64(600)
	// DefaultTokenExpirationSeconds is the lifetime of a request naming none.
	DefaultTokenExpirationSeconds = int64(3600)
	// MaxTokenExpirationSeconds is the longest lifetime a request may name (2^32 s).
	MaxTokenExpirationSeconds = int64(1 << 32)
)

// ValidateTokenRequest checks a TokenRequest as Kubernetes'
// ValidateTokenRequest, after defaulting.
func ValidateTokenRequest(tr *TokenRequest) error {
	var errs field.ErrorList
	sp := field.NewPath("spec")
	if e := tr.Spec.ExpirationSeconds; e != nil {
		switch {
		case *e < MinTokenExpirationSeconds:
			errs = append(errs, field.Invalid(sp.Child("expirationSeconds"), *e, "may not specify a duration less than 10 minutes"))
		case *e > MaxTokenExpirationSeconds:
			errs = append(errs, field.Invalid(sp.Child("expirationSeconds"), *e, "may not specify a duration larger than 2^32 seconds"))
		}
	}
	if r := tr.Spec.BoundObjectRef; r != nil {
		rp := sp.Child("boundObjectRef")
		switch {
		case r.Kind != "Pod":
			errs = append(errs, field.NotSupported(rp.Child("kind"), r.Kind, []string{"Pod"}))
		case r.APIVersion != "" && r.APIVersion != APIVersion:
			errs = append(errs, field.NotSupported(rp.Child("apiVersion"), r.APIVersion, []string{APIVersion}))
		case r.Name == "":
			errs = append(errs, field.Required(rp.Child("name"), ""))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	causes := make([]StatusCause, 0, len(errs))
	for _, e := range errs {
		causes = append(causes, StatusCause{Type: string(e.Type), Message: e.Error(), Field: e.Field})
	}
	return NewInvalid("TokenRequest", tr.Name, causes)
}
