package v1

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestValidateAffinity(t *testing.T) {
	// Affinities as manifests write them; the first two are the
	// Kubernetes documentation's examples.
	for _, tc := range []struct {
		name     string
		affinity string
		field    string // "" = valid
		msg      string
	}{
		{"documentation node affinity", `{"nodeAffinity":{
			"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[
				{"key":"topology.kubernetes.io/zone","operator":"In","values":["antarctica-east1","antarctica-west1"]}]}]},
			"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":1,"preference":{"matchExpressions":[
				{"key":"another-node-label-key","operator":"In","values":["another-node-label-value"]}]}}]}}`, "", ""},
		{"documentation pod affinity", `{
			"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchExpressions":[
				{"key":"security","operator":"In","values":["S1"]}]},"topologyKey":"topology.kubernetes.io/zone"}]},
			"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":100,"podAffinityTerm":{
				"labelSelector":{"matchExpressions":[{"key":"security","operator":"In","values":["S2"]}]},
				"topologyKey":"topology.kubernetes.io/zone"}}]}}`, "", ""},
		{"every operator and matchFields", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[
			{"matchExpressions":[{"key":"a","operator":"NotIn","values":["x"]},{"key":"b","operator":"Exists"},
				{"key":"c","operator":"DoesNotExist"},{"key":"d","operator":"Gt","values":["3"]},{"key":"e","operator":"Lt","values":["12"]}]},
			{"matchFields":[{"key":"metadata.name","operator":"In","values":["node-1"]}]}]}}}`, "", ""},
		{"namespaces and namespaceSelector", `{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[
			{"labelSelector":{"matchLabels":{"app":"web"}},"namespaces":["other"],"namespaceSelector":{},"topologyKey":"kubernetes.io/hostname"}]}}`, "", ""},
		{"no node selector terms", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms", "must have at least one node selector term"},
		{"In without values", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"In"}]}]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values", "must be specified when `operator` is 'In' or 'NotIn'"},
		{"Exists with values", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"Exists","values":["x"]}]}]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values", "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"},
		{"Gt with two values", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"Gt","values":["1","2"]}]}]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values", "must be specified single value when `operator` is 'Lt' or 'Gt'"},
		{"Lt not an integer", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"Lt","values":["big"]}]}]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[0]", "must be an integer"},
		{"required value not a label value", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"In","values":["ok","not ok"]}]}]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values[1]", "a valid label must be"},
		{"preferred values are not checked as label values", `{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":1,"preference":{"matchExpressions":[{"key":"a","operator":"In","values":["not ok"]}]}}]}}`, "", ""},
		{"unknown operator", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a","operator":"Near","values":["x"]}]}]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator", "not a valid selector operator"},
		{"bad label key", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchExpressions":[{"key":"a b","operator":"Exists"}]}]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key", "name part must consist of"},
		{"matchFields on a label", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.labels","operator":"In","values":["x"]}]}]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].key", "not a valid field selector key"},
		{"matchFields with two names", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"In","values":["a","b"]}]}]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values", "must be only one value when `operator` is 'In' or 'NotIn' for node field selector"},
		{"matchFields Exists", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"Exists"}]}]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].operator", "not a valid selector operator"},
		{"matchFields bad node name", `{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{"nodeSelectorTerms":[{"matchFields":[{"key":"metadata.name","operator":"In","values":["Node_1"]}]}]}}}`,
			"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchFields[0].values[0]", "RFC 1123 subdomain"},
		{"preferred weight 0", `{"nodeAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":0,"preference":{"matchExpressions":[{"key":"a","operator":"Exists"}]}}]}}`,
			"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", "must be in the range 1-100"},
		{"pod preferred weight 101", `{"podAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":101,"podAffinityTerm":{"topologyKey":"kubernetes.io/hostname"}}]}}`,
			"spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", "must be in the range 1-100"},
		{"empty topology key", `{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"web"}}}]}}`,
			"spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "can not be empty"},
		{"bad topology key", `{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"topologyKey":"-zone"}]}}`,
			"spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey", "name part must consist of"},
		{"bad label selector", `{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchExpressions":[{"key":"app","operator":"In"}]},"topologyKey":"zone"}]}}`,
			"spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchExpressions[0].values", "must be specified when `operator` is 'In' or 'NotIn'"},
		{"bad namespace selector", `{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"namespaceSelector":{"matchExpressions":[{"key":"team","operator":"Near"}]},"topologyKey":"zone"}]}}`,
			"spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespaceSelector.matchExpressions[0].operator", "not a valid selector operator"},
		{"bad namespace", `{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"namespaces":["No_Such"],"topologyKey":"zone"}]}}`,
			"spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].namespace", "RFC 1123 label"},
		{"matchLabelKeys and mismatchLabelKeys", `{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"web"}},"matchLabelKeys":["pod-template-hash"],"mismatchLabelKeys":["tenant"],"topologyKey":"zone"}]}}`, "", ""},
		{"matchLabelKeys without a selector", `{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"matchLabelKeys":["pod-template-hash"],"topologyKey":"zone"}]}}`,
			"spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys", "must not be specified when labelSelector is not set"},
		{"mismatchLabelKeys without a selector", `{"podAntiAffinity":{"preferredDuringSchedulingIgnoredDuringExecution":[{"weight":1,"podAffinityTerm":{"mismatchLabelKeys":["tenant"],"topologyKey":"zone"}}]}}`,
			"spec.affinity.podAntiAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].podAffinityTerm.mismatchLabelKeys", "must not be specified when labelSelector is not set"},
		{"matchLabelKeys not a label name", `{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{},"matchLabelKeys":["ok","not ok"],"topologyKey":"zone"}]}}`,
			"spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys[1]", "name part must consist of"},
		{"a key in matchLabelKeys and mismatchLabelKeys", `{"podAntiAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{},"matchLabelKeys":["a","tenant"],"mismatchLabelKeys":["tenant"],"topologyKey":"zone"}]}}`,
			"spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys[1]", "exists in both matchLabelKeys and mismatchLabelKeys"},
		{"a merged key meets the selector's", `{"podAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":[{"labelSelector":{"matchLabels":{"app":"web"},"matchExpressions":[{"key":"app","operator":"In","values":["web"]}]},"matchLabelKeys":["app"],"topologyKey":"zone"}]}}`,
			"spec.affinity.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].matchLabelKeys[0]", "exists in both matchLabelKeys and labelSelector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var a Affinity
			dec := json.NewDecoder(strings.NewReader(tc.affinity))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&a); err != nil {
				t.Fatalf("decode: %v", err)
			}
			p := validPod()
			p.Spec.Affinity = &a
			err := Validate(p)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("valid affinity refused: %v", err)
				}
			} else {
				wantInvalid(t, err, tc.field)
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("error %q does not say %q", err, tc.msg)
				}
			}
			rc := validRC()
			rc.Spec.Template.Spec.Affinity = &a
			if err := Validate(rc); tc.field == "" && err != nil {
				t.Errorf("RC template refused: %v", err)
			} else if tc.field != "" {
				wantInvalid(t, err, "spec.template."+tc.field)
			}
		})
	}
}

// The affinity of a pod is fixed once it exists, as in Kubernetes.
func TestPodAffinityIsImmutable(t *testing.T) {
	old := validPod()
	old.ResourceVersion = "1"
	next := DeepCopy(old)
	next.Spec.Affinity = &Affinity{PodAntiAffinity: &PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []PodAffinityTerm{{TopologyKey: LabelHostname}}}}
	err := ValidateUpdate(next, old)
	wantInvalid(t, err, "spec")
	if !strings.Contains(err.Error(), "pod updates may not change fields other than") {
		t.Fatalf("changing the affinity: %v", err)
	}
}
