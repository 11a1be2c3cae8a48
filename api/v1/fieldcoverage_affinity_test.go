package v1

// bySchedWhole marks a struct the scheduler hands whole to a library
// (label selectors to apimachinery's LabelSelectorAsSelector): the
// scheduler must use the field, and its children are honoured with it.
const bySchedWhole = "sched (whole)"

// affinityFieldUse classifies the paths of spec.affinity and
// spec.topologySpreadConstraints, as podFieldUse does the rest of the pod
// spec.
var affinityFieldUse = func() map[string]fieldUseEntry {
	m := map[string]fieldUseEntry{
		"spec.affinity":              {by: children},
		"spec.affinity.nodeAffinity": {by: bySched},
	}
	term := func(p string) {
		m[p] = fieldUseEntry{by: bySched}
		for _, list := range []string{".matchExpressions[*]", ".matchFields[*]"} {
			m[p+list] = fieldUseEntry{by: bySched}
			for _, f := range []string{".key", ".operator", ".values[*]"} {
				m[p+list+f] = fieldUseEntry{by: bySched}
			}
		}
	}
	na := "spec.affinity.nodeAffinity"
	m[na+".requiredDuringSchedulingIgnoredDuringExecution"] = fieldUseEntry{by: bySched}
	term(na + ".requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[*]")
	m[na+".preferredDuringSchedulingIgnoredDuringExecution[*]"] = fieldUseEntry{by: bySched}
	m[na+".preferredDuringSchedulingIgnoredDuringExecution[*].weight"] = fieldUseEntry{by: bySched}
	term(na + ".preferredDuringSchedulingIgnoredDuringExecution[*].preference")
	podTerm := func(p string) {
		m[p] = fieldUseEntry{by: bySched}
		m[p+".labelSelector"] = fieldUseEntry{by: bySchedWhole}
		m[p+".namespaceSelector"] = fieldUseEntry{by: bySchedWhole}
		m[p+".namespaces[*]"] = fieldUseEntry{by: bySched}
		m[p+".topologyKey"] = fieldUseEntry{by: bySched}
		// Merged into labelSelector when the pod is created.
		m[p+".matchLabelKeys[*]"] = fieldUseEntry{by: byAPI}
		m[p+".mismatchLabelKeys[*]"] = fieldUseEntry{by: byAPI}
	}
	for _, kind := range []string{"podAffinity", "podAntiAffinity"} {
		p := "spec.affinity." + kind
		m[p] = fieldUseEntry{by: bySched}
		podTerm(p + ".requiredDuringSchedulingIgnoredDuringExecution[*]")
		m[p+".preferredDuringSchedulingIgnoredDuringExecution[*]"] = fieldUseEntry{by: bySched}
		m[p+".preferredDuringSchedulingIgnoredDuringExecution[*].weight"] = fieldUseEntry{by: bySched}
		podTerm(p + ".preferredDuringSchedulingIgnoredDuringExecution[*].podAffinityTerm")
	}
	ts := "spec.topologySpreadConstraints[*]"
	m[ts] = fieldUseEntry{by: bySched}
	for _, f := range []string{".maxSkew", ".topologyKey", ".whenUnsatisfiable", ".minDomains", ".nodeAffinityPolicy", ".nodeTaintsPolicy"} {
		m[ts+f] = fieldUseEntry{by: bySched}
	}
	m[ts+".labelSelector"] = fieldUseEntry{by: bySchedWhole}
	m[ts+".matchLabelKeys[*]"] = fieldUseEntry{by: byAPI} // merged into labelSelector on create
	return m
}()
