package v1

import (
	"fmt"

	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// isNotPositiveErrorMsg is Kubernetes' wording for a count that must be
// at least one.
const isNotPositiveErrorMsg = "must be greater than zero"

// validateTopologySpreadConstraints checks a pod's topology spread
// constraints as Kubernetes' validateTopologySpreadConstraints does, with
// its wording and paths.
func validateTopologySpreadConstraints(cs []TopologySpreadConstraint, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, c := range cs {
		cp := p.Index(i)
		if c.MaxSkew <= 0 {
			errs = append(errs, field.Invalid(cp.Child("maxSkew"), c.MaxSkew, isNotPositiveErrorMsg))
		}
		if c.TopologyKey == "" {
			errs = append(errs, field.Required(cp.Child("topologyKey"), "can not be empty"))
		}
		switch c.WhenUnsatisfiable {
		case DoNotSchedule, ScheduleAnyway:
		default:
			errs = append(errs, field.NotSupported(cp.Child("whenUnsatisfiable"), c.WhenUnsatisfiable,
				[]string{string(DoNotSchedule), string(ScheduleAnyway)}))
		}
		// {topologyKey, whenUnsatisfiable} names one kind of constraint.
		for _, later := range cs[i+1:] {
			if later.TopologyKey == c.TopologyKey && later.WhenUnsatisfiable == c.WhenUnsatisfiable {
				errs = append(errs, field.Duplicate(cp.Child("{topologyKey, whenUnsatisfiable}"),
					fmt.Sprintf("{%v, %v}", c.TopologyKey, c.WhenUnsatisfiable)))
				break
			}
		}
		if c.MinDomains != nil {
			if *c.MinDomains <= 0 {
				errs = append(errs, field.Invalid(cp.Child("minDomains"), *c.MinDomains, isNotPositiveErrorMsg))
			}
			if c.WhenUnsatisfiable != DoNotSchedule {
				errs = append(errs, field.Invalid(cp.Child("minDomains"), *c.MinDomains,
					fmt.Sprintf("can only use minDomains if whenUnsatisfiable=%s, not %s", DoNotSchedule, c.WhenUnsatisfiable)))
			}
		}
		errs = append(errs, validateNodeInclusionPolicy(c.NodeAffinityPolicy, cp.Child("nodeAffinityPolicy"))...)
		errs = append(errs, validateNodeInclusionPolicy(c.NodeTaintsPolicy, cp.Child("nodeTaintsPolicy"))...)
		errs = append(errs, validateLabelKeys(cp, c.MatchLabelKeys, nil, c.LabelSelector)...)
		errs = append(errs, metav1validation.ValidateLabelSelector(c.LabelSelector,
			metav1validation.LabelSelectorValidationOptions{}, cp.Child("labelSelector"))...)
	}
	return errs
}

func validateNodeInclusionPolicy(policy *NodeInclusionPolicy, p *field.Path) field.ErrorList {
	if policy == nil {
		return nil
	}
	switch *policy {
	case NodeInclusionPolicyHonor, NodeInclusionPolicyIgnore:
		return nil
	}
	return field.ErrorList{field.NotSupported(p, *policy,
		[]string{string(NodeInclusionPolicyHonor), string(NodeInclusionPolicyIgnore)})}
}
