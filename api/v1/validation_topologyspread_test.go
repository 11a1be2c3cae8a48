package v1

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestValidateTopologySpreadConstraints(t *testing.T) {
	const base = "spec.topologySpreadConstraints[0]."
	for _, tc := range []struct {
		name        string
		constraints string
		field       string // "" = valid
		msg         string
	}{
		{"documentation example", `[{"maxSkew":1,"topologyKey":"topology.kubernetes.io/zone","whenUnsatisfiable":"DoNotSchedule",
			"labelSelector":{"matchLabels":{"app":"web"}},"minDomains":3,"nodeAffinityPolicy":"Ignore","nodeTaintsPolicy":"Honor",
			"matchLabelKeys":["pod-template-hash"]},
			{"maxSkew":2,"topologyKey":"kubernetes.io/hostname","whenUnsatisfiable":"ScheduleAnyway","labelSelector":{"matchLabels":{"app":"web"}}}]`, "", ""},
		{"same key, both actions", `[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"},
			{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"ScheduleAnyway"}]`, "", ""},
		{"maxSkew 0", `[{"maxSkew":0,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]`, base + "maxSkew", "must be greater than zero"},
		{"no topology key", `[{"maxSkew":1,"whenUnsatisfiable":"DoNotSchedule"}]`, base + "topologyKey", "can not be empty"},
		{"unknown action", `[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"Sometimes"}]`, base + "whenUnsatisfiable",
			`supported values: "DoNotSchedule", "ScheduleAnyway"`},
		{"repeated key and action", `[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"},
			{"maxSkew":2,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule"}]`, base + "{topologyKey, whenUnsatisfiable}", "Duplicate value: \"{zone, DoNotSchedule}\""},
		{"minDomains 0", `[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","minDomains":0}]`, base + "minDomains", "must be greater than zero"},
		{"minDomains with ScheduleAnyway", `[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"ScheduleAnyway","minDomains":2}]`, base + "minDomains",
			"can only use minDomains if whenUnsatisfiable=DoNotSchedule, not ScheduleAnyway"},
		{"unknown node affinity policy", `[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","nodeAffinityPolicy":"Maybe"}]`,
			base + "nodeAffinityPolicy", `supported values: "Honor", "Ignore"`},
		{"unknown node taints policy", `[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","nodeTaintsPolicy":"honor"}]`,
			base + "nodeTaintsPolicy", `supported values: "Honor", "Ignore"`},
		{"bad label selector", `[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchExpressions":[{"key":"app","operator":"In"}]}}]`,
			base + "labelSelector.matchExpressions[0].values", "must be specified when `operator` is 'In' or 'NotIn'"},
		{"matchLabelKeys without a selector", `[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","matchLabelKeys":["app"]}]`,
			base + "matchLabelKeys", "must not be specified when labelSelector is not set"},
		{"matchLabelKeys not a label name", `[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule","labelSelector":{},"matchLabelKeys":["a b"]}]`,
			base + "matchLabelKeys[0]", "name part must consist of"},
		{"a merged key meets the selector's", `[{"maxSkew":1,"topologyKey":"zone","whenUnsatisfiable":"DoNotSchedule",
			"labelSelector":{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"app","operator":"In","values":["web"]}]},"matchLabelKeys":["app"]}]`,
			base + "matchLabelKeys[0]", "exists in both matchLabelKeys and labelSelector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var cs []TopologySpreadConstraint
			dec := json.NewDecoder(strings.NewReader(tc.constraints))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&cs); err != nil {
				t.Fatalf("decode: %v", err)
			}
			p := validPod()
			p.Spec.TopologySpreadConstraints = cs
			err := Validate(p)
			rc := validRC()
			rc.Spec.Template.Spec.TopologySpreadConstraints = cs
			rcErr := Validate(rc)
			if tc.field == "" {
				if err != nil || rcErr != nil {
					t.Fatalf("valid constraints refused: pod %v, RC %v", err, rcErr)
				}
				return
			}
			wantInvalid(t, err, tc.field)
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not say %q", err, tc.msg)
			}
			wantInvalid(t, rcErr, "spec.template."+tc.field)
		})
	}
}

