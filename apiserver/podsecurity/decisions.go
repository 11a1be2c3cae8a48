package podsecurity

import (
	"slices"
	"strconv"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/metrics"
	"k8s.io/utils/lru"

	v1 "orch.io/orch/api/v1"
)

// decisions remembers the pod creates the library admitted silently (no
// warning, no audit violation, no error, no exemption) by what its
// decision depends on: the namespace's name (the exemptions) and labels
// (the policy; the configuration is the Admission's own), and the pod's
// annotations and spec (the checks read nothing else of a pod; the
// runtime class exemption is in the spec). A create of a pod alike in
// those (a controller's replicas, a client's pods) is admitted without
// converting the pod and evaluating it again, with the metric the library
// records for such a decision: an allowing evaluation at the enforce
// level. Any other outcome (a refusal, a warning, an audit violation,
// an exemption, an error) is decided by the library every time.
type decisions struct {
	cache *lru.Cache // decisionKey (string) -> api.LevelVersion, the enforce level
}

// Bounds of the decision cache: the pods recently created, each key at
// most maxDecisionKeyBytes (a larger pod is evaluated and not kept), so
// the cache holds a few MiB at most.
const (
	cachedDecisions     = 256
	maxDecisionKeyBytes = 12 << 10
)

func newDecisions() *decisions { return &decisions{cache: lru.New(cachedDecisions)} }

// decisionKey is the key of the create of pod p, whose spec encodes to
// spec, in namespace ns; false when it is too large to keep.
func decisionKey(ns *v1.Namespace, p *v1.Pod, spec []byte) (string, bool) {
	n := len(ns.Name) + len(spec) + 8
	for k, v := range ns.Labels {
		n += len(k) + len(v) + 8
	}
	for k, v := range p.Annotations {
		n += len(k) + len(v) + 8
	}
	if n > maxDecisionKeyBytes {
		return "", false
	}
	b := make([]byte, 0, n+32)
	// Each string is written after its length, so no two different
	// inputs make one key.
	str := func(s string) {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	sorted := func(m map[string]string) {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = strconv.AppendInt(b, int64(len(keys)), 10)
		b = append(b, '{')
		for _, k := range keys {
			str(k)
			str(m[k])
		}
	}
	str(ns.Name)
	sorted(ns.Labels)
	sorted(p.Annotations)
	b = append(b, spec...)
	return string(b), true
}

// get returns the enforce level of the silent admission remembered for key.
func (d *decisions) get(key string) (api.LevelVersion, bool) {
	v, ok := d.cache.Get(key)
	if !ok {
		return api.LevelVersion{}, false
	}
	return v.(api.LevelVersion), true
}

// silent reports whether the library's response admits without a word:
// allowed, no warnings, and of the audit annotations only the enforce
// policy's (an exemption, an audit violation or an error adds its own).
func silent(resp *admissionv1.AdmissionResponse) bool {
	if resp == nil || !resp.Allowed || len(resp.Warnings) > 0 || len(resp.AuditAnnotations) != 1 {
		return false
	}
	_, ok := resp.AuditAnnotations[api.EnforcedPolicyAnnotationKey]
	return ok
}

// record counts a remembered silent admission as the library counts one.
func (a *Admission) recordSilent(enforce api.LevelVersion, attrs api.Attributes) {
	a.psa.Metrics.RecordEvaluation(metrics.DecisionAllow, enforce, metrics.ModeEnforce, attrs)
}
