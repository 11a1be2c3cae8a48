package v1

import (
	"k8s.io/apimachinery/pkg/api/validation/path"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// validateRBACName is Kubernetes' ValidateRBACName: any name that is a
// valid path segment.
func validateRBACName(name string) []string { return path.ValidatePathSegmentName(name, false) }

// validatePolicyRule checks one rule as Kubernetes' ValidatePolicyRule.
func validatePolicyRule(rule PolicyRule, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if len(rule.Verbs) == 0 {
		errs = append(errs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
	}
	if len(rule.NonResourceURLs) > 0 {
		if namespaced {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
		}
		if len(rule.APIGroups) > 0 || len(rule.Resources) > 0 || len(rule.ResourceNames) > 0 {
			errs = append(errs, field.Invalid(p.Child("nonResourceURLs"), rule.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
		}
		return errs
	}
	if len(rule.APIGroups) == 0 {
		errs = append(errs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
	}
	if len(rule.Resources) == 0 {
		errs = append(errs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
	}
	return errs
}

func validateRules(rules []PolicyRule, namespaced bool) field.ErrorList {
	var errs field.ErrorList
	for i, r := range rules {
		errs = append(errs, validatePolicyRule(r, namespaced, field.NewPath("rules").Index(i))...)
	}
	return errs
}

func validateClusterRole(cr *ClusterRole) field.ErrorList {
	errs := validateRules(cr.Rules, false)
	if cr.AggregationRule != nil {
		errs = append(errs, field.Forbidden(field.NewPath("aggregationRule"), "aggregated ClusterRoles are not supported"))
	}
	return errs
}

// validateRoleRef checks a binding's roleRef; kinds are the role kinds the
// binding may name (a ClusterRoleBinding only ClusterRole).
func validateRoleRef(ref RoleRef, kinds []string) field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath("roleRef")
	if ref.APIGroup != RBACGroup {
		errs = append(errs, field.NotSupported(p.Child("apiGroup"), ref.APIGroup, []string{RBACGroup}))
	}
	ok := false
	for _, k := range kinds {
		ok = ok || ref.Kind == k
	}
	if !ok {
		errs = append(errs, field.NotSupported(p.Child("kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	} else {
		for _, msg := range validateRBACName(ref.Name) {
			errs = append(errs, field.Invalid(p.Child("name"), ref.Name, msg))
		}
	}
	return errs
}

// validateSubject checks one subject as Kubernetes'
// ValidateRoleBindingSubject; a ServiceAccount of a ClusterRoleBinding
// must name its namespace.
func validateSubject(s Subject, namespaced bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if s.Name == "" {
		errs = append(errs, field.Required(p.Child("name"), ""))
	}
	switch s.Kind {
	case ServiceAccountKind:
		if s.Name != "" {
			for _, msg := range isDNS1123Subdomain(s.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), s.Name, msg))
			}
		}
		if s.APIGroup != "" {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{""}))
		}
		if !namespaced && s.Namespace == "" {
			errs = append(errs, field.Required(p.Child("namespace"), ""))
		}
	case UserKind, GroupKind:
		if s.APIGroup != RBACGroup {
			errs = append(errs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{RBACGroup}))
		}
	default:
		errs = append(errs, field.NotSupported(p.Child("kind"), s.Kind, []string{ServiceAccountKind, UserKind, GroupKind}))
	}
	return errs
}

func validateBinding(subjects []Subject, ref RoleRef, namespaced bool) field.ErrorList {
	kinds := []string{"ClusterRole"}
	if namespaced {
		kinds = []string{"Role", "ClusterRole"}
	}
	errs := validateRoleRef(ref, kinds)
	for i, s := range subjects {
		errs = append(errs, validateSubject(s, namespaced, field.NewPath("subjects").Index(i))...)
	}
	return errs
}

// validateRoleRefUpdate refuses a change of a binding's roleRef, as
// Kubernetes: a binding is deleted and created again to grant another role.
func validateRoleRefUpdate(ref, old RoleRef) field.ErrorList {
	if ref != old {
		return field.ErrorList{field.Invalid(field.NewPath("roleRef"), ref, "cannot change roleRef")}
	}
	return nil
}

// defaultSubjects sets the apiGroup of User and Group subjects, as
// Kubernetes' SetDefaults_Subject.
func defaultSubjects(subjects []Subject) {
	for i := range subjects {
		if subjects[i].APIGroup == "" && (subjects[i].Kind == UserKind || subjects[i].Kind == GroupKind) {
			subjects[i].APIGroup = RBACGroup
		}
	}
}

// defaultRoleRef sets a binding's roleRef apiGroup, as Kubernetes'
// SetDefaults_RoleBinding.
func defaultRoleRef(ref *RoleRef) {
	if ref.APIGroup == "" {
		ref.APIGroup = RBACGroup
	}
}