// A created pod's matchLabelKeys and mismatchLabelKeys become requirements
// on its own label values; keys the pod lacks and terms without a
// selector are left alone, and the pod still validates.
func TestApplyLabelKeys(t *testing.T) {
	web := map[string]string{"app": "web"}
	term := func(match, mismatch []string, sel *metav1.LabelSelector) PodAffinityTerm {
		return PodAffinityTerm{LabelSelector: sel, TopologyKey: LabelHostname, MatchLabelKeys: match, MismatchLabelKeys: mismatch}
	}
	p := validPod()
	p.Labels = map[string]string{"app": "web", "pod-template-hash": "abc", "tenant": "t1"}
	p.Spec.Affinity = &Affinity{
		PodAffinity: &PodAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []PodAffinityTerm{
			term([]string{"pod-template-hash", "absent"}, []string{"tenant"}, &metav1.LabelSelector{MatchLabels: web})}},
		PodAntiAffinity: &PodAntiAffinity{PreferredDuringSchedulingIgnoredDuringExecution: []WeightedPodAffinityTerm{
			{Weight: 1, PodAffinityTerm: term(nil, []string{"tenant"}, &metav1.LabelSelector{})}}},
	}
	p.Spec.TopologySpreadConstraints = []TopologySpreadConstraint{
		{MaxSkew: 1, TopologyKey: LabelTopologyZone, WhenUnsatisfiable: DoNotSchedule, LabelSelector: &metav1.LabelSelector{MatchLabels: web},
			MatchLabelKeys: []string{"pod-template-hash"}},
		{MaxSkew: 1, TopologyKey: LabelHostname, WhenUnsatisfiable: ScheduleAnyway},
	}
	ApplyLabelKeys(p)
	req := func(key string, op metav1.LabelSelectorOperator, v string) metav1.LabelSelectorRequirement {
		return metav1.LabelSelectorRequirement{Key: key, Operator: op, Values: []string{v}}
	}
	for _, tc := range []struct {
		name string
		got  *metav1.LabelSelector
		want *metav1.LabelSelector
	}{
		{"required affinity", p.Spec.Affinity.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution[0].LabelSelector,
			&metav1.LabelSelector{MatchLabels: web, MatchExpressions: []metav1.LabelSelectorRequirement{
				req("pod-template-hash", metav1.LabelSelectorOpIn, "abc"), req("tenant", metav1.LabelSelectorOpNotIn, "t1")}}},
		{"preferred anti-affinity", p.Spec.Affinity.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution[0].PodAffinityTerm.LabelSelector,
			&metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{req("tenant", metav1.LabelSelectorOpNotIn, "t1")}}},
		{"spread constraint", p.Spec.TopologySpreadConstraints[0].LabelSelector,
			&metav1.LabelSelector{MatchLabels: web, MatchExpressions: []metav1.LabelSelectorRequirement{req("pod-template-hash", metav1.LabelSelectorOpIn, "abc")}}},
		{"constraint without a selector", p.Spec.TopologySpreadConstraints[1].LabelSelector, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !reflect.DeepEqual(tc.got, tc.want) {
				t.Fatalf("selector\n got  %+v\n want %+v", tc.got, tc.want)
			}
		})
	}
	if err := Validate(p); err != nil {
		t.Fatalf("the merged pod does not validate: %v", err)
	}
}

// A key both merged and already in the selector is refused once merged,
// as Kubernetes refuses such a pod at create.
func TestApplyLabelKeysThenValidateRefusesAKeyInTheSelector(t *testing.T) {
	p := validPod()
	p.Labels = map[string]string{"app": "web"}
	p.Spec.TopologySpreadConstraints = []TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: LabelTopologyZone, WhenUnsatisfiable: DoNotSchedule,
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, MatchLabelKeys: []string{"app"}}}
	if err := Validate(p); err != nil {
		t.Fatalf("before the merge: %v", err)
	}
	ApplyLabelKeys(p)
	err := Validate(p)
	wantInvalid(t, err, "spec.topologySpreadConstraints[0].matchLabelKeys[0]")
	if !strings.Contains(err.Error(), "exists in both matchLabelKeys and labelSelector") {
		t.Fatalf("after the merge: %v", err)
	}
}
