package v1

import (
	authzv1 "k8s.io/api/authorization/v1"
)

// AuthorizationGroup is the API group of the access reviews.
const AuthorizationGroup = "authorization.k8s.io"

// The parts of access reviews are Kubernetes' own authorization/v1 types.
type (
	// SubjectAccessReviewSpec asks whether a user may do something.
	SubjectAccessReviewSpec = authzv1.SubjectAccessReviewSpec
	// SelfSubjectAccessReviewSpec asks whether the caller may do something.
	SelfSubjectAccessReviewSpec = authzv1.SelfSubjectAccessReviewSpec
	// SubjectAccessReviewStatus is the answer: allowed, denied, why.
	SubjectAccessReviewStatus = authzv1.SubjectAccessReviewStatus
	// ResourceAttributes describe a resource request to review.
	ResourceAttributes = authzv1.ResourceAttributes
	// NonResourceAttributes describe a non-resource request to review.
	NonResourceAttributes = authzv1.NonResourceAttributes
	// SelfSubjectRulesReviewSpec names the namespace whose rules to list.
	SelfSubjectRulesReviewSpec = authzv1.SelfSubjectRulesReviewSpec
	// SubjectRulesReviewStatus lists what the caller may do.
	SubjectRulesReviewStatus = authzv1.SubjectRulesReviewStatus
	// ResourceRule is one resource rule of a rules review.
	ResourceRule = authzv1.ResourceRule
	// NonResourceRule is one non-resource rule of a rules review.
	NonResourceRule = authzv1.NonResourceRule
)

// SelfSubjectAccessReview asks whether the caller may do something. It is
// answered, never stored (create only).
type SelfSubjectAccessReview struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       SelfSubjectAccessReviewSpec `json:"spec"`
	Status     SubjectAccessReviewStatus   `json:"status,omitempty"`
}

// SubjectAccessReview asks whether any user (and groups) may do
// something. It is answered, never stored (create only).
type SubjectAccessReview struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       SubjectAccessReviewSpec   `json:"spec"`
	Status     SubjectAccessReviewStatus `json:"status,omitempty"`
}

// SelfSubjectRulesReview lists what the caller may do in a namespace. It
// is answered, never stored (create only).
type SelfSubjectRulesReview struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       SelfSubjectRulesReviewSpec `json:"spec"`
	Status     SubjectRulesReviewStatus   `json:"status,omitempty"`
}
