package v1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// templateSelectorVerdict says what a workload's validation reports of
// selector sel against its pod template's labels, as
// metav1.LabelSelectorAsSelector and Selector.Matches decide: invalid when
// the selector cannot be made, mismatch when it is not empty and does not
// match the labels. valid tells that metav1validation.ValidateLabelSelector
// found nothing wrong in sel: a selector of matchLabels alone then makes
// one Equals requirement per pair (its keys and values pass the same
// checks), which matches labels holding every pair; it is decided here
// without building the selector, which costs a dozen allocations.
// Anything else goes through LabelSelectorAsSelector.
func templateSelectorVerdict(sel *metav1.LabelSelector, valid bool, lbls map[string]string) (invalid, mismatch bool) {
	if sel != nil && valid && len(sel.MatchExpressions) == 0 {
		for k, v := range sel.MatchLabels {
			if got, ok := lbls[k]; !ok || got != v {
				return false, true
			}
		}
		return false, false
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return true, false
	}
	return false, !s.Empty() && !s.Matches(labels.Set(lbls))
}
