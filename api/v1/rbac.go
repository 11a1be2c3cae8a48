package v1

import (
	rbacv1 "k8s.io/api/rbac/v1"
)

// RBACGroup is the API group of the RBAC kinds.
const RBACGroup = "rbac.authorization.k8s.io"

// The parts of RBAC objects are Kubernetes' own rbac/v1 types: the JSON is
// identical and strict decoding sees the same fields.
type (
	// PolicyRule is one rule of a Role or ClusterRole: verbs on resources
	// of API groups (optionally by name), or on non-resource URLs.
	PolicyRule = rbacv1.PolicyRule
	// Subject is who a binding grants to: a User, a Group or a ServiceAccount.
	Subject = rbacv1.Subject
	// RoleRef names the Role or ClusterRole a binding grants.
	RoleRef = rbacv1.RoleRef
	// AggregationRule is a ClusterRole's aggregation rule; orch refuses it.
	AggregationRule = rbacv1.AggregationRule
)

// Subject kinds.
const (
	UserKind           = rbacv1.UserKind
	GroupKind          = rbacv1.GroupKind
	ServiceAccountKind = rbacv1.ServiceAccountKind
)

// Role is a namespaced set of permissions, as Kubernetes' rbac/v1 Role.
type Role struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Rules      []PolicyRule `json:"rules"`
}

// ClusterRole is a cluster-wide set of permissions, usable in a
// ClusterRoleBinding or, within one namespace, in a RoleBinding.
type ClusterRole struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Rules      []PolicyRule `json:"rules"`
	// AggregationRule is refused (422): orch does not aggregate roles.
	AggregationRule *AggregationRule `json:"aggregationRule,omitempty"`
}

// RoleBinding grants a Role, or a ClusterRole's permissions, to subjects
// within its namespace.
type RoleBinding struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Subjects   []Subject `json:"subjects,omitempty"`
	RoleRef    RoleRef   `json:"roleRef"`
}

// ClusterRoleBinding grants a ClusterRole to subjects in every namespace
// and for cluster-scoped resources.
type ClusterRoleBinding struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Subjects   []Subject `json:"subjects,omitempty"`
	RoleRef    RoleRef   `json:"roleRef"`
}
