package v1

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestValidatePDB(t *testing.T) {
	num := func(n int32) *IntOrString { v := intstr.FromInt32(n); return &v }
	pct := func(s string) *IntOrString { v := intstr.FromString(s); return &v }
	policy := func(p string) *UnhealthyPodEvictionPolicyType { v := UnhealthyPodEvictionPolicyType(p); return &v }
	sel := &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tests := []struct {
		name string
		spec PodDisruptionBudgetSpec
		st   PodDisruptionBudgetStatus
		want []string // substrings of the error; none for valid
	}{
		{"min available", PodDisruptionBudgetSpec{MinAvailable: num(2), Selector: sel}, PodDisruptionBudgetStatus{}, nil},
		{"max unavailable percent", PodDisruptionBudgetSpec{MaxUnavailable: pct("25%"), Selector: sel}, PodDisruptionBudgetStatus{}, nil},
		{"always allow", PodDisruptionBudgetSpec{MinAvailable: pct("100%"), Selector: sel, UnhealthyPodEvictionPolicy: policy("AlwaysAllow")}, PodDisruptionBudgetStatus{}, nil},
		{"both", PodDisruptionBudgetSpec{MinAvailable: num(1), MaxUnavailable: num(1), Selector: sel}, PodDisruptionBudgetStatus{},
			[]string{"minAvailable and maxUnavailable cannot be both set"}},
		{"neither (allowed, as Kubernetes)", PodDisruptionBudgetSpec{Selector: sel}, PodDisruptionBudgetStatus{}, nil},
		{"negative", PodDisruptionBudgetSpec{MinAvailable: num(-1), Selector: sel}, PodDisruptionBudgetStatus{},
			[]string{"spec.minAvailable: Invalid value: -1: must be greater than or equal to 0"}},
		{"over 100%", PodDisruptionBudgetSpec{MaxUnavailable: pct("101%"), Selector: sel}, PodDisruptionBudgetStatus{},
			[]string{`spec.maxUnavailable: Invalid value: "101%": must not be greater than 100%`}},
		{"not a percent", PodDisruptionBudgetSpec{MinAvailable: pct("half"), Selector: sel}, PodDisruptionBudgetStatus{},
			[]string{`spec.minAvailable: Invalid value: "half": a valid percent string must be`}},
		{"bad selector", PodDisruptionBudgetSpec{MinAvailable: num(1), Selector: &metav1.LabelSelector{
			MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "app", Operator: "Near"}}}}, PodDisruptionBudgetStatus{},
			[]string{"spec.selector.matchExpressions[0].operator: Invalid value: \"Near\""}},
		{"bad policy", PodDisruptionBudgetSpec{MinAvailable: num(1), Selector: sel, UnhealthyPodEvictionPolicy: policy("Sometimes")}, PodDisruptionBudgetStatus{},
			[]string{`spec.unhealthyPodEvictionPolicy: Unsupported value: "Sometimes": supported values: "AlwaysAllow", "IfHealthyBudget"`}},
		{"negative status", PodDisruptionBudgetSpec{MinAvailable: num(1), Selector: sel}, PodDisruptionBudgetStatus{DisruptionsAllowed: -1},
			[]string{"status.disruptionsAllowed: Invalid value: -1: must be greater than or equal to 0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdb := &PodDisruptionBudget{ObjectMeta: ObjectMeta{Name: "p", Namespace: "default"}, Spec: tt.spec, Status: tt.st}
			err := Validate(pdb)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate accepted %+v", tt.spec)
			}
			msg := ""
			for _, c := range AsStatusError(err).Status.Details.Causes {
				msg += c.Message + "\n"
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}

func TestPDBSelector(t *testing.T) {
	pod := map[string]string{"app": "web"}
	tests := []struct {
		name string
		sel  *metav1.LabelSelector
		want bool
	}{
		{"nil selects nothing", nil, false},
		{"empty selects everything", &metav1.LabelSelector{}, true},
		{"match", &metav1.LabelSelector{MatchLabels: pod}, true},
		{"no match", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := PDBSelector(&PodDisruptionBudget{Spec: PodDisruptionBudgetSpec{Selector: tt.sel}})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Matches(labels.Set(pod)); got != tt.want {
				t.Errorf("matches = %v, want %v", got, tt.want)
			}
		})
	}
}
