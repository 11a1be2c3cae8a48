package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// ApplyLabelKeys merges the matchLabelKeys and mismatchLabelKeys of a new
// pod's pod (anti-)affinity terms and the matchLabelKeys of its topology
// spread constraints into their label selectors, as Kubernetes' API server
// does when a pod is created: key In (value) for a matchLabelKey, key
// NotIn (value) for a mismatchLabelKey, for each key among the pod's
// labels. A term or constraint without a labelSelector (which selects
// nothing) is left alone. Called once, on create: a pod's later label
// changes do not move its selectors.
func ApplyLabelKeys(p *Pod) {
	if a := p.Spec.Affinity; a != nil {
		terms := func(req []PodAffinityTerm, pref []WeightedPodAffinityTerm) {
			for i := range req {
				mergeTermLabelKeys(&req[i], p.Labels)
			}
			for i := range pref {
				mergeTermLabelKeys(&pref[i].PodAffinityTerm, p.Labels)
			}
		}
		if pa := a.PodAffinity; pa != nil {
			terms(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
		if pa := a.PodAntiAffinity; pa != nil {
			terms(pa.RequiredDuringSchedulingIgnoredDuringExecution, pa.PreferredDuringSchedulingIgnoredDuringExecution)
		}
	}
	for i := range p.Spec.TopologySpreadConstraints {
		c := &p.Spec.TopologySpreadConstraints[i]
		if c.LabelSelector != nil {
			mergeLabelKeys(c.LabelSelector, c.MatchLabelKeys, metav1.LabelSelectorOpIn, p.Labels)
		}
	}
}

func mergeTermLabelKeys(t *PodAffinityTerm, podLabels map[string]string) {
	if t.LabelSelector == nil {
		return
	}
	mergeLabelKeys(t.LabelSelector, t.MatchLabelKeys, metav1.LabelSelectorOpIn, podLabels)
	mergeLabelKeys(t.LabelSelector, t.MismatchLabelKeys, metav1.LabelSelectorOpNotIn, podLabels)
}

func mergeLabelKeys(s *metav1.LabelSelector, keys []string, op metav1.LabelSelectorOperator, podLabels map[string]string) {
	for _, k := range keys {
		if v, ok := podLabels[k]; ok {
			s.MatchExpressions = append(s.MatchExpressions, metav1.LabelSelectorRequirement{Key: k, Operator: op, Values: []string{v}})
		}
	}
}

// validateLabelKeys checks matchLabelKeys and mismatchLabelKeys beside a
// label selector as Kubernetes does (validateMatchLabelKeysAndMismatchLabelKeys):
// valid label names, only with a selector, no key in both lists, and no
// matchLabelKey whose merged requirement meets the selector's own
// requirement on the key (a requirement In one value leaves no room for
// another on the same key). p is the path of the term or constraint.
func validateLabelKeys(p *field.Path, match, mismatch []string, sel *metav1.LabelSelector) field.ErrorList {
	var errs field.ErrorList
	names := func(lp *field.Path, keys []string) {
		if len(keys) == 0 {
			return
		}
		if sel == nil {
			errs = append(errs, field.Forbidden(lp, "must not be specified when labelSelector is not set"))
			return
		}
		for i, k := range keys {
			errs = append(errs, metav1validation.ValidateLabelName(k, lp.Index(i))...)
		}
	}
	names(p.Child("matchLabelKeys"), match)
	names(p.Child("mismatchLabelKeys"), mismatch)
	if sel != nil && len(match) > 0 {
		index := make(map[string]int, len(match))
		for i, k := range match {
			index[k] = i
		}
		seen := make(map[string]bool, len(sel.MatchLabels)+len(sel.MatchExpressions))
		for k := range sel.MatchLabels {
			seen[k] = true
		}
		for _, e := range sel.MatchExpressions {
			if i, ok := index[e.Key]; ok && seen[e.Key] {
				errs = append(errs, field.Invalid(p.Child("matchLabelKeys").Index(i), e.Key, "exists in both matchLabelKeys and labelSelector"))
			}
			seen[e.Key] = true
		}
	}
	if len(mismatch) > 0 {
		not := make(map[string]bool, len(mismatch))
		for _, k := range mismatch {
			not[k] = true
		}
		for i, k := range match {
			if not[k] {
				errs = append(errs, field.Invalid(p.Child("matchLabelKeys").Index(i), k, "exists in both matchLabelKeys and mismatchLabelKeys"))
			}
		}
	}
	return errs
}
