package v1

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// templateSelectorVerdict decides as LabelSelectorAsSelector and Matches
// do, for selectors and labels of every shape.
func TestTemplateSelectorVerdict(t *testing.T) {
	ml := func(m map[string]string) *metav1.LabelSelector { return &metav1.LabelSelector{MatchLabels: m} }
	tests := []struct {
		name   string
		sel    *metav1.LabelSelector
		labels map[string]string
	}{
		{"nil selector", nil, map[string]string{"app": "web"}},
		{"empty selector", ml(nil), map[string]string{"app": "web"}},
		{"match", ml(map[string]string{"app": "web"}), map[string]string{"app": "web", "tier": "x"}},
		{"other value", ml(map[string]string{"app": "web"}), map[string]string{"app": "db"}},
		{"missing key", ml(map[string]string{"app": "web"}), nil},
		{"empty value present", ml(map[string]string{"app": ""}), map[string]string{"app": ""}},
		{"empty value missing", ml(map[string]string{"app": ""}), map[string]string{}},
		{"two pairs, one off", ml(map[string]string{"app": "web", "tier": "fe"}), map[string]string{"app": "web", "tier": "be"}},
		{"invalid key", ml(map[string]string{"a b": "web"}), map[string]string{"a b": "web"}},
		{"invalid value", ml(map[string]string{"app": "-web"}), map[string]string{"app": "-web"}},
		{"expression", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: metav1.LabelSelectorOpIn, Values: []string{"web"}}}}, map[string]string{"app": "db"}},
		{"bad operator", &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{
			{Key: "app", Operator: "Near"}}}, map[string]string{"app": "db"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var wantInvalid, wantMismatch bool
			s, err := metav1.LabelSelectorAsSelector(tt.sel)
			if err != nil {
				wantInvalid = true
			} else {
				wantMismatch = !s.Empty() && !s.Matches(labels.Set(tt.labels))
			}
			valid := len(metav1validation.ValidateLabelSelector(tt.sel, metav1validation.LabelSelectorValidationOptions{}, field.NewPath("selector"))) == 0
			invalid, mismatch := templateSelectorVerdict(tt.sel, valid, tt.labels)
			if invalid != wantInvalid || mismatch != wantMismatch {
				t.Errorf("templateSelectorVerdict = (invalid %v, mismatch %v), want (%v, %v)", invalid, mismatch, wantInvalid, wantMismatch)
			}
		})
	}
}
